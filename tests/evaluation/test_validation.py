"""Every detection checked before any metric; the dispatch from a dataset to metrics."""
import numpy as np
import pytest

from detect.datasets import DATASETS
from detect.datasets.dataset import Dataset
from detect.evaluation import METRICS, default_metrics, evaluate, validate_results
from detect.evaluation.dispatch import LAYOUT_METRICS


def _record(image_id, boxes, classes):
    n = len(boxes)
    return {"image_id": image_id, "file_name": "x", "height": 100, "width": 100,
            "boxes": np.array(boxes, np.float32).reshape(-1, 4),
            "classes": np.array(classes, np.int32), "difficult": np.zeros(n, bool),
            "crowd": np.zeros(n, bool)}


VOC = Dataset("voc_2007_test", ("__background__", "cat", "dog"),
              [_record("000005", [[0, 0, 10, 10]], [1]), _record("000007", [[5, 5, 20, 20]], [2])])
COCO = Dataset("coco_2017_val", ("__background__", "person", "car"),
               [_record(42, [[0, 0, 10, 10]], [1])], category_ids={1: 1, 2: 3})


def _det(image_id="000005", category_id=1, bbox=(0, 0, 10, 10), score=0.9):
    return {"image_id": image_id, "category_id": category_id, "bbox": list(bbox), "score": score}


def test_each_reason_counted_with_its_first_example():
    results = [_det(), _det(score=float("nan")), _det(image_id=5), _det(category_id=3),
               _det(bbox=(0, 0, -1, 4)), _det(bbox=(0, float("inf"), 1, 1)), None, [1, 2],
               _det(score=None), _det(score="0.9"), {"image_id": "000005"},
               _det(image_id="000009"), _det(image_id=[1]), _det(category_id=True),
               _det(bbox=(0, 0, 0, 4)), dict(_det(), segmentation="x"), _det(score=float("inf"))]
    valid, dropped = validate_results(VOC, results)
    assert [v["bbox"] for v in valid] == [[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 0.0, 4.0]]
    assert dropped.counts == {
        "score not a finite number": 4, "image_id of the wrong type": 1, "unknown category_id": 2,
        "negative bbox width or height": 1, "bbox not 4 finite numbers": 1,
        "not a JSON object": 2, "missing keys": 1, "unknown image_id": 1,
        "image_id not a string or an integer": 1, "segmentation not an RLE or polygons": 1}
    assert dropped.first["score not a finite number"][0] == 1
    assert dropped.first["not a JSON object"] == (6, "None")
    assert "names its images by strings (quoted) such as '00000" in \
        dropped.first["image_id of the wrong type"][1]
    summary = dropped.summary(len(results))
    assert summary.startswith(f"dropped {dropped.total} of {len(results)} detections: ")
    assert "4 score not a finite number (first: detection 1, score nan)" in summary


def test_coco_ids_are_integers_and_categories_are_the_datasets_own():
    results = [_det(42, 3), _det(42, 2), _det("42", 1), _det(42.0, 1)]
    valid, dropped = validate_results(COCO, results)
    assert [(v["image_id"], v["category_id"]) for v in valid] == [(42, 3)]
    assert dropped.counts == {"unknown category_id": 1, "image_id of the wrong type": 1,
                              "image_id not a string or an integer": 1}


def test_evaluate_reports_drops_and_refuses_empty_inputs():
    figures, report = evaluate(VOC, [_det(), _det("000007", 2, (5, 5, 15, 15)),
                                     _det(score=float("nan"))], ["voc07"])
    assert figures["voc07"]["mAP"] == pytest.approx(1.0)
    assert figures["dropped_detections"] == {"score not a finite number": 1}
    assert report.startswith("dropped 1 of 3 detections: 1 score not a finite number")
    assert "dropped_detections" not in evaluate(VOC, [_det()], ["voc07"])[0]
    with pytest.raises(ValueError, match="no valid detection to evaluate on voc_2007_test"):
        evaluate(VOC, [_det(image_id=5)], ["voc07"])
    with pytest.raises(ValueError, match="has no images to evaluate"):
        evaluate(Dataset("voc_2007_test", VOC.class_names, []), [], ["voc07"])
    no_gt = Dataset("voc_2007_test", VOC.class_names, [_record("000005", [], [])])
    with pytest.raises(ValueError, match="no ground-truth object"):
        evaluate(no_gt, [], ["voc07"])
    with pytest.raises(ValueError, match="mr needs a person class"):
        evaluate(VOC, [], ["mr"])
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(VOC, [], ["map"])


def test_names_resolve_through_one_table_with_their_metrics():
    assert {kind.layout for kind in DATASETS} == set(LAYOUT_METRICS)
    assert all(set(m) <= set(METRICS) for m in LAYOUT_METRICS.values())
    assert default_metrics("voc_2007_test") == ["voc07"]
    assert default_metrics("voc_2007_trainval+voc_2012_trainval") == ["voc07"]
    assert default_metrics("coco_2017_val") == ["coco"]
    assert default_metrics("toy_coco_test") == ["coco"]
    assert default_metrics("toy_test") == ["voc07"]
    assert default_metrics("citypersons_val") == ["mr", "voc07"]
    assert default_metrics("coco_2017_val_person") == ["mr", "coco"]
    assert default_metrics("voc_2007_test_person") == ["mr", "voc07"]
    with pytest.raises(ValueError, match="unknown dataset 'kitti_val'. Known patterns: voc_<year>"):
        default_metrics("kitti_val")
