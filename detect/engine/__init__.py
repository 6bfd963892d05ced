"""Training loop, solver and inference."""
