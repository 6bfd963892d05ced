"""train_net.py: a failed --resume leaves the run as it was and names the
setting that differs; --resume without --cfg uses the run's config.yml; the
weights line; bad config input is a message, not a traceback."""
import hashlib
import os
import re

import pytest

from tests.datasets.trees import toy_root
from tests.engine.runs import tool

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOY = os.path.join(ROOT, "experiments", "cfgs", "toy_quickstart.yml")
TINY = ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TEST.SCALES", "[64]", "TEST.MAX_SIZE", "96",
        "TRAIN.SNAPSHOT_ITERS", "2", "TRAIN.WARMUP_ITERS", "2", "TRAIN.IMS_PER_BATCH", "1"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return toy_root(tmp_path_factory, 4, 2, 9)


@pytest.fixture(scope="module")
def train_net_main():
    """tools/train_net.py's main(argv), in this process (one TensorFlow start)."""
    return tool("train_net").main


def _files(folder):
    """{relative path: sha1} of every file under folder."""
    out = {}
    for d, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, folder)] = hashlib.sha1(open(p, "rb").read()).hexdigest()
    return out


@pytest.mark.slow
def test_a_failed_resume_keeps_the_run_and_names_the_setting(train_net_main, data_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    common = ["--no-progress", "--data-dir", data_dir, "--output", out]
    assert train_net_main(common + ["--cfg", TOY, "--iters", "2", "--set", *TINY]) == 0
    first = capsys.readouterr()
    assert "weights: random initialization (MODEL.WEIGHTS is empty)" in first.out
    before = _files(out)
    assert "config.yml" in before and "classes.json" in before
    # another anchor set: the RPN's shapes no longer fit the checkpoint
    code = train_net_main(common + ["--cfg", TOY, "--iters", "4", "--resume", "--set", *TINY,
                                    "ANCHOR.SCALES", "[2, 4]"])
    bad = capsys.readouterr()
    assert code == 2, bad.err[-2000:]
    assert "ckpt-2 does not fit the model built from this config" in bad.err
    assert "ANCHOR.SCALES [1, 2, 4, 8] -> [2, 4]" in bad.err and "Nothing in" in bad.err
    assert _files(out) == before  # config.yml, classes.json, checkpoints, TensorBoard: untouched
    # without --cfg, --resume continues with the run's own config.yml
    assert train_net_main(common + ["--iters", "3", "--resume"]) == 0
    again = capsys.readouterr().out
    assert f"config: {os.path.join(out, 'config.yml')} (the run's own" in again
    assert "resumed from" in again and "ckpt-2 (iteration 2)" in again
    assert "config.yml: TRAIN.MAX_ITERS 2 -> 3" in again
    assert "weights: restored from" in again
    assert os.path.exists(os.path.join(out, "checkpoints", "ckpt-3.index"))


@pytest.mark.parametrize("args, message", [
    (["--cfg", "{tmp}"], "is a directory; give a YAML config file"),
    (["--cfg", "{tmp}/binary.yml"], "binary.yml is not (a YAML text file|valid YAML)"),
    (["--set", "TRAIN.SNAPSHOT_ITERS", "0"], "TRAIN.SNAPSHOT_ITERS must be a number >= 1, got 0"),
    (["--set", "TRAIN.IMS_PER_BATCH", "0"], "TRAIN.IMS_PER_BATCH must be a number >= 1, got 0"),
    (["--set", "TRAIN.SCALES", "[]"], r"TRAIN.SCALES must be a non-empty list of positive integers"),
    (["--iters", "0"], "TRAIN.MAX_ITERS must be a number >= 1, got 0"),
    (["--net", "tiny", "--weights", "imagenet"], "the tiny backbone has no ImageNet weights"),
])
def test_bad_config_input_is_a_message(train_net_main, data_dir, tmp_path, capsys, args, message):
    (tmp_path / "binary.yml").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    # --iters 1 first: were a bad value let through, the run would stay short
    code = train_net_main(["--no-progress", "--data-dir", data_dir, "--output", str(tmp_path / "run"),
                           "--iters", "1", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert re.search("error: .*" + message, err), err
    assert not os.path.exists(tmp_path / "run")
