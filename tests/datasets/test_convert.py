"""TFRecord converters: round trip, bad images, the command-line tools."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from detect.datasets import BadInputError, get_dataset
from detect.datasets.coco import segmentation_to_mask
from detect.datasets.convert import convert
from detect.datasets.pipeline import parse_example

from tests.datasets.trees import make_voc, toy_root, write_jpeg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_root(tmp_path_factory, 8, 2, 0, workers=2)


def _read_all(paths, with_masks):
    return [parse_example(s, with_masks) for s in tf.data.TFRecordDataset(paths)]


def test_round_trip_with_masks(toy, tmp_path):
    ds = get_dataset("toy_coco_train", toy)
    paths, written, skips = convert(ds, str(tmp_path / "toy"), num_shards=3, workers=2,
                                    with_masks=True)
    assert written == 8 and len(paths) == 3 and all(os.path.exists(p) for p in paths)
    assert not any(p.endswith(".tmp") for p in os.listdir(tmp_path))
    examples = {el["source_id"].numpy().decode(): el for el in _read_all(paths, True)}
    for r in ds.records:
        el = examples[str(r["image_id"])]
        np.testing.assert_allclose(el["boxes"].numpy(), r["boxes"])
        np.testing.assert_array_equal(el["classes"].numpy(), r["classes"])
        image = tf.io.decode_image(el["encoded"]).numpy()
        assert image.shape == (r["height"], r["width"], 3)
        for png, seg in zip(el["mask_pngs"].numpy(), r["segmentations"]):
            mask = tf.io.decode_png(png)[..., 0].numpy()
            np.testing.assert_array_equal(mask, segmentation_to_mask(seg, r["height"], r["width"]))


def test_bad_images_are_fixed_or_skipped(tmp_path):
    root = str(tmp_path)
    base = make_voc(root, "2007", {k: (20, 30, [("dog", 1, 1, 10, 10, 0)])
                                   for k in ("good", "gray", "cmyk", "truncated", "garbage")})
    jpg = os.path.join(base, "JPEGImages")
    write_jpeg(os.path.join(jpg, "gray.jpg"), 20, 30, mode="L")
    write_jpeg(os.path.join(jpg, "cmyk.jpg"), 20, 30, mode="CMYK")
    with open(os.path.join(jpg, "truncated.jpg"), "rb") as f:
        data = f.read()
    with open(os.path.join(jpg, "truncated.jpg"), "wb") as f:
        f.write(data[: len(data) // 2])
    with open(os.path.join(jpg, "garbage.jpg"), "wb") as f:
        f.write(b"this is not an image")
    ds = get_dataset("voc_2007_trainval", root)
    paths, written, skips = convert(ds, os.path.join(root, "out", "voc"), num_shards=1, workers=1)
    assert written == 3
    assert skips.skipped["unreadable image"] == 2
    assert sum(skips.fixed.values()) == 2
    images = [tf.io.decode_image(el["encoded"]).numpy() for el in _read_all(paths, False)]
    assert all(im.shape == (20, 30, 3) for im in images)
    with pytest.raises(BadInputError):
        convert(ds, os.path.join(root, "out", "strict"), num_shards=1, workers=1, strict=True)


@pytest.mark.slow
@pytest.mark.parametrize("tool,name", [("convert_voc.py", "toy_test"),
                                       ("convert_coco.py", "toy_coco_test")])
def test_command_line_tools(toy, tmp_path, tool, name):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", tool), "--dataset", name,
                          "--data-dir", toy, "--out", str(tmp_path / name), "--shards", "2"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert f"{name}: wrote 2 examples to 2 shards" in out.stdout and "no bad input" in out.stdout
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "tools", tool), "--dataset",
                          "voc_1999_test", "--data-dir", toy, "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "test.txt does not exist" in bad.stderr


def test_zero_shards_or_workers_are_messages_not_tracebacks(toy, tmp_path):
    for flag in ("--shards", "--workers"):
        out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert_voc.py"),
                              "--dataset", "toy_test", "--data-dir", toy,
                              "--out", str(tmp_path / "x"), flag, "0"],
                             capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 2
        assert f"argument {flag}: must be an integer >= 1, got 0" in out.stderr
        assert "Traceback" not in out.stderr
    ds = get_dataset("toy_test", toy)
    with pytest.raises(ValueError, match=r"number of shards \(--shards\) must be >= 1, got 0"):
        convert(ds, str(tmp_path / "y"), num_shards=0)
    assert not os.path.exists(tmp_path / "y")


def test_output_directory_gets_shards_named_after_the_dataset(toy, tmp_path):
    ds = get_dataset("toy_test", toy)
    out = str(tmp_path / "x") + "/"
    paths, written, _ = convert(ds, out, num_shards=2, workers=1)
    assert written == 2
    assert sorted(os.listdir(tmp_path / "x")) == ["toy_test-00000-of-00002.tfrecord",
                                                  "toy_test-00001-of-00002.tfrecord"]
    # an existing directory given without the slash is a directory too
    paths, _, _ = convert(ds, str(tmp_path / "x"), num_shards=1, workers=1)
    assert paths == [str(tmp_path / "x" / "toy_test-00000-of-00001.tfrecord")]
    assert len(_read_all(paths, False)) == 2


def _wchan(pid):
    """The kernel function process pid sleeps in ("" if none or gone)."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return f.read().strip()
    except OSError:
        return ""


def _live_children(pid):
    """Pids of the running (not zombie) processes whose parent is pid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in "ZX":
            found.append(int(entry))
    return found


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc")
@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_killed_converter_leaves_no_worker_processes(tmp_path, sig):
    # Every image is a FIFO with no writer: the workers block opening it, so
    # the conversion is certainly in progress when the main process is killed.
    import signal
    import time

    base = make_voc(str(tmp_path), "2007", {f"im{i}": (20, 30, [("dog", 1, 1, 10, 10, 0)])
                                            for i in range(8)})
    for i in range(8):
        image = os.path.join(base, "JPEGImages", f"im{i}.jpg")
        os.remove(image)
        os.mkfifo(image)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "convert_voc.py"),
                             "--dataset", "voc_2007_trainval", "--data-dir", str(tmp_path),
                             "--out", str(tmp_path / "out" / "voc"), "--shards", "2",
                             "--workers", "2"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell's background job starts with SIGINT ignored, and Python
                            # then installs no KeyboardInterrupt handler: give the converter
                            # the default, as in a terminal
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    workers = []
    try:
        deadline = time.time() + 300
        while len(workers) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
            workers = _live_children(proc.pid)
        assert len(workers) == 2, (proc.poll(), workers)
        # Signal only once both workers block opening their FIFO (the kernel's
        # wait_for_partner): the pool is then fully started and the converter
        # is in its loop, the state a user interrupts; on a loaded machine a
        # fixed sleep could land inside interpreter or pool start-up instead.
        deadline = time.time() + 180
        while time.time() < deadline and not all(_wchan(w) == "wait_for_partner" for w in workers):
            time.sleep(0.1)
        assert all(_wchan(w) == "wait_for_partner" for w in workers), [_wchan(w) for w in workers]
        os.kill(proc.pid, getattr(signal, sig))
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the converter did not exit within 60 s of {sig}")
        deadline = time.time() + 30
        while any(map(_running, workers)) and time.time() < deadline:
            time.sleep(0.2)
        assert not [w for w in workers if _running(w)], f"workers left running after {sig}"
        if sig != "SIGKILL":
            assert proc.returncode == 128 + getattr(signal, sig), proc.stderr.read()
            assert not os.listdir(tmp_path / "out"), "unfinished shards were left behind"
    finally:
        for pid in [proc.pid] + workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
