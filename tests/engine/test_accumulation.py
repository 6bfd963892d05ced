"""Gradient accumulation (detect/engine/batching.py) and the memory check of
the first iteration (detect/engine/memory_check.py): the same 4 images as
one step of 4, 2 micro-steps of 2, 4 of 1 and 2 replicas x 2 micro-steps
give the same update; train_net.py says how the batch is made and stops
with a message, not a kill, when a step takes too much memory."""
import json
import os
import subprocess
import sys
import types

import pytest

from detect.engine import memory_check
from detect.engine.batching import plan_batch, split_share
from detect.engine.distribute import DistributionError
from tests.datasets.trees import toy_root
from tests.engine.runs import tool

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "tests", "engine", "accumulation_check.py")
CFGS = os.path.join(ROOT, "experiments", "cfgs")
SMALL_HEADS = ["--", "RPN.POST_NMS_TOP_N_TRAIN", "100", "TRAIN.ROI_BATCH_SIZE", "32"]
TINY = ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TEST.SCALES", "[64]", "TEST.MAX_SIZE", "96",
        "TRAIN.SNAPSHOT_ITERS", "2", "TRAIN.WARMUP_ITERS", "2"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return toy_root(tmp_path_factory, 6, 2, 9)


def _check(data_dir, tmp_path, cfg, splits):
    env = dict(os.environ, TMPDIR=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, CHECK, data_dir, os.path.join(CFGS, cfg), *splits, *SMALL_HEADS],
                         capture_output=True, text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
def test_every_split_of_four_images_gives_the_same_update(data_dir, tmp_path):
    """4 x 1 image, 2 micro-steps x 2, 4 micro-steps x 1, 2 logical CPU
    devices x 2 micro-steps x 1 (in a tf.while_loop, and unrolled as under
    synchronized BatchNorm): gradients (momentum slots after one step),
    weights and losses within 1e-5 of each tensor's largest entry."""
    r = _check(data_dir, tmp_path, "toy_quickstart.yml",
               ["default:4", "default:2", "default:1", "mirrored:1", "mirrored+unrolled:1"])
    assert r["moved"] > 1e-3  # the step did change the weights
    assert [s["replicas"] for s in r["splits"]] == [1, 1, 1, 2, 2]
    for s in r["splits"]:
        assert s["initial"] == 0.0, s  # the same start
        for key in ("grads", "weights", "losses"):
            assert s[key] < 1e-5, (key, s)


@pytest.mark.slow
def test_micro_steps_of_a_mask_model_equal_replicas(data_dir, tmp_path):
    """The mask loss is a mean over each micro-batch's foreground RoIs, as
    over each replica's: 2 replicas x 2 images equal 1 device x 2 micro-steps
    of 2, mask loss included."""
    r = _check(data_dir, tmp_path, "toy_mask_rcnn.yml", ["mirrored:2", "default:2"])
    assert "mask" in r["losses"]
    two = r["splits"][1]
    for key in ("grads", "weights", "losses"):
        assert two[key] < 1e-5, (key, two)


class _Strategy(types.SimpleNamespace):
    pass


@pytest.mark.parametrize("batch, replicas, per_device, expect", [
    (16, 1, 2, "global batch 16 = 1 replica x 2 images x 8 accumulation steps"),
    (16, 8, 2, "global batch 16 = 8 replicas x 2 images x 1 accumulation step"),
    (4, 2, 1, "global batch 4 = 2 replicas x 1 image x 2 accumulation steps"),
    (1, 1, 2, "global batch 1 = 1 replica x 1 image x 1 accumulation step"),  # fewer images than 2
    (8, 1, 0, "global batch 8 = 1 replica x 8 images x 1 accumulation step"),  # 0: all at once
])
def test_the_plan_of_a_global_batch(batch, replicas, per_device, expect):
    plan = plan_batch(batch, _Strategy(num_replicas_in_sync=replicas), per_device)
    assert plan.describe() == expect
    assert plan.per_replica * plan.replicas == batch


def test_a_batch_that_does_not_divide_names_the_three_numbers():
    with pytest.raises(DistributionError, match=r"TRAIN.IMS_PER_BATCH 6 over 1 replica is 6 images per "
                                                r"replica, which TRAIN.IMS_PER_DEVICE 4 does not divide.*"
                                                r"one of 1, 2, 3 \(e.g. --set TRAIN.IMS_PER_DEVICE 3\)"):
        plan_batch(6, _Strategy(num_replicas_in_sync=1), 4)
    assert split_share(6, 3) == (3, 2)
    assert plan_batch(16, _Strategy(num_replicas_in_sync=1), 4).smaller() == 2


def test_the_advice_names_an_ims_per_device_that_fits():
    gb = memory_check.GB
    # 2 GB in use, 4 images took 8 GB more: 2 GB per image; 90% of 10 GB leaves room for 3 -> 2 (divides 16)
    text = memory_check.advice(10 * gb, 2 * gb, 10 * gb, 4, 16)
    assert "about 2.0 GB per image" in text and "TRAIN.IMS_PER_DEVICE 2 (8 accumulation steps" in text
    text = memory_check.advice(10 * gb, 2 * gb, 3 * gb, 1, 16)
    assert "even one image per step does not fit" in text


def test_a_step_over_the_limit_is_a_message(monkeypatch):
    """After the first iteration: the process's peak above 90% of the limit
    (a stand-in for the machine's memory) raises MemoryBudgetError naming
    the peak, the limit and the fix; under it, nothing."""
    monkeypatch.setattr(memory_check, "gpu_memory", lambda: [])
    check = memory_check.MemoryCheck(0.01, 2, 16, interval=3600)  # the watch never wakes
    check.start()
    with pytest.raises(memory_check.MemoryBudgetError,
                       match=r"peaked, by the end of the first training iteration, at .* GB of memory, "
                             r"more than 90% \(0.0 GB\) of the 0.0 GB there is \(TRAIN.MEMORY_LIMIT_GB\), "
                             r"with TRAIN.IMS_PER_DEVICE 2 .* TRAIN.MEMORY_LIMIT_GB -1 skips this check"):
        check.finish()
    roomy = memory_check.MemoryCheck(10_000, 2, 16, interval=3600)
    roomy.start()
    roomy.finish()  # no error
    off = memory_check.MemoryCheck(-1, 2, 16)
    off.start()
    assert off._thread is None  # pylint: disable=protected-access


def test_the_machine_memory_is_known_here():
    limit, how = memory_check.machine_memory()
    if limit is None:
        pytest.skip(how)
    assert limit > memory_check.resident_bytes() and how


@pytest.mark.slow
def test_train_net_says_how_the_batch_is_made(data_dir, tmp_path, capsys):
    main = tool("train_net").main
    out = str(tmp_path / "run")
    code = main(["--cfg", os.path.join(CFGS, "toy_quickstart.yml"), "--data-dir", data_dir, "--output", out,
                 "--no-progress", "--iters", "2", "--set", *TINY, "TRAIN.IMS_PER_BATCH", "4",
                 "TRAIN.IMS_PER_DEVICE", "2"])
    text = capsys.readouterr()
    assert code == 0, text.err[-2000:]
    assert "global batch 4 = 1 replica x 2 images x 2 accumulation steps" in text.out
    assert "done: 2 iterations" in text.out
    code = main(["--cfg", os.path.join(CFGS, "toy_quickstart.yml"), "--data-dir", data_dir, "--output",
                 str(tmp_path / "other"), "--no-progress", "--iters", "2", "--set", *TINY,
                 "TRAIN.IMS_PER_BATCH", "3", "TRAIN.IMS_PER_DEVICE", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "TRAIN.IMS_PER_BATCH 3 over 1 replica is 3 images per replica" in err


@pytest.mark.slow
def test_train_net_stops_with_a_message_not_a_kill(data_dir, tmp_path):
    """A limit below what the process already holds: the watch of the first
    iteration stops it with exit 2 and the message (in its own process: it
    leaves at once, as it must before the kernel's kill)."""
    env = dict(os.environ, TMPDIR=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    out = str(tmp_path / "run")
    run = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train_net.py"), "--cfg",
                          os.path.join(CFGS, "toy_quickstart.yml"), "--data-dir", data_dir, "--output", out,
                          "--no-progress", "--iters", "2", "--set", *TINY, "TRAIN.IMS_PER_BATCH", "2",
                          "TRAIN.MEMORY_LIMIT_GB", "0.2"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 2, run.stderr[-3000:]
    assert "error: this process reached, during the first training iteration," in run.stderr
    assert "of the 0.2 GB there is (TRAIN.MEMORY_LIMIT_GB)" in run.stderr
    assert "TRAIN.IMS_PER_DEVICE" in run.stderr
    assert not os.path.exists(os.path.join(out, "checkpoints", "ckpt-1.index"))  # nothing half-written


@pytest.mark.slow
def test_out_of_device_memory_later_saves_and_names_a_smaller_setting(data_dir, tmp_path, capsys,
                                                                      monkeypatch):
    """A ResourceExhaustedError at iteration 2 (a larger image than before):
    iteration 1 is saved, and the message names the next smaller
    TRAIN.IMS_PER_DEVICE."""
    import tensorflow as tf

    from detect.engine.trainer import Trainer
    original = Trainer._train_step_fn  # pylint: disable=protected-access

    def failing(self, batch_spec=None):
        step, calls = original(self, batch_spec), []

        def run(batch, seed):
            calls.append(1)
            if len(calls) == 2:
                raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
            return step(batch, seed)
        return run
    monkeypatch.setattr(Trainer, "_train_step_fn", failing)
    out = str(tmp_path / "run")
    code = tool("train_net").main(["--cfg", os.path.join(CFGS, "toy_quickstart.yml"), "--data-dir", data_dir,
                                   "--output", out, "--no-progress", "--iters", "3", "--set", *TINY,
                                   "TRAIN.IMS_PER_BATCH", "4", "TRAIN.IMS_PER_DEVICE", "4"])
    err = capsys.readouterr().err
    assert code == 2, err[-2000:]
    assert "ran out of memory at iteration 2 with TRAIN.IMS_PER_DEVICE 4 (OOM when allocating tensor)" in err
    assert "--set TRAIN.IMS_PER_DEVICE 2" in err and "ckpt-1" in err
    assert os.path.exists(os.path.join(out, "checkpoints", "ckpt-1.index"))
