# cython: boundscheck=False, wraparound=False, cdivision=True
"""Pairwise box overlaps on numpy arrays (py-faster-rcnn's bbox_overlaps).

Boxes are [x1, y1, x2, y2]. With ``pixel_offset=0`` (the default) they are
continuous coordinates and a box's width is ``x2 - x1``; with
``pixel_offset=1`` they are inclusive pixel indices as in the PASCAL devkit
and py-faster-rcnn, and the width is ``x2 - x1 + 1``.
"""
import numpy as np

cimport numpy as cnp

cnp.import_array()


def bbox_overlaps(boxes, query_boxes, double pixel_offset=0.0):
    """IoU of every box with every query box.

    Args:
      boxes: [N, 4] float array, [x1, y1, x2, y2].
      query_boxes: [K, 4] float array, same convention.
      pixel_offset: 0 for continuous coordinates, 1 for inclusive pixels.

    Returns:
      [N, K] float64 array of IoUs; 0 where the union is empty.
    """
    cdef double[:, ::1] b = _as_boxes(boxes, "boxes")
    cdef double[:, ::1] q = _as_boxes(query_boxes, "query_boxes")
    cdef Py_ssize_t n = b.shape[0], k = q.shape[0], i, j
    out = np.zeros((n, k), dtype=np.float64)
    cdef double[:, ::1] o = out
    cdef double iw, ih, inter, area_q, area_b, union
    with nogil:
        for j in range(k):
            area_q = (q[j, 2] - q[j, 0] + pixel_offset) * (q[j, 3] - q[j, 1] + pixel_offset)
            for i in range(n):
                iw = min(b[i, 2], q[j, 2]) - max(b[i, 0], q[j, 0]) + pixel_offset
                if iw <= 0:
                    continue
                ih = min(b[i, 3], q[j, 3]) - max(b[i, 1], q[j, 1]) + pixel_offset
                if ih <= 0:
                    continue
                area_b = (b[i, 2] - b[i, 0] + pixel_offset) * (b[i, 3] - b[i, 1] + pixel_offset)
                inter = iw * ih
                union = area_b + area_q - inter
                if union > 0:
                    o[i, j] = inter / union
    return out


def _as_boxes(a, name):
    arr = np.ascontiguousarray(a, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape [N, 4] (x1, y1, x2, y2), got {arr.shape}")
    return arr
