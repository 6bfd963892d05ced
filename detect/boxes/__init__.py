"""Box arithmetic and anchors, in-graph TensorFlow."""
