"""train_net.py --profile START,STOP: a TensorFlow profiler trace of those
iterations where TensorBoard's profile plugin reads it, and a table of the
most expensive ops; bad windows are messages."""
import glob
import os
import re

import pytest

from detect.datasets.toy import write_toy_dataset
from detect.engine.profiling import op_table, parse_window, part_of, part_table
from tests.engine.runs import tool

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOY = os.path.join(ROOT, "experiments", "cfgs", "toy_quickstart.yml")
TINY = ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TRAIN.WARMUP_ITERS", "2",
        "RPN.POST_NMS_TOP_N_TRAIN", "100", "TRAIN.ROI_BATCH_SIZE", "32"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_toy_dataset(str(root / "toy"), num_train=4, num_test=1, seed=9, workers=1)
    return str(root)


@pytest.fixture(scope="module")
def train_net_main():
    return tool("train_net").main


def _args(data_dir, out, *extra):
    return ["--cfg", TOY, "--data-dir", data_dir, "--output", out, "--no-progress", *extra,
            "--set", *TINY]


@pytest.mark.slow
def test_profile_writes_a_trace_and_an_op_table(train_net_main, data_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train_net_main(_args(data_dir, out, "--iters", "3", "--profile", "2,3")) == 0
    printed = capsys.readouterr().out
    traces = glob.glob(os.path.join(out, "tensorboard", "plugins", "profile", "*", "*.xplane.pb"))
    assert len(traces) == 1 and os.path.getsize(traces[0]) > 0
    assert "most expensive ops over 2 profiled iterations" in printed
    rows = re.findall(r"^\s+\d+\.\d%\s+\d+\.\d\d\s+\d+\s+\S+", printed, re.M)
    assert 3 <= len(rows) <= 10, printed
    assert f"tensorboard --logdir {os.path.join(out, 'tensorboard')}" in printed
    # and the self time by part of the model, the backbone's backward included
    parts = printed.split("self time by model part", 1)[1]
    row = re.search(r"^tiny_backbone\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)", parts, re.M)
    assert row and float(row.group(2)) > 0, parts
    # the trace reads back with TensorFlow's profiler (TensorBoard's reader)
    table = op_table(traces, 2, 1.0)
    assert table and all(r["ms_per_step"] >= 0 and r["occurrences"] >= 1 for r in table)
    assert table == sorted(table, key=lambda r: -r["ms_per_step"])


@pytest.mark.parametrize("window, message", [
    ("5", "--profile takes START,STOP"), ("3,2", "need 1 <= START <= STOP"),
    ("0,1", "need 1 <= START <= STOP"), ("2,9", "the run ends at iteration 3"),
])
def test_a_bad_profile_window_is_a_message(train_net_main, data_dir, tmp_path, capsys, window, message):
    out = str(tmp_path / "run")
    assert train_net_main(_args(data_dir, out, "--iters", "3", "--profile", window)) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(out)


def test_ops_are_counted_with_the_part_of_the_model_they_belong_to():
    assert part_of("gradient_tape/mask_head_1/mask_fcn_1/mask_fcn1_1/convolution/Conv2DBackpropFilter") \
        == ("mask_head", True)
    assert part_of("tiny_backbone_1/tiny_body_1/block1_conv1_1/convolution") == ("tiny_backbone", False)
    assert part_of("Iterator::Root::Prefetch::PaddedBatchV2", "Dataset") == ("input", False)
    assert part_of("PyFunc", "PyFunc") == ("input", False)
    assert part_of("switch_case_1/indexed_case/branch0/_232/Conv2DBackpropFilter") == ("other", False)
    assert part_of("AddN") == ("other", False)
    rows = [{"op": "fpn_1/a", "type": "Conv2D", "ms_per_step": 3.0},
            {"op": "gradient_tape/fpn_1/b", "type": "Conv2D", "ms_per_step": 5.0},
            {"op": "rpn_1/c", "type": "Conv2D", "ms_per_step": 2.0},
            {"op": "argsort_3/d", "type": "TopKV2", "ms_per_step": 0.1},
            {"op": "cond_2/e", "type": "If", "ms_per_step": 1.0}]
    table = part_table(rows)
    assert list(table) == ["fpn", "rpn", "other"]  # argsort (under 2%) folded into other, last
    assert table["fpn"] == (3.0, 5.0) and table["other"] == pytest.approx((1.1, 0.0))


def test_parse_window():
    assert parse_window("10,15") == (10, 15) and parse_window("4,4") == (4, 4)
    with pytest.raises(ValueError, match="START,STOP"):
        parse_window("a,b")
