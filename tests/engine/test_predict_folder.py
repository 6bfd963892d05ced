"""tools/predict.py over a folder: COCO results keyed by a written image
list, broken files skipped and listed, an interrupted run resumed without
duplicates and with the results of an uninterrupted one, and the results
evaluated by tools/reval.py once annotations exist."""
import json
import os
import signal

import numpy as np
import cv2
import pytest

from detect.media.jsonl import read_lines
from detect.predictor import Predictor
from tests.datasets.trees import write_jpeg
from tests.engine.runs import make_run, tool
from tests.media.videos import toy_frame


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    make_run(str(root / "run"), ["TEST.SCORE_THRESH", "0.0"], config="toy_mask_rcnn.yml")
    photos = root / "photos"
    for i in range(6):
        os.makedirs(photos / "day2", exist_ok=True)
        cv2.imwrite(str(photos / ("day2" if i >= 4 else "") / f"img{i}.jpg"), toy_frame(3 * i))
    cv2.imwrite(str(photos / "big.png"), np.zeros((120, 100, 3), np.uint8))
    write_jpeg(str(photos / "broken.jpg"), 48, 64)
    data = (photos / "broken.jpg").read_bytes()
    (photos / "broken.jpg").write_bytes(data[:-10])  # truncated
    return str(root / "run"), str(photos), tool("predict")


def outputs(out):
    images = json.load(open(os.path.join(out, "images.json")))
    results = json.load(open(os.path.join(out, "results.json")))
    lines = read_lines(os.path.join(out, "detections.jsonl"))[0]
    return images, results, lines


def predict_all(predict, run, photos, out, *options):
    """predict.py on photos and its subfolders: (images.json, results, lines)."""
    assert predict.main(["--output", run, photos, "--recursive", "--out-dir", out, *options]) == 0
    return outputs(out)


def test_a_folder_gives_coco_results_and_lists_what_it_skipped(setup, tmp_path, capsys):
    run, photos, predict = setup
    out = str(tmp_path / "out")
    images, results, lines = predict_all(predict, run, photos, out, "--thresh", "0.2",
                                         "--max-pixels", "10000")
    names = [im["file_name"] for im in images["images"]]
    assert names == ["big.png", "broken.jpg", "day2/img4.jpg", "day2/img5.jpg"] + \
        [f"img{i}.jpg" for i in range(4)]
    assert [im["id"] for im in images["images"]] == list(range(1, 9))
    assert images["categories"] == [{"id": 1, "name": "circle"}, {"id": 2, "name": "rectangle"},
                                    {"id": 3, "name": "triangle"}]
    assert sorted(x["image_id"] for x in lines) == list(range(1, 9))
    skipped = open(os.path.join(out, "skipped.txt")).read().splitlines()
    assert [line.split("\t")[0] for line in skipped] == ["big.png", "broken.jpg"]
    assert skipped[0].endswith("too large: 100x120 = 12000 pixels, more than the cap of 10000")
    assert skipped[1].split("\t")[1].startswith("truncated image data")
    assert "2 skipped (listed in" in capsys.readouterr().out
    # the results are the Predictor's detections of each image, COCO style
    predictor = Predictor(run)
    by_image = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(r)
    for im in images["images"][2:]:
        rgb = cv2.imread(im["path"])[..., ::-1]
        want = predictor(np.ascontiguousarray(rgb))
        keep = want["scores"] >= 0.2
        got = by_image.get(im["id"], [])
        assert [r["category_id"] for r in got] == want["classes"][keep].tolist()
        np.testing.assert_allclose([r["score"] for r in got], want["scores"][keep], atol=1e-5)
        b = want["boxes"][keep]
        np.testing.assert_allclose([r["bbox"] for r in got],
                                   np.c_[b[:, :2], b[:, 2:] - b[:, :2]].reshape(-1, 4), atol=0.011)
        assert all("segmentation" in r for r in got)
    assert len(results) > 10


@pytest.mark.slow
def test_an_interrupted_run_resumes_without_duplicates(setup, tmp_path, monkeypatch, capsys):
    run, photos, predict = setup
    whole = str(tmp_path / "whole")
    args = ["--output", run, photos, "--recursive", "--thresh", "0.3", "--batch-size", "2"]
    assert predict.main(args + ["--out-dir", whole]) == 0
    out = str(tmp_path / "out")
    real, calls = Predictor.__call__, []

    def interrupted(self, images, batch_size=1):
        calls.append(1)
        if len(calls) == 3:  # big.png; img4 and img5; img0 and img1, then stopped
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, images, batch_size)

    monkeypatch.setattr(Predictor, "__call__", interrupted)
    assert predict.main(args + ["--out-dir", out]) == 130
    assert "stopped by SIGINT" in capsys.readouterr().err
    images, results, lines = outputs(out)  # written whole, of the images done
    assert len(lines) == 6 and {r["image_id"] for r in results} <= {x["image_id"] for x in lines}
    monkeypatch.setattr(Predictor, "__call__", real)
    with open(os.path.join(out, "detections.jsonl"), "a") as f:
        f.write('{"image_id": 4, "file_na')  # and a line torn by a kill
    assert predict.main(args + ["--out-dir", out]) == 0
    assert "resuming" in capsys.readouterr().out
    images, results, lines = outputs(out)
    ids = [x["image_id"] for x in lines if "skipped" not in x]
    assert sorted(ids) == [1] + list(range(3, 9))  # each image once
    assert {x["image_id"] for x in lines if "skipped" in x} == {2}  # broken.jpg, tried again
    w_images, w_results, _ = outputs(whole)
    assert images == w_images
    key = lambda r: (r["image_id"], -r["score"])  # noqa: E731
    got, want = sorted(results, key=key), sorted(w_results, key=key)
    assert [(r["image_id"], r["category_id"]) for r in got] == [(r["image_id"], r["category_id"]) for r in want]
    np.testing.assert_allclose([r["bbox"] for r in got], [r["bbox"] for r in want], atol=1e-6)


@pytest.mark.slow
def test_new_files_get_new_ids_and_other_settings_are_refused(setup, tmp_path, capsys):
    run, photos, predict = setup
    out = str(tmp_path / "out")
    assert predict.main(["--output", run, photos, "--out-dir", out]) == 0
    first = outputs(out)[0]["images"]
    assert predict.main(["--output", run, photos, "--recursive", "--out-dir", out]) == 0
    images = outputs(out)[0]["images"]
    assert images[:len(first)] == first and [im["file_name"] for im in images[len(first):]] == \
        ["day2/img4.jpg", "day2/img5.jpg"]
    assert predict.main(["--output", run, photos, "--out-dir", out, "--thresh", "0.5"]) == 2
    assert "holds predictions made with other settings (thresh: 0.0 there, 0.5 now)" in \
        capsys.readouterr().err
    assert predict.main(["--output", run, photos, "--out-dir", out, "--thresh", "0.5",
                         "--restart"]) == 0


@pytest.mark.slow
def test_results_feed_reval_once_annotations_exist(setup, tmp_path, capsys):
    run, photos, predict = setup
    out = str(tmp_path / "out")
    images, results, lines = predict_all(predict, run, photos, out, "--thresh", "0.25",
                                         "--classes", "circle,rectangle")
    size = {x["image_id"]: (x.get("height"), x.get("width")) for x in lines}
    # annotations made later, with their own ids and category ids: the
    # detections themselves, so a right mapping finds every one (AP 1)
    ids = {im["id"]: 100 + im["id"] for im in images["images"] if im["file_name"] != "broken.jpg"}
    cats = {1: 7, 2: 9}  # circle, rectangle
    ann = {"images": [{"id": ids[im["id"]], "file_name": im["file_name"], "height": size[im["id"]][0],
                       "width": size[im["id"]][1]}
                      for im in images["images"] if im["id"] in ids],
           "categories": [{"id": 7, "name": "circle"}, {"id": 9, "name": "rectangle"},
                          {"id": 11, "name": "triangle"}],
           "annotations": [{"id": k + 1, "image_id": ids[r["image_id"]], "category_id": cats[r["category_id"]],
                            "bbox": r["bbox"], "area": r["bbox"][2] * r["bbox"][3], "iscrowd": 0}
                           for k, r in enumerate(results)]}
    with open(tmp_path / "ann.json", "w") as f:
        json.dump(ann, f)
    reval = tool("reval")
    dataset = f"coco:{tmp_path / 'ann.json'}:{photos}"
    args = ["--dataset", dataset, "--results", os.path.join(out, "results.json"), "--metric", "coco",
            "--json", str(tmp_path / "fig.json")]
    assert reval.main(args + ["--image-list", os.path.join(out, "images.json")]) == 0
    assert "7 of its 8 images are in" in capsys.readouterr().out
    figures = json.load(open(tmp_path / "fig.json"))
    assert figures["coco"]["stats"]["AP"] == pytest.approx(1.0)
    assert reval.main(args) == 2  # without the list the ids are predict.py's own
    err = capsys.readouterr().err
    assert "unknown image_id" in err and "--image-list" in err


def test_an_image_the_model_runs_out_of_memory_on_is_skipped(setup, tmp_path, monkeypatch, capsys):
    import tensorflow as tf

    run, photos, predict = setup
    real = Predictor.__call__

    def short_of_memory(self, images, batch_size=1):
        if any(im.shape[0] == 120 for im in images):  # big.png, alone or in a batch
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating")
        return real(self, images, batch_size)

    monkeypatch.setattr(Predictor, "__call__", short_of_memory)
    out = str(tmp_path / "out")
    assert predict.main(["--output", run, photos, "--out-dir", out, "--batch-size", "3"]) == 0
    lines = outputs(out)[2]
    skipped = {x["file_name"]: x["skipped"] for x in lines if "skipped" in x}
    assert skipped["big.png"].startswith("out of memory (ResourceExhaustedError)")
    assert sorted(x["file_name"] for x in lines if "skipped" not in x) == [f"img{i}.jpg" for i in range(4)]
