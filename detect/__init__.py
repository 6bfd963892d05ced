"""detect: two-stage object detection and instance segmentation for TF 2.

Importing the package is cheap; TensorFlow and the compiled ops are loaded
by ``detect.ops`` on first use.
"""
__version__ = "0.1.0"
