"""Cython bbox_overlaps and nms against plain NumPy definitions."""
import numpy as np
import pytest

from detect.utils.cython_bbox import bbox_overlaps
from detect.utils.cython_nms import nms


def _random_boxes(rng, n, size=100.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 3, (n, 2))
    return np.hstack([xy, xy + wh])


def _iou_numpy(a, b, offset):
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + offset
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + offset
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area = lambda x: (x[:, 2] - x[:, 0] + offset) * (x[:, 3] - x[:, 1] + offset)
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def _nms_numpy(boxes, scores, thresh, offset):
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        iou = _iou_numpy(boxes[i:i + 1], boxes[order[1:]], offset)[0]
        order = order[1:][iou <= thresh]
    return np.array(keep, np.int64)


@pytest.mark.parametrize("offset", [0.0, 1.0])
def test_bbox_overlaps_matches_numpy(offset):
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 40), _random_boxes(rng, 25)
    np.testing.assert_allclose(bbox_overlaps(a, b, offset), _iou_numpy(a, b, offset), rtol=1e-12)


def test_bbox_overlaps_hand_case_and_empty():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(bbox_overlaps(a, b), [[50 / 150, 0.0]])
    # VOC inclusive pixels: 11x11 boxes sharing a 6x11 strip
    np.testing.assert_allclose(bbox_overlaps(a, b, 1.0), [[66 / (121 + 121 - 66), 0.0]])
    assert bbox_overlaps(np.zeros((0, 4)), b).shape == (0, 2)
    with pytest.raises(ValueError, match=r"boxes must have shape \[N, 4\]"):
        bbox_overlaps(np.zeros((3, 5)), b)


@pytest.mark.parametrize("offset", [0.0, 1.0])
@pytest.mark.parametrize("thresh", [0.3, 0.7])
def test_nms_matches_numpy(offset, thresh):
    rng = np.random.default_rng(1)
    boxes = _random_boxes(rng, 300)
    scores = rng.random(300)
    np.testing.assert_array_equal(nms(boxes, scores, thresh, offset),
                                  _nms_numpy(boxes, scores, thresh, offset))


def test_nms_hand_case_and_bad_input():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float64)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]
    assert nms(boxes, np.array([0.1, 0.8, 0.7]), 0.5).tolist() == [1, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    with pytest.raises(ValueError, match="scores must have shape"):
        nms(boxes, np.ones(2), 0.5)
    with pytest.raises(ValueError, match="finite"):
        nms(boxes, np.array([0.1, np.nan, 0.2]), 0.5)
