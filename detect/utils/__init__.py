"""Host-side utilities (numpy): Cython box overlaps and NMS."""
