"""Every bad input raises InvalidArgumentError naming the argument."""
import numpy as np
import pytest
import tensorflow as tf

from detect.ops import ps_roi_pool, roi_align, roi_pool
from detect.ops._loader import LIB

F = np.zeros((2, 8, 8, 8), np.float32)  # 8 channels = 2 * 2^2 for ps_roi_pool
GOOD = np.array([[1, 0, 0, 32, 32]], np.float32)

OPS = {
    "roi_pool": lambda f, r, **kw: roi_pool(f, r, kw.get("size", 2), kw.get("scale", 1 / 16)),
    "roi_align": lambda f, r, **kw: roi_align(f, r, kw.get("size", 2), kw.get("scale", 1 / 16)),
    "ps_roi_pool": lambda f, r, **kw: ps_roi_pool(f, r, 2, kw.get("size", 2), kw.get("scale", 1 / 16)),
}

BAD = [
    ("rois_rank", F, np.zeros((5,), np.float32), {}, "rois must have shape"),
    ("rois_width", F, np.zeros((3, 4), np.float32), {}, "rois must have shape"),
    ("batch_high", F, np.array([[2, 0, 0, 8, 8]], np.float32), {}, "batch index"),
    ("batch_negative", F, np.array([[-1, 0, 0, 8, 8]], np.float32), {}, "batch index"),
    ("batch_fraction", F, np.array([[0.5, 0, 0, 8, 8]], np.float32), {}, "batch index"),
    ("nan_coordinate", F, np.array([[0, np.nan, 0, 8, 8]], np.float32), {}, "finite"),
    ("inf_coordinate", F, np.array([[0, 0, 0, np.inf, 8]], np.float32), {}, "finite"),
    ("features_rank", F[0], GOOD, {}, "features must be a 4-D"),
    ("features_empty_map", np.zeros((2, 0, 8, 8), np.float32), GOOD, {}, "H >= 1"),
    ("size_zero", F, GOOD, {"size": 0}, "must be >= 1"),
    ("scale_zero", F, GOOD, {"scale": 0.0}, "spatial_scale"),
    ("scale_negative", F, GOOD, {"scale": -1.0}, "spatial_scale"),
    ("scale_nan", F, GOOD, {"scale": float("nan")}, "spatial_scale"),
]


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_eager_and_in_tf_function(op, case):
    _, f, rois, kw, message = case
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        OPS[op](f, rois, **kw)
    graph_fn = tf.function(lambda x, r: OPS[op](x, r, **kw))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        graph_fn(tf.constant(f), tf.constant(rois))


def test_ps_roi_pool_channel_mismatch():
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"output_dim \* group_size\^2"):
        ps_roi_pool(F, GOOD, output_dim=3, group_size=2)


@pytest.mark.parametrize("field", ["output_dim", "group_size"])
def test_ps_roi_pool_sizes(field):
    args = {"output_dim": 2, "group_size": 2, field: 0}
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{field} must be >= 1"):
        ps_roi_pool(F, GOOD, **args)


def test_grad_ops_check_grad_shape():
    with pytest.raises(tf.errors.InvalidArgumentError, match="grad must have"):
        LIB.detect_roi_align_grad(F, GOOD, np.zeros((1, 3, 3, 8), np.float32), pooled_height=2,
                                  pooled_width=2, spatial_scale=1 / 16, sampling_ratio=2,
                                  aligned=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="argmax must have"):
        LIB.detect_roi_pool_grad(F, GOOD, np.zeros((1, 2, 2, 7), np.int32),
                                 np.zeros((1, 2, 2, 8), np.float32), pooled_height=2,
                                 pooled_width=2, spatial_scale=1 / 16)
    with pytest.raises(tf.errors.InvalidArgumentError, match="grad must have"):
        LIB.detect_ps_roi_pool_grad(F, GOOD, np.zeros((1, 2, 2, 3), np.float32), output_dim=2,
                                    group_size=2, spatial_scale=1 / 16)


def test_roi_pool_grad_ignores_out_of_range_argmax():
    # A caller-made argmax must never index outside the feature map.
    argmax = np.array([-5, 64, 10**9, 3], np.int32).reshape(1, 2, 2, 1)
    f = np.zeros((2, 8, 8, 1), np.float32)
    g = LIB.detect_roi_pool_grad(f, GOOD, argmax, np.ones((1, 2, 2, 1), np.float32),
                                 pooled_height=2, pooled_width=2, spatial_scale=1 / 16).numpy()
    assert g.sum() == 1 and g[1, 0, 3, 0] == 1


@pytest.mark.parametrize("op", sorted(OPS))
def test_far_outside_and_huge_rois_are_safe(op):
    rois = np.array([[0, -1e9, -1e9, -1e8, -1e8], [1, 1e8, 1e8, 1e9, 1e9],
                     [0, -1e6, -1e6, 1e6, 1e6], [1, 5, 5, 5, 5]], np.float32)
    out = OPS[op](F + 1, rois).numpy()
    assert np.all(np.isfinite(out))
    assert np.all(out[:2] == 0)  # entirely outside the map
