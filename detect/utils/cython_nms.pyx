# cython: boundscheck=False, wraparound=False, cdivision=True
"""Greedy non-maximum suppression on numpy arrays (py-faster-rcnn's cpu_nms).

Boxes are [x1, y1, x2, y2]; ``pixel_offset`` as in cython_bbox (0:
continuous coordinates, as torchvision.ops.nms; 1: inclusive pixels, as
py-faster-rcnn).
"""
import numpy as np

cimport numpy as cnp

cnp.import_array()


def nms(boxes, scores, double iou_threshold, double pixel_offset=0.0):
    """Keeps the highest-scoring boxes, dropping any box whose IoU with a
    kept, higher-scoring box exceeds ``iou_threshold``.

    Args:
      boxes: [N, 4] float array, [x1, y1, x2, y2].
      scores: [N] float array.
      iou_threshold: a box is suppressed when IoU > this value.
      pixel_offset: 0 for continuous coordinates, 1 for inclusive pixels.

    Returns:
      int64 array of kept indices into ``boxes``, by decreasing score (ties
      keep the lower index first).
    """
    boxes_arr = np.ascontiguousarray(boxes, dtype=np.float64)
    s = np.ascontiguousarray(scores, dtype=np.float64)
    if boxes_arr.ndim != 2 or boxes_arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape [N, 4] (x1, y1, x2, y2), got {boxes_arr.shape}")
    if s.ndim != 1 or s.shape[0] != boxes_arr.shape[0]:
        raise ValueError(f"scores must have shape [{boxes_arr.shape[0]}], got {s.shape}")
    if not (np.all(np.isfinite(boxes_arr)) and np.all(np.isfinite(s))):
        raise ValueError("boxes and scores must be finite")
    cdef double[:, ::1] b = boxes_arr
    cdef Py_ssize_t n = b.shape[0]
    cdef cnp.int64_t[::1] order = np.argsort(-s, kind="stable").astype(np.int64)
    keep = np.empty(n, dtype=np.int64)
    cdef cnp.int64_t[::1] kept = keep
    cdef cnp.uint8_t[::1] suppressed = np.zeros(n, dtype=np.uint8)
    areas_arr = (boxes_arr[:, 2] - boxes_arr[:, 0] + pixel_offset) * \
                (boxes_arr[:, 3] - boxes_arr[:, 1] + pixel_offset)
    cdef double[::1] areas = np.ascontiguousarray(areas_arr)
    cdef Py_ssize_t a, c, i, j, count = 0
    cdef double ix1, iy1, ix2, iy2, iarea, w, h, inter, union
    with nogil:
        for a in range(n):
            i = order[a]
            if suppressed[i]:
                continue
            kept[count] = i
            count += 1
            ix1 = b[i, 0]
            iy1 = b[i, 1]
            ix2 = b[i, 2]
            iy2 = b[i, 3]
            iarea = areas[i]
            for c in range(a + 1, n):
                j = order[c]
                if suppressed[j]:
                    continue
                w = min(ix2, b[j, 2]) - max(ix1, b[j, 0]) + pixel_offset
                if w <= 0:
                    continue
                h = min(iy2, b[j, 3]) - max(iy1, b[j, 1]) + pixel_offset
                if h <= 0:
                    continue
                inter = w * h
                union = iarea + areas[j] - inter
                if union > 0 and inter / union > iou_threshold:
                    suppressed[j] = 1
    return keep[:count].copy()
