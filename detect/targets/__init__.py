"""Training targets for the RPN and the RoI heads, in-graph TensorFlow."""
