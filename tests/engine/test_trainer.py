"""Trainer: resume, NaN stop, Ctrl-C, TensorBoard files; the tools end to end."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

from detect.config import get_cfg, merge_from_file, merge_from_list
from detect.datasets import get_dataset
from detect.datasets.pipeline import build_pipeline
from detect.datasets.toy import write_toy_dataset
from detect.engine.trainer import NonFiniteLossError, Trainer
from detect.modeling.detector import TwoStageDetector

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TEST.SCALES", "[64]", "TEST.MAX_SIZE", "96",
        "TRAIN.SNAPSHOT_ITERS", "2", "TRAIN.WARMUP_ITERS", "2", "TRAIN.IMS_PER_BATCH", "1",
        "MODEL.NUM_CLASSES", "4"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_toy_dataset(str(root / "toy"), num_train=6, num_test=3, seed=9, workers=1)
    return str(root)


def _setup(data_dir, out):
    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(ROOT, "experiments", "cfgs", "toy_quickstart.yml"))
    merge_from_list(cfg, TINY)
    ds = get_dataset("toy_train", data_dir)
    data = build_pipeline(ds, training=True, batch_size=1, scales=(64,), max_size=96, seed=1,
                          drop_empty=True, epochs=None, drop_remainder=True, normalization="torch")
    return cfg, Trainer(cfg, TwoStageDetector.from_cfg(cfg), data, out, log_every=1, image_every=2)


def test_resume_restores_step_weights_and_optimizer(data_dir, tmp_path):
    cfg, t = _setup(data_dir, str(tmp_path))
    t.train(4, progress=False)
    assert [int(p.split("-")[-1]) for p in t.manager.checkpoints] == [2, 4]
    weights = [v.numpy() for v in t.model.trainable_variables]
    slots = [v.numpy() for v in t.optimizer.variables]
    _, t2 = _setup(data_dir, str(tmp_path))
    assert t2.restore().endswith("ckpt-4")
    assert int(t2.step.numpy()) == 4
    for a, b in zip(weights, t2.model.trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())
    for a, b in zip(slots, t2.optimizer.variables):
        np.testing.assert_array_equal(a, b.numpy())
    t2.train(5, progress=False)
    assert int(t2.step.numpy()) == 5
    events = glob.glob(os.path.join(str(tmp_path), "tensorboard", "events.out.tfevents.*"))
    assert events and os.path.getsize(events[0]) > 0


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path):
    cfg, t = _setup(data_dir, str(tmp_path))
    real = t.model.compute_losses
    calls = {"n": 0}

    def poisoned(batch, seed, training=True):
        losses = real(batch, seed, training)
        calls["n"] += 1
        # eager calls: the build call, then iterations; poison from the 4th iteration on
        return dict(losses, rpn_box=losses["rpn_box"] * float("nan")) if calls["n"] > 4 else losses

    t.model.compute_losses = poisoned
    t._train_step_fn = lambda: (lambda batch, seed: {k: v for k, v in
                                                    dict(poisoned(batch, seed), total=0.0,
                                                         weight_decay=0.0).items()})
    with pytest.raises(NonFiniteLossError, match=r"rpn_box became nan at iteration 4.*ckpt-2"):
        t.train(10, progress=False)
    assert t.manager.latest_checkpoint.endswith("ckpt-2")


def test_ctrl_c_saves_a_checkpoint_first(data_dir, tmp_path):
    cfg, t = _setup(data_dir, str(tmp_path))
    real_iter = iter(t.dataset)

    class Interrupting:
        def __init__(self):
            self.n = 0

        def __iter__(self):
            return self

        def __next__(self):
            self.n += 1
            if self.n == 5:  # the build batch (also iteration 1's), then iterations 2-4
                raise KeyboardInterrupt
            return next(real_iter)

    t.dataset = Interrupting()
    with pytest.raises(KeyboardInterrupt):
        t.train(10, progress=False)
    assert t.manager.latest_checkpoint.endswith("ckpt-4")


def test_tools_end_to_end(data_dir, tmp_path):
    out = str(tmp_path / "run")
    common = [sys.executable]
    train = subprocess.run(common + [os.path.join(ROOT, "tools", "train_net.py"), "--cfg",
                                     os.path.join(ROOT, "experiments", "cfgs", "toy_quickstart.yml"),
                                     "--dataset", "toy_train", "--data-dir", data_dir, "--output", out,
                                     "--iters", "3", "--no-progress", "--set"] + TINY,
                           capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-2000:]
    again = subprocess.run(common + [os.path.join(ROOT, "tools", "train_net.py"), "--dataset",
                                     "toy_train", "--data-dir", data_dir, "--output", out],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr
    test = subprocess.run(common + [os.path.join(ROOT, "tools", "test_net.py"), "--output", out,
                                    "--dataset", "toy_test", "--data-dir", data_dir, "--no-progress"],
                          capture_output=True, text=True)
    assert test.returncode == 0, [l for l in test.stderr.splitlines() if "rror" in l]
    assert "VOC07 11-point AP" in test.stdout and "s per image" in test.stdout
    assert os.path.exists(os.path.join(out, "detections_toy_test.json"))
    demo = subprocess.run(common + [os.path.join(ROOT, "tools", "demo.py"), "--output", out,
                                    "--thresh", "0", "--out-dir", str(tmp_path / "demo")],
                          capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert os.path.exists(tmp_path / "demo" / "toy_sample_det.jpg")
    assert os.path.exists(tmp_path / "demo" / "detections.json")
