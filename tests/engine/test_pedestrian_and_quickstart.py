"""Person-only training with the pedestrian config (MR^-2 and AP from
test_net.py), and the quick-start chain, end to end on tiny settings."""
import json
import os
import subprocess
import sys

import pytest

from tests.datasets.trees import make_voc

pytestmark = pytest.mark.slow  # toy runs of the pedestrian config and the quick start chain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The tiny backbone (random initialization: MODEL.WEIGHTS "", not the config's imagenet).
SMALL = ["MODEL.BACKBONE", "tiny", "MODEL.WEIGHTS", "", "MODEL.POOLER", "roi_align",
         "MODEL.PIXEL_NORMALIZATION", "torch",
         "MODEL.FEATURE_STRIDE", "8", "ANCHOR.SCALES", "[1, 2, 4]", "RPN.MIN_SIZE", "4",
         "TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TEST.SCALES", "[64]", "TEST.MAX_SIZE", "96",
         "TRAIN.WARMUP_ITERS", "1", "TRAIN.SNAPSHOT_ITERS", "2"]


def _run(tool, *args):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", tool), *args],
                         capture_output=True, text=True)
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
    return out.stdout


def test_pedestrian_config_trains_on_persons_and_reports_mr_and_ap(tmp_path):
    people = [("person", 10, 8, 40, 70, 0), ("dog", 50, 40, 90, 70, 0)]
    images = {f"{i:06d}": (96, 112, people if i % 3 else [("person", 60, 10, 100, 90, 0)])
              for i in range(6)}
    make_voc(str(tmp_path), "2007", images, {"trainval": list(images)[:4], "test": list(images)[4:]})
    out = str(tmp_path / "run")
    cfg = os.path.join(ROOT, "experiments", "cfgs", "pedestrian_voc_vgg16.yml")
    _run("train_net.py", "--cfg", cfg, "--dataset", "voc_2007_trainval_person", "--data-dir",
         str(tmp_path), "--output", out, "--iters", "2", "--no-progress", "--set", *SMALL)
    assert json.load(open(os.path.join(out, "classes.json"))) == ["__background__", "person"]
    # the test set comes from the config (DATASETS.TEST: voc_2007_test_person)
    stdout = _run("test_net.py", "--output", out, "--data-dir", str(tmp_path), "--no-progress")
    assert "voc_2007_test_person: 2 images" in stdout
    assert "log-average miss rate MR^-2" in stdout and "VOC07 11-point AP" in stdout
    figures = json.load(open(os.path.join(out, "metrics_voc_2007_test_person.json")))
    assert set(figures) == {"mr", "voc07", "seconds_per_image"}
    # the figures are those of the written detections on the person-only
    # test set, evaluated here again from the files (ids, classes, scores)
    from detect.datasets import get_dataset
    from detect.evaluation.miss_rate import evaluate_miss_rate
    from detect.evaluation.voc_eval import evaluate_voc

    ds = get_dataset("voc_2007_test_person", str(tmp_path))
    results = json.load(open(os.path.join(out, "detections_voc_2007_test_person.json")))
    assert results and {r["category_id"] for r in results} == {1}
    mr = evaluate_miss_rate(ds, results)  # NaN (a setup without people) is null in the JSON
    assert figures["mr"] == pytest.approx({k: None if v != v else v for k, v in mr.items()}, abs=1e-12)
    assert figures["mr"]["Reasonable"] is not None
    assert figures["voc07"]["mAP"] == pytest.approx(evaluate_voc(ds, results)["mAP"], abs=1e-12)


def test_quickstart_chain_and_rerun(tmp_path):
    out, data = str(tmp_path / "qs"), str(tmp_path / "data")
    args = ["--output", out, "--data-dir", data, "--no-progress", "--train-images", "8",
            "--set", *SMALL, "TRAIN.MAX_ITERS", "2", "TRAIN.IMS_PER_BATCH", "1"]
    stdout = _run("quickstart.py", *args)
    for figure in ("toy VOC07 box mAP:", "toy COCO box AP:", "toy COCO mask AP:", "wall time:",
                   "oneDNN CPU kernels"):
        assert figure in stdout, figure
    # the time to expect on this CPU comes first
    first = stdout.splitlines()[0]
    assert "expect about" in first or "no figure measured" in first, first
    metrics = json.load(open(os.path.join(out, "metrics_toy_coco_test.json")))
    assert set(metrics) >= {"voc07", "coco", "coco_segm"}
    detections = json.load(open(os.path.join(out, "demo", "detections.json")))
    assert all(len(d["masks"]) == len(d["boxes"]) for d in detections.values())
    assert not os.path.exists(os.path.join(data, "toy", "VOCdevkit", "VOCtoy", "JPEGImages",
                                            "train_000008.jpg"))
    assert os.path.exists(os.path.join(out, "demo", "test_000000_det.jpg"))
    assert os.path.exists(os.path.join(data, "toy", "VOCdevkit", "VOCtoy", "JPEGImages", "train_000007.jpg"))
    # run again: the dataset is kept and training resumes at its end
    again = _run("quickstart.py", *args)
    assert "toy dataset already in" in again and "resumed from" in again
    assert "nothing to train: the run is at iteration 2" in again and "this run resumed" in again
