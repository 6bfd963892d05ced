"""tools/reval.py end to end on the toy set."""
import json
import os
import subprocess
import sys

import pytest

from detect.datasets import get_dataset
from detect.datasets.toy import write_toy_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_reval_prints_tables_and_fails_clearly(tmp_path):
    write_toy_dataset(str(tmp_path / "toy"), num_train=1, num_test=4, seed=1, workers=1)
    ds = get_dataset("toy_test", str(tmp_path))
    results = [{"image_id": r["image_id"], "category_id": int(c), "score": 1.0,
                "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
               for r in ds.records for b, c in zip(r["boxes"], r["classes"])]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(results))
    cmd = [sys.executable, os.path.join(ROOT, "tools", "reval.py"), "--dataset", "toy_test",
           "--data-dir", str(tmp_path), "--results", str(path)]
    out = subprocess.run(cmd + ["--metric", "voc07", "voc", "coco", "--json", str(tmp_path / "f.json")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "mAP          1.0000" in out.stdout and "COCO box AP per class" in out.stdout
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["voc"]["mAP"] == 1.0 and figures["coco"]["stats"]["AP"] > 0.99
    path.write_text('[{"image_id": 1}]')
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 2 and "missing keys (first: detection 0" in bad.stderr


def _perfect(ds):
    return [{"image_id": r["image_id"], "category_id": int(ds.category_ids[int(c)]
                                                           if ds.category_ids else c),
             "score": 0.9, "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]),
                                    float(b[3] - b[1])]}
            for r in ds.records for b, c in zip(r["boxes"], r["classes"])]


def _reval(tmp_path, dataset, results, *extra):
    path = tmp_path / "dets.json"
    path.write_text(results if isinstance(results, str) else json.dumps(results))
    cmd = [sys.executable, os.path.join(ROOT, "tools", "reval.py"), "--dataset", dataset,
           "--data-dir", str(tmp_path), "--results", str(path), "--json", str(tmp_path / "f.json")]
    out = subprocess.run(cmd + list(extra), capture_output=True, text=True)
    figures = json.loads((tmp_path / "f.json").read_text()) if out.returncode == 0 else None
    return out, figures


def test_bad_entries_are_dropped_counted_and_named(tmp_path):
    write_toy_dataset(str(tmp_path / "toy"), num_train=1, num_test=4, seed=1, workers=1)
    ds = get_dataset("toy_test", str(tmp_path))
    good = _perfect(ds)
    first = ds.records[0]["image_id"]
    bad = [{"image_id": first, "category_id": 1, "bbox": [0, 0, 5, 5], "score": float("nan")},
           {"image_id": first, "category_id": 7, "bbox": [0, 0, 5, 5], "score": 0.5},
           {"image_id": first, "category_id": 1, "bbox": [10, 10, -5, 5], "score": 0.5},
           {"image_id": first, "category_id": 1, "bbox": [float("nan"), 0, 5, 5], "score": 0.5},
           None,
           {"image_id": first, "category_id": 1, "bbox": [0, 0, 5, 5], "score": "0.9"},
           {"image_id": "no_such_image", "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]
    out, figures = _reval(tmp_path, ds.name, good + bad, "--metric", "voc07", "coco")
    assert out.returncode == 0, out.stderr
    n = len(good)
    assert f"dropped 7 of {n + 7} detections" in out.stdout
    for reason, index in [("score not a finite number", n), ("unknown category_id", n + 1),
                          ("negative bbox width or height", n + 2),
                          ("bbox not 4 finite numbers", n + 3), ("not a JSON object", n + 4),
                          ("unknown image_id", n + 6)]:
        assert f"{reason} (first: detection {index}," in out.stdout, reason
    assert figures["dropped_detections"]["score not a finite number"] == 2
    assert figures["voc07"]["mAP"] == pytest.approx(1.0) and figures["coco"]["stats"]["AP"] > 0.99


def test_integer_ids_on_a_voc_set_fail_loudly(tmp_path):
    write_toy_dataset(str(tmp_path / "toy"), num_train=1, num_test=2, seed=1, workers=1)
    ds = get_dataset("toy_test", str(tmp_path))
    results = [dict(d, image_id=i) for i, d in enumerate(_perfect(ds))]
    out, _ = _reval(tmp_path, ds.name, results)
    assert out.returncode == 2
    assert "no valid detection" in out.stderr and "image_id of the wrong type" in out.stderr
    assert "names its images by strings (quoted) such as 'test_" in out.stderr


def test_unknown_image_on_a_coco_set_is_dropped_not_an_assertion(tmp_path):
    write_toy_dataset(str(tmp_path / "toy"), num_train=1, num_test=3, seed=1, workers=1)
    ds = get_dataset("toy_coco_test", str(tmp_path))
    stray = {"image_id": 999, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}
    out, figures = _reval(tmp_path, ds.name, _perfect(ds) + [stray])
    assert out.returncode == 0, out.stderr
    assert "1 unknown image_id (first: detection" in out.stdout
    assert figures["coco"]["stats"]["AP"] > 0.99


def test_nothing_valid_or_nothing_at_all_is_an_error(tmp_path):
    write_toy_dataset(str(tmp_path / "toy"), num_train=1, num_test=2, seed=1, workers=1)
    out, _ = _reval(tmp_path, "toy_test", "[null]")
    assert out.returncode == 2 and "no valid detection" in out.stderr
    assert "1 not a JSON object (first: detection 0" in out.stderr
    out, _ = _reval(tmp_path, "toy_test", '[{"image_id": "test_000000", "category_id": 1, '
                    '"bbox": [0, 0, 5, 5], "score": [null]}]')
    assert out.returncode == 2 and "score not a finite number" in out.stderr
    out, _ = _reval(tmp_path, "toy_test", "[]")
    assert out.returncode == 2 and "holds no detections" in out.stderr


def test_citypersons_own_file_without_images(tmp_path):
    from tests.datasets.trees import write_official_citypersons

    annotations = tmp_path / "citypersons" / "annotations"
    write_official_citypersons(str(annotations / "citypersons_val.json"))
    results = [{"image_id": 1, "category_id": 1, "bbox": [10, 4, 20, 55], "score": 0.9},
               {"image_id": 1, "category_id": 1, "bbox": [40, 4, 20, 55], "score": 0.8},  # rider
               {"image_id": 2, "category_id": 1, "bbox": [80, 0, 30, 60], "score": 0.7}]  # rider
    out, figures = _reval(tmp_path, "citypersons_val", results, "--metric", "mr", "voc07", "coco")
    assert out.returncode == 0, out.stderr
    assert "citypersons_val: 2 images" in out.stdout
    # the pedestrian found, the riders are ignore regions: nothing missed, no false positive
    assert figures["mr"]["Reasonable"] < 1e-9 and figures["mr"]["All"] < 1e-9
    assert figures["voc07"]["AP"] == {"person": pytest.approx(1.0)}
    assert figures["coco"]["AP"]["person"] > 0.99
    # a file with ignore regions only: no number, an error
    only_ignore = [{"id": 1, "image_id": 1, "category_id": 0, "bbox": [0, 0, 9, 60],
                    "height": 60, "vis_ratio": 1.0, "ignore": 1}]
    write_official_citypersons(str(annotations / "citypersons_test.json"), only_ignore)
    out, _ = _reval(tmp_path, "citypersons_test", results, "--metric", "mr")
    assert out.returncode == 2 and "no ground-truth 'person'" in out.stderr


def test_reval_starts_without_tensorflow():
    """Scoring a results file needs no TensorFlow: importing it costs
    seconds a call (tools/reval.py --image-list imports it when asked)."""
    import subprocess
    import sys
    code = "import sys, detect.cli.reval; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
