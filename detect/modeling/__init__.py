"""Backbones, RPN, heads and detectors (in-graph TensorFlow)."""
