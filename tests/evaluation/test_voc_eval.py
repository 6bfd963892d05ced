"""VOC AP on hand-computed cases (VOC07 11-point and VOC2010+ area)."""
import numpy as np
import pytest

from detect.datasets.dataset import Dataset
from detect.evaluation import evaluate_voc, voc_ap


def _record(image_id, boxes, classes, difficult):
    n = len(boxes)
    return {"image_id": image_id, "file_name": f"{image_id}.jpg", "height": 100, "width": 100,
            "boxes": np.array(boxes, np.float32).reshape(-1, 4),
            "classes": np.array(classes, np.int32), "difficult": np.array(difficult, bool),
            "crowd": np.zeros(n, bool)}


def _det(image_id, box, score, cat=1):
    x1, y1, x2, y2 = box
    return {"image_id": image_id, "category_id": cat, "bbox": [x1, y1, x2 - x1, y2 - y1],
            "score": score}


def test_voc_ap_curves():
    assert voc_ap([1.0], [1.0], True) == pytest.approx(1.0)
    assert voc_ap([1.0], [1.0], False) == pytest.approx(1.0)
    # half the objects found at precision 1, nothing after
    assert voc_ap([0.5], [1.0], True) == pytest.approx(6 / 11)
    assert voc_ap([0.5], [1.0], False) == pytest.approx(0.5)
    assert voc_ap([], [], True) == 0.0


def test_hand_computed_dataset():
    ds = Dataset("hand", ("__background__", "dog", "cat"), [
        _record("A", [[0, 0, 10, 10], [20, 20, 30, 30]], [1, 1], [False, True]),
        _record("B", [[0, 0, 10, 10], [40, 40, 60, 60]], [1, 2], [False, False]),
    ])
    results = [
        _det("A", [0, 0, 10, 10], 0.9),     # true positive
        _det("A", [0, 0, 10, 10], 0.8),     # duplicate: false positive
        _det("A", [20, 20, 30, 30], 0.7),   # on a difficult object: ignored
        _det("B", [50, 50, 60, 60], 0.6),   # false positive
        _det("B", [1, 0, 10, 10], 0.5),     # IoU 0.9: true positive
        _det("B", [40, 40, 60, 60], 0.4, cat=2),
    ]
    # recall .5 .5 .5 1 at precision 1 .5 1/3 .5
    out07 = evaluate_voc(ds, results, use_07_metric=True)
    assert out07["AP"]["dog"] == pytest.approx((6 * 1.0 + 5 * 0.5) / 11)
    out = evaluate_voc(ds, results, use_07_metric=False)
    assert out["AP"]["dog"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    assert out["AP"]["cat"] == pytest.approx(1.0)
    assert out["mAP"] == pytest.approx((0.75 + 1.0) / 2)


def test_iou_threshold_is_strict():
    ds = Dataset("t", ("__background__", "dog"), [_record("A", [[0, 0, 10, 10]], [1], [False])])
    # IoU exactly 0.5 is not enough: [0, 0, 10, 5] covers half the box
    assert evaluate_voc(ds, [_det("A", [0, 0, 10, 5], 1.0)])["mAP"] == 0.0
    assert evaluate_voc(ds, [_det("A", [0, 0, 10, 5.1], 1.0)])["mAP"] == pytest.approx(1.0)
