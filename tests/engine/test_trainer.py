"""Trainer: resume, NaN stop (nothing non-finite applied or saved), every
named loss in the objective, Ctrl-C, checkpoint leftovers, TensorBoard files;
the tools end to end."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from detect.config import get_cfg, merge_from_file, merge_from_list
from detect.datasets import get_dataset
from detect.datasets.pipeline import build_pipeline
from detect.engine.checkpoint import NonFiniteCheckpointError
from detect.engine.trainer import NonFiniteLossError, Trainer
from detect.modeling.build import build_model
from tests.datasets.trees import toy_root

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TEST.SCALES", "[64]", "TEST.MAX_SIZE", "96",
        "TRAIN.SNAPSHOT_ITERS", "2", "TRAIN.WARMUP_ITERS", "2", "TRAIN.IMS_PER_BATCH", "1",
        "MODEL.NUM_CLASSES", "4"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return toy_root(tmp_path_factory, 6, 3, 9)


def _setup(data_dir, out):
    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(ROOT, "experiments", "cfgs", "toy_quickstart.yml"))
    merge_from_list(cfg, TINY)
    ds = get_dataset("toy_train", data_dir)
    data = build_pipeline(ds, training=True, batch_size=1, scales=(64,), max_size=96, seed=1,
                          drop_empty=True, epochs=None, drop_remainder=True, normalization="torch")
    return cfg, Trainer(cfg, build_model(cfg), data, out, log_every=1, image_every=2)


@pytest.mark.slow
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


def _state(t):
    """Every saved value: model (weights, BatchNorm statistics) and optimizer."""
    return [v.numpy() for v in list(t.model.variables) + list(t.optimizer.variables)]


@pytest.mark.slow
@pytest.mark.parametrize("poison", ["loss", "image"])
def test_a_non_finite_step_is_not_applied_and_the_last_good_checkpoint_is_finite(data_dir, tmp_path,
                                                                               poison):
    cfg, t = _setup(data_dir, str(tmp_path))
    real = t.model.compute_losses

    def poisoned(batch, seed, training=True, **kwargs):
        # in-graph, from iteration 3 on (seed[1] is the iteration - 1): a NaN
        # loss, or NaN pixels (NaN activations, BatchNorm statistics, gradients)
        nan = tf.where(seed[1] >= 2, float("nan"), 1.0)
        if poison == "image":
            return real(dict(batch, image=batch["image"] * nan), seed, training, **kwargs)
        losses = real(batch, seed, training, **kwargs)
        return dict(losses, rpn_box=losses["rpn_box"] * nan)

    t.model.compute_losses = poisoned
    expected = r"rpn_box became nan at iteration 3" if poison == "loss" else r"at iteration 3"
    with pytest.raises(NonFiniteLossError, match=expected + r".*not applied.*ckpt-2\."):
        t.train(10, progress=False)
    assert [os.path.basename(p) for p in t.manager.checkpoints] == ["ckpt-2"]
    state = _state(t)
    assert all(np.isfinite(a).all() for a in state)
    _, t2 = _setup(data_dir, str(tmp_path))
    assert t2.restore().endswith("ckpt-2")
    for a, b in zip(state, _state(t2)):  # the bad update left no trace
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_non_finite_variables_are_never_saved_nor_resumed_from(data_dir, tmp_path):
    cfg, t = _setup(data_dir, str(tmp_path))
    t.train(2, progress=False)
    var = next(v for v in t.model.variables if "moving_variance" in v.path)
    var.assign(np.full(var.shape, np.inf, np.float32))
    t.step.assign(3)
    with pytest.raises(NonFiniteCheckpointError, match=r"not saving iteration 3: 1 variables hold NaN "
                                                         r"or inf \(.*moving_variance.*ckpt-2\."):
        t.save()
    assert [os.path.basename(p) for p in t.manager.checkpoints] == ["ckpt-2"]
    t.manager.save(checkpoint_number=3)  # as an older version would have saved it
    _, t2 = _setup(data_dir, str(tmp_path))
    with pytest.raises(NonFiniteCheckpointError, match=r"ckpt-3 holds NaN or inf in 1 variables "
                                                         r".*refusing to resume.*\(ckpt-2\)"):
        t2.restore()
    for f in glob.glob(os.path.join(str(tmp_path), "checkpoints", "ckpt-3.*")):
        os.remove(f)  # what the message says to do
    _, t3 = _setup(data_dir, str(tmp_path))
    assert t3.restore().endswith("ckpt-2") and int(t3.step.numpy()) == 2
    t3.train(3, progress=False)
    assert t3.manager.latest_checkpoint.endswith("ckpt-3")


@pytest.mark.slow
def test_every_loss_the_model_returns_is_in_the_objective(data_dir, tmp_path):
    cfg, t = _setup(data_dir, str(tmp_path))
    real = t.model.compute_losses
    t.model.compute_losses = lambda batch, seed, training=True, **kwargs: dict(
        real(batch, seed, training, **kwargs), mask=tf.constant(5.0))
    losses = t.train(1, progress=False)
    named = [k for k in losses if k not in ("total", "weight_decay")]
    assert sorted(named) == ["mask", "rcnn_box", "rcnn_cls", "rpn_box", "rpn_cls"]
    assert losses["total"] == pytest.approx(sum(losses[k] for k in named), rel=1e-5)


def test_leftovers_of_a_killed_save_are_removed_at_start(data_dir, tmp_path):
    ckpts = tmp_path / "checkpoints"
    (ckpts / "ckpt-7_temp").mkdir(parents=True)
    (ckpts / "ckpt-7_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
    (ckpts / "checkpoint.tmp3f2a9c").write_text("partial")
    (ckpts / "notes.txt").write_text("mine")
    cfg, t = _setup(data_dir, str(tmp_path))
    t.train(1, progress=False)
    left = sorted(os.listdir(ckpts))
    assert "ckpt-7_temp" not in left and "checkpoint.tmp3f2a9c" not in left
    assert "notes.txt" in left and "ckpt-1.index" in left


@pytest.mark.slow
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


@pytest.mark.slow
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
