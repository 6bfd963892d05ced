"""tools/demo.py on bad input: truncated, empty, huge images are skipped with a
message and the next image runs; --thresh in [0, 1]; pictures never overwrite
one another."""
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from detect.visualization import class_color, draw
from tests.datasets.trees import write_jpeg
from tests.engine.runs import make_run, tool


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    make_run(str(root / "run"), ["TEST.SCORE_THRESH", "0.0"])  # detections of every class
    return str(root / "run"), tool("demo")


def test_bad_images_are_skipped_and_the_next_ones_run(setup, tmp_path, capsys):
    run, demo = setup
    img = tmp_path / "in"
    write_jpeg(str(img / "a" / "same.jpg"), 48, 64)
    write_jpeg(str(img / "b" / "same.jpg"), 40, 56)
    data = (img / "a" / "same.jpg").read_bytes()
    (img / "truncated.jpg").write_bytes(data[:-10])  # libjpeg would only warn and fill grey
    (img / "empty.jpg").write_bytes(b"")
    order = ["truncated.jpg", "empty.jpg", "missing.jpg", "a/same.jpg", "b/same.jpg"]
    out = tmp_path / "out"
    code = demo.main([str(img / p) for p in order] + ["--output", run, "--out-dir", str(out),
                                                      "--thresh", "0"])
    assert code == 0
    stdout = capsys.readouterr().out
    for name, reason in (("truncated.jpg", "truncated image data (JPEG, 64x48)"),
                         ("empty.jpg", "empty file"), ("missing.jpg", "No such file or directory")):
        assert f"skipped {img / name}: {reason}" in stdout, name
    report = json.load(open(out / "detections.json"))
    assert sorted(report) == [str(img / "a" / "same.jpg"), str(img / "b" / "same.jpg")]
    # same base name: two pictures, neither overwritten
    assert sorted(r["picture"] for r in report.values()) == ["same_2_det.jpg", "same_det.jpg"]
    assert Image.open(out / "same_det.jpg").size == (64, 48)
    assert Image.open(out / "same_2_det.jpg").size == (56, 40)


def test_images_over_the_pixel_cap_are_skipped_before_decoding(setup, tmp_path, capsys):
    run, demo = setup
    Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(tmp_path / "big.png")
    write_jpeg(str(tmp_path / "small.jpg"), 48, 64)
    out = tmp_path / "out"
    assert demo.main([str(tmp_path / "big.png"), str(tmp_path / "small.jpg"), "--output", run,
                      "--out-dir", str(out), "--max-pixels", "10000"]) == 0
    assert (f"skipped {tmp_path / 'big.png'}: too large: 200x200 = 40000 pixels, more than the cap "
            "of 10000") in capsys.readouterr().out
    assert list(json.load(open(out / "detections.json"))) == [str(tmp_path / "small.jpg")]


def test_out_of_memory_on_one_image_skips_only_that_one(setup, tmp_path, capsys, monkeypatch):
    run, demo = setup
    for name in ("first.jpg", "second.jpg"):
        write_jpeg(str(tmp_path / name), 48, 64)
    import detect.predictor as predictor
    real, calls = predictor.prepare, []

    def fails_once(rgb, cfg):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError
        return real(rgb, cfg)

    monkeypatch.setattr(predictor, "prepare", fails_once)
    out = tmp_path / "out"
    assert demo.main([str(tmp_path / "first.jpg"), str(tmp_path / "second.jpg"), "--output", run,
                      "--out-dir", str(out)]) == 0
    assert f"skipped {tmp_path / 'first.jpg'}: out of memory (MemoryError)" in capsys.readouterr().out
    assert list(json.load(open(out / "detections.json"))) == [str(tmp_path / "second.jpg")]


@pytest.mark.parametrize("value", ["2", "-0.1", "nan", "inf", "high"])
def test_thresh_outside_0_1_is_refused(setup, capsys, value):
    run, demo = setup
    with pytest.raises(SystemExit) as e:
        demo.main(["--output", run, "--thresh", value])
    assert e.value.code == 2
    assert "--thresh" in capsys.readouterr().err


def test_masks_are_drawn_translucent_in_their_class_colour():
    grey = np.full((40, 60, 3), 128, np.uint8)
    masks = np.zeros((2, 40, 60), np.uint8)
    masks[0, 5:20, 5:25] = 1
    masks[1, 22:35, 30:55] = 1
    out = draw(grey.copy(), np.array([[4, 4, 26, 21], [29, 21, 56, 36]], float), [0.9, 0.8],
                    ["a", "b"], np.array([1, 2]), masks)
    inside_a, inside_b = out[17, 15], out[30, 42]  # away from outlines and labels
    assert not np.array_equal(inside_a, grey[0, 0]) and not np.array_equal(inside_a, inside_b)
    # 45% of the class colour over the picture: OpenCV's own blend of the
    # grey picture and a solid colour, within its rounding (draw truncates)
    for pixel, c in ((inside_a, 1), (inside_b, 2)):
        solid = np.zeros_like(grey)
        solid[:] = class_color(c)
        want = cv2.addWeighted(grey, 0.55, solid, 0.45, 0)[0, 0]
        assert np.abs(pixel.astype(int) - want).max() <= 1, (pixel, want)
    assert np.array_equal(out[38, 2], grey[0, 0])  # outside every mask, box and label
    assert class_color(1) != class_color(2)


@pytest.mark.slow
def test_mask_model_writes_rle_masks_and_filters_classes(tmp_path, capsys):
    from pycocotools import mask as mask_utils

    run = str(tmp_path / "run")
    make_run(run, ["TEST.SCORE_THRESH", "0.0"], config="toy_mask_rcnn.yml")
    demo = tool("demo")
    write_jpeg(str(tmp_path / "x.jpg"), 48, 64)
    out = tmp_path / "out"
    assert demo.main([str(tmp_path / "x.jpg"), "--output", run, "--out-dir", str(out), "--thresh", "0"]) == 0
    (entry,) = json.load(open(out / "detections.json")).values()
    assert len(entry["masks"]) == len(entry["boxes"]) > 0
    decoded = mask_utils.decode([dict(m, counts=m["counts"].encode()) for m in entry["masks"]])
    assert decoded.shape == (48, 64, len(entry["boxes"]))
    assert len(set(entry["classes"])) > 1  # so that the filter has something to remove
    keep = entry["classes"][0]
    want = [(b, m) for b, m, c in zip(entry["boxes"], entry["masks"], entry["classes"]) if c == keep]
    assert demo.main([str(tmp_path / "x.jpg"), "--output", run, "--out-dir", str(out), "--thresh", "0",
                      "--classes", keep]) == 0
    (entry,) = json.load(open(out / "detections.json")).values()
    assert set(entry["classes"]) == {keep}
    assert list(zip(entry["boxes"], entry["masks"])) == want  # the same detections, the rest gone


def test_classes_take_one_value_and_globs_must_match(setup, tmp_path, capsys):
    run, demo = setup
    write_jpeg(str(tmp_path / "a.jpg"), 40, 48)
    out = tmp_path / "out"
    assert demo.main(["--output", run, str(tmp_path / "a.jpg"), "--out-dir", str(out), "--thresh", "0"]) == 0
    (everything,) = json.load(open(out / "detections.json")).values()
    wanted = [c for c in everything["classes"] if c in ("circle", "triangle")]
    assert wanted and len(wanted) < len(everything["classes"])  # the filter has work to do
    # image paths after --classes are images, not class names
    assert demo.main(["--output", run, "--classes", "circle,triangle", str(tmp_path / "a.jpg"),
                      "--out-dir", str(out), "--thresh", "0"]) == 0
    (entry,) = json.load(open(out / "detections.json")).values()
    assert entry["classes"] == wanted
    assert demo.main(["--output", run, str(tmp_path / "nomatch" / "*.jpg")]) == 2
    assert "no image or video matches" in capsys.readouterr().err
