"""The learning-rate schedules of TRAIN.LR_POLICY (engine/solver.py)."""
import math

import pytest

from detect.config import get_cfg, merge_from_list
from detect.engine.solver import build_optimizer


def _schedule(*overrides):
    cfg = get_cfg()
    merge_from_list(cfg, ["TRAIN.LEARNING_RATE", "0.02", "TRAIN.WARMUP_ITERS", "10",
                          "TRAIN.WARMUP_FACTOR", "0.1", "TRAIN.MAX_ITERS", "100", *overrides])
    return build_optimizer(cfg)[1]


def test_step_policy_warms_up_then_multiplies_by_gamma_at_each_step():
    lr = _schedule("TRAIN.STEPS", "[60, 80]")
    assert float(lr(0)) == pytest.approx(0.002)
    assert float(lr(5)) == pytest.approx(0.02 * (0.1 * 0.5 + 0.5))
    assert [float(lr(s)) for s in (10, 59, 60, 79, 80, 99)] == pytest.approx(
        [0.02, 0.02, 0.002, 0.002, 0.0002, 0.0002])


def test_cosine_policy_falls_from_the_base_rate_to_zero_at_max_iters():
    lr = _schedule("TRAIN.LR_POLICY", "cosine", "TRAIN.STEPS", "[60]")  # STEPS unused
    assert float(lr(0)) == pytest.approx(0.002)
    for s in (10, 25, 50, 75, 100):
        assert float(lr(s)) == pytest.approx(0.01 * (1 + math.cos(math.pi * s / 100)), abs=1e-7)
    assert float(lr(150)) == pytest.approx(0.0, abs=1e-9)
    values = [float(lr(s)) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="TRAIN.LR_POLICY"):
        _schedule("TRAIN.LR_POLICY", "linear")
