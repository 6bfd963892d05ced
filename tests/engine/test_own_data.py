"""A user's own data end to end: train_net.py on sets given by path with
--eval-period (figures in the JSON log and TensorBoard, the best checkpoint
kept and equal to test_net.py's figure for it), test_net.py and the
Predictor giving the same detections, a test set with classes the training
set lacks refused before training, and the two data tools."""
import glob
import json
import os
import pathlib

import cv2
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import detect
from detect.datasets import dataset_label, get_dataset
from detect.datasets.toy import VOC_DIR, write_toy_dataset
from tests.datasets.trees import make_coco
from tests.engine.runs import ROOT, tool

TOY = os.path.join(ROOT, "experiments", "cfgs", "toy_quickstart.yml")
TINY = ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TEST.SCALES", "[64]", "TEST.MAX_SIZE", "96",
        "TRAIN.SNAPSHOT_ITERS", "100", "TRAIN.IMS_PER_BATCH", "1", "TEST.SCORE_THRESH", "0.0"]


@pytest.fixture(scope="module")
def toy_voc(tmp_path_factory):
    """The VOC root of a toy set of 4 training and 3 test images."""
    root = tmp_path_factory.mktemp("own")
    write_toy_dataset(str(root / "toy"), num_train=4, num_test=3, seed=4, workers=1)
    return str(root / "toy" / VOC_DIR)


@pytest.fixture(scope="module")
def trained(toy_voc):
    """(voc root, run folder) of 4 iterations of train_net.py with an
    evaluation every 2, the sets given by path from another folder."""
    voc = toy_voc
    root = pathlib.Path(voc[: -len(os.path.join("toy", VOC_DIR))])
    out = str(root / "run")
    cwd = os.getcwd()
    os.chdir(root / "toy")  # relative specs, resolved here and stored absolute
    try:
        code = tool("train_net").main(["--cfg", TOY, "--dataset", f"voc:{VOC_DIR}:train",
                                       "--test-dataset", f"voc:{VOC_DIR}:test", "--eval-period", "2",
                                       "--iters", "4", "--output", out, "--no-progress", "--set", *TINY])
    finally:
        os.chdir(cwd)
    assert code == 0
    return voc, out


@pytest.mark.slow
def test_eval_period_logs_figures_and_keeps_the_best(trained, capsys):
    voc, out = trained
    log = [json.loads(line) for line in open(os.path.join(out, "eval_log.jsonl"))]
    assert [e["iteration"] for e in log] == [2, 4]
    values = [e["main"]["value"] for e in log]
    assert all(e["main"]["name"] == "voc07/mAP" and 0 <= e["main"]["value"] <= 1 for e in log)
    assert values == [e["figures"]["voc07"]["mAP"] for e in log]
    best = json.load(open(os.path.join(out, "best", "best.json")))
    assert best["iteration"] == [2, 4][int(np.argmax(values))]  # ties: the first stays
    assert best["value"] == max(values)
    assert glob.glob(os.path.join(out, "best", f"ckpt-{best['iteration']}.index"))
    assert best["checkpoint"] == os.path.join(out, "best", f"ckpt-{best['iteration']}")
    # each evaluated model is a checkpoint too (SNAPSHOT_ITERS is 100): a killed run resumes from it
    assert os.path.exists(os.path.join(out, "checkpoints", "ckpt-2.index"))
    # the same figures in TensorBoard, beside the losses
    tags = {}
    for path in glob.glob(os.path.join(out, "tensorboard", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                tags.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
    assert tags["eval/voc07/mAP"] == pytest.approx({2: values[0], 4: values[1]})
    assert "loss/total" in tags
    # the config keeps the sets as absolute paths: test_net.py runs from anywhere
    cfg = open(os.path.join(out, "config.yml")).read()
    assert f"voc:{voc}:test" in cfg and f"voc:{voc}:train" in cfg
    # test_net.py on the kept checkpoint measures what the log says
    test_net = tool("test_net")
    assert test_net.main(["--output", out, "--checkpoint", os.path.join(out, "best"),
                          "--no-progress"]) == 0
    metrics = json.load(open(os.path.join(out, "metrics_voc_VOCtoy_test.json")))
    assert metrics["voc07"]["mAP"] == pytest.approx(best["value"], abs=1e-9)


@pytest.mark.slow
def test_predictor_gives_test_net_detections(trained):
    voc, out = trained
    assert tool("test_net").main(["--output", out, "--no-progress",
                                  "--results", os.path.join(out, "dets.json")]) == 0
    results = json.load(open(os.path.join(out, "dets.json")))
    predictor = detect.Predictor(out)
    test = get_dataset(f"voc:{voc}:test")
    compared = 0
    for record in test.records:
        rgb = np.asarray(Image.open(record["file_name"]).convert("RGB"))  # as docs/your_own_data.md
        got = predictor(rgb)
        want = [d for d in results if d["image_id"] == record["image_id"]]
        assert len(got["scores"]) == len(want) > 0
        np.testing.assert_allclose(got["scores"], [d["score"] for d in want], atol=1e-5)
        boxes = np.array([d["bbox"] for d in want])
        boxes[:, 2:] += boxes[:, :2]
        np.testing.assert_allclose(got["boxes"], boxes, atol=1e-3)
        assert got["class_names"] == [test.class_names[d["category_id"]] for d in want]
        compared += len(want)
    assert compared > 0
    # reval.py on the same file and the set by path: test_net.py's figure
    figures = os.path.join(out, "reval.json")
    assert tool("reval").main(["--dataset", f"voc:{voc}:test", "--results", os.path.join(out, "dets.json"),
                               "--json", figures]) == 0
    measured = json.load(open(os.path.join(out, "metrics_voc_VOCtoy_test.json")))["voc07"]["mAP"]
    assert json.load(open(figures))["voc07"]["mAP"] == pytest.approx(measured, abs=1e-12)


def test_converter_takes_a_set_by_path(toy_voc, tmp_path):
    from detect.cli import convert

    voc = toy_voc
    assert convert.main("VOC", False, ["--dataset", f"voc:{voc}:train", "--out", f"{tmp_path}/",
                                       "--shards", "1", "--workers", "1"]) == 0
    shard = tmp_path / "voc_VOCtoy_train-00000-of-00001.tfrecord"
    assert sum(1 for _ in tf.data.TFRecordDataset(str(shard))) == 4


@pytest.mark.slow
def test_a_failed_evaluation_saves_the_model_first(trained, tmp_path, monkeypatch, capsys):
    from detect.engine.periodic_eval import PeriodicEvaluator

    voc, _ = trained

    def fails(self, iteration):
        raise RuntimeError("disk full")

    monkeypatch.setattr(PeriodicEvaluator, "__call__", fails)
    out = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="disk full"):
        tool("train_net").main(["--cfg", TOY, "--dataset", f"voc:{voc}:train", "--test-dataset",
                                f"voc:{voc}:test", "--eval-period", "3", "--iters", "4", "--output", out,
                                "--no-progress", "--set", *TINY])
    assert os.path.exists(os.path.join(out, "checkpoints", "ckpt-3.index"))
    assert f"the evaluation at iteration 3 failed; the model is saved in {out}/checkpoints/ckpt-3" \
        in capsys.readouterr().out


def test_a_test_set_with_unknown_classes_is_refused_before_training(toy_voc, tmp_path, capsys):
    voc = toy_voc
    ann, images = make_coco(str(tmp_path), [(1, "a.jpg", 40, 40)],
                            [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [2, 2, 9, 9], "iscrowd": 0}],
                            [{"id": 5, "name": "hexagon"}])
    out = str(tmp_path / "run")
    code = tool("train_net").main(["--cfg", TOY, "--dataset", f"voc:{voc}:train", "--test-dataset",
                                   f"coco:{ann}:{images}", "--eval-period", "2", "--iters", "4",
                                   "--output", out, "--no-progress", "--set", *TINY])
    err = capsys.readouterr().err
    assert code == 2
    label = dataset_label(f"coco:{ann}:{images}")
    assert label == f"coco_{tmp_path.name}_instances"  # the file's folder names it
    assert f"the test set {label} ({ann}) has classes the training set voc_VOCtoy_train does " \
           "not: ['hexagon']" in err
    assert not os.path.exists(out)
    code = tool("train_net").main(["--cfg", TOY, "--dataset", f"voc:{voc}:train", "--eval-period", "2",
                                   "--output", out, "--set", "DATASETS.TEST", '""'])
    assert code == 2 and "DATASETS.TEST is empty: pass --test-dataset" in capsys.readouterr().err


def test_dataset_stats_counts_by_class_and_coco_size(tmp_path, capsys):
    images = [(1, "a.jpg", 200, 200), (2, "b.jpg", 200, 200), (3, "c.jpg", 200, 200), (4, "d.jpg", 200, 200)]
    anns = [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [0, 0, 20, 20], "iscrowd": 0, "area": 400},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [0, 0, 90, 90], "iscrowd": 0, "area": 8000},
            {"id": 3, "image_id": 2, "category_id": 2, "bbox": [0, 0, 150, 150], "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 1, "bbox": [0, 0, 50, 50], "iscrowd": 1},
            {"id": 5, "image_id": 2, "category_id": 1, "bbox": [10, 10, 5, 5], "iscrowd": 0,
             "segmentation": [[10, 10, 110, 10, 110, 110, 10, 110]]},  # no area: the polygon's
            {"id": 6, "image_id": 3, "category_id": 1, "bbox": [5, 5, -3, 4], "iscrowd": 0},
            {"id": 7, "image_id": 4, "category_id": 1, "bbox": [5, 5, 30, 30], "iscrowd": 0}]
    ann, img_dir = make_coco(str(tmp_path), images, anns, [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}])
    truncated = os.path.join(img_dir, "d.jpg")
    data = open(truncated, "rb").read()
    open(truncated, "wb").write(data[: len(data) // 2])  # as a copy cut short leaves it
    stats_json = str(tmp_path / "stats.json")
    assert tool("dataset_stats").main(["--dataset", f"coco:{ann}:{img_dir}", "--json", stats_json,
                                       "--no-progress"]) == 0
    printed = capsys.readouterr().out
    stats = json.load(open(stats_json))
    assert stats["images"] == 4 and stats["images_without_objects"] == 1
    assert stats["classes"]["car"] == {"objects": 3, "images": 2, "crowd": 0, "difficult": 0,
                                       "small": 1, "medium": 1, "large": 1}
    # the polygon's 100 x 100 (large), not its 5 x 5 box; 30 x 30 (small)
    assert stats["classes"]["person"] == {"objects": 2, "images": 2, "crowd": 1, "difficult": 0,
                                          "small": 1, "medium": 0, "large": 1}
    assert stats["total"]["images"] == 3  # images with an object, not the sum over classes (4)
    assert stats["skipped"] == {"zero-area box": 1, "unreadable image": 1}
    assert stats["first_example"]["unreadable image"].startswith(f"{truncated}: unreadable image: truncated")
    assert "instances.json (image 3)" in stats["first_example"]["zero-area box"]
    assert "images without objects" in printed and "read with problems" in printed
    # --no-image-check leaves the files alone
    assert tool("dataset_stats").main(["--dataset", f"coco:{ann}:{img_dir}", "--json", stats_json,
                                       "--no-progress", "--no-image-check"]) == 0
    assert json.load(open(stats_json))["skipped"] == {"zero-area box": 1}
    assert tool("dataset_stats").main(["--dataset", f"coco:{ann}:{tmp_path}/none"]) == 2
    assert "image folder" in capsys.readouterr().err
    # the drawing tool skips the same file, with the reason
    assert tool("visualize_data").main(["--dataset", f"coco:{ann}:{img_dir}", "--output",
                                        str(tmp_path / "viz"), "--no-progress"]) == 0
    assert f"skipped {truncated}: truncated" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "viz")) == ["a.jpg", "b.jpg", "c.jpg"]


def test_visualize_data_draws_annotations_and_the_pipeline(toy_voc, tmp_path, capsys):
    voc = toy_voc
    viz = tool("visualize_data")
    out = str(tmp_path / "ann")
    assert viz.main(["--dataset", f"voc:{voc}:train", "--output", out, "--num", "2", "--no-progress"]) == 0
    pictures = sorted(os.listdir(out))
    assert len(pictures) == 2
    record = get_dataset(f"voc:{voc}:train").records[0]
    drawn = cv2.imread(os.path.join(out, f"{record['image_id']}.jpg"))
    original = cv2.imread(record["file_name"])
    assert drawn.shape == original.shape
    x1, y1, x2, y2 = np.round(record["boxes"][0]).astype(int)
    edge = np.abs(drawn[y1:y2, x1].astype(int) - original[y1:y2, x1].astype(int)).mean()
    inside = np.abs(drawn[(y1 + y2) // 2 + 1, (x1 + x2) // 2 + 1].astype(int)
                    - original[(y1 + y2) // 2 + 1, (x1 + x2) // 2 + 1].astype(int)).max()
    assert edge > 20 and inside < 20  # the box's edge is drawn, its inside is the picture
    out = str(tmp_path / "pipe")
    assert viz.main(["--dataset", f"voc:{voc}:train", "--source", "pipeline", "--cfg", TOY, "--output",
                     out, "--num", "3", "--no-progress", "--set", *TINY]) == 0
    pictures = [cv2.imread(p) for p in glob.glob(os.path.join(out, "*.jpg"))]
    assert len(pictures) == 3 and all(min(p.shape[:2]) == 64 for p in pictures)  # TRAIN.SCALES [64]
    assert "3 pictures (pipeline)" in capsys.readouterr().out


def test_finetune_config_without_its_pretrained_model_is_a_message(toy_voc, tmp_path, capsys, monkeypatch):
    voc = toy_voc
    monkeypatch.chdir(tmp_path)  # no output/d2_mask_rcnn_3x here
    cfg = os.path.join(ROOT, "experiments", "cfgs", "finetune_mask_rcnn_r50_fpn.yml")
    toy = os.path.dirname(os.path.dirname(voc))
    coco = f"coco:{toy}/annotations/instances_toy_train.json:{voc}/JPEGImages"
    assert tool("train_net").main(["--cfg", cfg, "--dataset", coco, "--test-dataset", coco,
                                   "--output", "run"]) == 2
    assert "MODEL.WEIGHTS output/d2_mask_rcnn_3x does not exist: pass --weights with a run folder" \
        in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_evaluation(trained, tmp_path, capsys):
    """Killed between evaluations (here: iteration 3's checkpoint and log
    line removed, as a kill -9 before them leaves the run), --resume goes on
    from the evaluated checkpoint, with one log line per iteration and the
    best model of the whole run."""
    voc, _ = trained
    out = str(tmp_path / "run")
    args = ["--cfg", TOY, "--dataset", f"voc:{voc}:train", "--test-dataset", f"voc:{voc}:test",
            "--eval-period", "2", "--output", out, "--no-progress", "--set", *TINY]
    assert tool("train_net").main(args + ["--iters", "3"]) == 0
    for path in glob.glob(os.path.join(out, "checkpoints", "ckpt-3.*")):
        os.remove(path)
    log = os.path.join(out, "eval_log.jsonl")
    lines = open(log).read().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [2, 3]
    with open(log, "w") as f:
        f.write(lines[0] + "\n")
    best_before = json.load(open(os.path.join(out, "best", "best.json")))
    capsys.readouterr()
    assert tool("train_net").main(args + ["--iters", "4", "--resume"]) == 0
    assert "ckpt-2 (iteration 2)" in capsys.readouterr().out
    entries = [json.loads(x) for x in open(log)]
    assert [e["iteration"] for e in entries] == [2, 4]
    best = json.load(open(os.path.join(out, "best", "best.json")))
    first = entries[0]["main"]["value"]
    assert best_before["iteration"] in (2, 3)
    # the kept best is the best of every evaluation the run's best.json saw
    assert best["value"] == max(best_before["value"], entries[1]["main"]["value"]) >= first


@pytest.mark.slow
def test_demo_takes_the_best_checkpoint_and_says_why_nothing_is_drawn(trained, tmp_path, capsys):
    voc, out = trained
    image = get_dataset(f"voc:{voc}:test").records[0]["file_name"]
    demo = tool("demo")
    assert demo.main([image, "--output", out, "--checkpoint", os.path.join(out, "best"), "--thresh", "1",
                      "--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert f"{image}: 0 detections (the best score, 0." in printed and "is under --thresh 1.0" in printed
    assert demo.main([image, "--output", out, "--checkpoint", str(tmp_path / "ckpt-9")]) == 2
    assert "ckpt-9 does not exist" in capsys.readouterr().err


def test_set_given_twice_keeps_both():
    a = tool("train_net").parse_args(["--set", "TRAIN.SCALES", "[320]", "--set", "TRAIN.SNAPSHOT_ITERS", "50"])
    assert a.set == ["TRAIN.SCALES", "[320]", "TRAIN.SNAPSHOT_ITERS", "50"]


def test_a_first_evaluation_without_a_number_keeps_training(tmp_path, monkeypatch, capsys):
    """MR^-2 is NaN when no person of the test set is in the Reasonable
    range: no best model yet, said, and training goes on (no TypeError)."""
    from detect.engine import periodic_eval

    monkeypatch.setattr(periodic_eval, "iter_inference", lambda *a: iter([]))
    figures = {"mr": {"Reasonable": float("nan"), "All": float("nan")}}
    monkeypatch.setattr(periodic_eval, "evaluate", lambda ds, res, metrics: (figures, ""))
    class NoImages(list):
        name = "mine_person"

    evaluator = periodic_eval.PeriodicEvaluator(None, None, NoImages(), ["mr"], str(tmp_path), progress=False)
    entry = evaluator(10)
    assert "best" not in entry and evaluator.best is None
    assert "(no best yet: the figure is not a number)" in capsys.readouterr().out
    assert json.loads(open(tmp_path / "eval_log.jsonl").read())["main"]["value"] is None  # strict JSON
