"""tools/test_net.py on bad input: unreadable images, a folder as --results,
a bad --checkpoint, a run stopped mid-way (nothing done is lost)."""
import json
import os
import shutil

import numpy as np
import pytest

from detect.datasets.toy import write_toy_dataset
from tests.engine.runs import make_run, tool

JPEGS = os.path.join("toy", "VOCdevkit", "VOCtoy", "JPEGImages")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("test_net")
    write_toy_dataset(str(root / "data" / "toy"), num_train=1, num_test=4, seed=3, workers=1)
    make_run(str(root / "run"))
    return str(root / "data"), str(root / "run"), tool("test_net")


def _main(test_net, data, run, *extra):
    return test_net.main(["--output", run, "--dataset", "toy_test", "--data-dir", data, "--no-progress",
                          *extra])


def test_unreadable_images_are_skipped_and_the_rest_evaluated(setup, tmp_path, capsys, caplog):
    data, run, test_net = setup
    bad = str(tmp_path / "data")
    shutil.copytree(data, bad)
    open(os.path.join(bad, JPEGS, "test_000001.jpg"), "wb").close()  # zero bytes
    with open(os.path.join(bad, JPEGS, "test_000002.jpg"), "w") as f:
        f.write("<html>not an image</html>")
    results = str(tmp_path / "dets.json")
    assert _main(test_net, bad, run, "--results", results) == 0
    err = capsys.readouterr().err
    assert "2 of 4 images could not be read and were skipped" in err
    assert any("test_000001.jpg: unreadable image: empty file" in r.message for r in caplog.records)
    assert any("test_000002.jpg: unreadable image: not an image" in r.message for r in caplog.records)
    ids = {d["image_id"] for d in json.load(open(results))}
    assert ids and ids <= {"test_000000", "test_000003"}


def test_results_folder_is_refused_before_any_work(setup, tmp_path, capsys, monkeypatch):
    data, run, test_net = setup
    monkeypatch.setattr(test_net, "load_model", lambda *a: pytest.fail("loaded the model first"))
    assert _main(test_net, data, run, "--results", str(tmp_path)) == 2
    assert "is a folder; name a file" in capsys.readouterr().err
    assert _main(test_net, data, run, "--results", str(tmp_path / "no" / "d.json")) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bad_checkpoint_is_a_message(setup, tmp_path, capsys):
    data, run, test_net = setup
    assert _main(test_net, data, run, "--checkpoint", str(tmp_path / "ckpt-9")) == 2
    assert "ckpt-9 does not exist: a checkpoint is a prefix" in capsys.readouterr().err


@pytest.mark.parametrize("stop,code", [(KeyboardInterrupt, 130), (RuntimeError("disk on fire"), 1)])
def test_a_run_stopped_midway_writes_what_it_has(setup, tmp_path, capsys, monkeypatch, stop, code):
    data, run, test_net = setup
    real = test_net.iter_inference

    def two_then_stop(*args):
        for i, item in enumerate(real(*args)):
            if i == 2:
                raise stop
            yield item

    monkeypatch.setattr(test_net, "iter_inference", two_then_stop)
    results = str(tmp_path / "dets.json")
    assert _main(test_net, data, run, "--results", results) == code
    err = capsys.readouterr().err
    assert "inference stopped after 2 of 4 images" in err and "dets.partial.json" in err
    assert ("interrupted" if code == 130 else "RuntimeError: disk on fire") in err
    assert not os.path.exists(results)
    partial = json.load(open(tmp_path / "dets.partial.json"))
    assert {d["image_id"] for d in partial} <= {"test_000000", "test_000001"} and partial


@pytest.mark.slow
def test_mask_model_writes_rle_masks_and_reports_mask_ap(setup, tmp_path, capsys):
    from pycocotools import mask as mask_utils

    data, _, test_net = setup
    run = str(tmp_path / "mask_run")
    make_run(run, ["TEST.SCORE_THRESH", "0.0"], config="toy_mask_rcnn.yml")
    assert test_net.main(["--output", run, "--dataset", "toy_coco_test", "--data-dir", data,
                          "--no-progress"]) == 0
    assert "COCO mask AP per class" in capsys.readouterr().out
    results = json.load(open(os.path.join(run, "detections_toy_coco_test.json")))
    assert results and all("segmentation" in r for r in results)
    for r in results:  # RLEs of the original image's size, each non-empty and inside its box
        m = mask_utils.decode(dict(r["segmentation"], counts=r["segmentation"]["counts"].encode()))
        x, y, w, h = r["bbox"]
        ys, xs = np.nonzero(m)
        assert len(xs), r  # the random model's masks are all non-empty: an empty one is a paste bug
        assert xs.min() >= x - 1 and xs.max() <= x + w + 1 and ys.min() >= y - 1 and ys.max() <= y + h + 1
    # the figures equal pycocotools' own evaluation of the written results
    # against the toy set's annotation file (ids, categories, RLEs round trip)
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    figures = json.load(open(os.path.join(run, "metrics_toy_coco_test.json")))
    gt = COCO(os.path.join(data, "toy", "annotations", "instances_toy_test.json"))
    for iou_type, name in (("bbox", "coco"), ("segm", "coco_segm")):
        ev = COCOeval(gt, gt.loadRes(results), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        assert figures[name]["stats"]["AP"] == pytest.approx(ev.stats[0], abs=1e-12)
        assert figures[name]["stats"]["AR100"] == pytest.approx(ev.stats[8], abs=1e-12)
    assert figures["coco_segm"]["stats"]["AR100"] > 0  # some mask overlaps an object


@pytest.mark.slow
def test_mask_model_on_images_without_detections(setup, tmp_path):
    data, _, test_net = setup
    run = str(tmp_path / "mask_run")
    make_run(run, ["TEST.SCORE_THRESH", "1.0"], config="toy_mask_rcnn.yml")  # nothing scores above 1
    assert test_net.main(["--output", run, "--dataset", "toy_coco_test", "--data-dir", data,
                          "--no-progress"]) == 0
    assert json.load(open(os.path.join(run, "detections_toy_coco_test.json"))) == []
