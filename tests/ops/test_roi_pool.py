"""roi_pool against the Fast R-CNN / Caffe reference, gradients, dtypes."""
import numpy as np
import pytest
import tensorflow as tf

from detect import ops_reference
from detect.ops import roi_pool
from detect.ops._loader import LIB
from detect.ops_reference import cases
from tests.ops.gradients import assert_backward_matches_and_repeats, assert_gradient_matches_numeric


def _run(features, rois, pooled, scale):
    out, arg = LIB.detect_roi_pool(features, rois.astype(features.dtype), pooled_height=pooled[0],
                                   pooled_width=pooled[1], spatial_scale=scale)
    return out.numpy(), arg.numpy()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    f = cases.features(rng, (2, 9, 11, 3), dtype)
    rois = cases.random_rois(rng, 12, 2, 9 * 16, 11 * 16)
    out, arg = _run(f, rois, (3, 4), 1 / 16)
    ref, ref_arg = ops_reference.roi_pool(f, rois, (3, 4), 1 / 16)
    np.testing.assert_array_equal(arg, ref_arg)
    np.testing.assert_array_equal(out, ref.astype(dtype))


def test_caffe_rounding_and_ties():
    # 4x4 map of ones with one 5: a tie everywhere else goes to the first cell.
    f = np.ones((1, 4, 4, 1), np.float32)
    f[0, 2, 3, 0] = 5
    # x1 = 8 px at scale 1/16 is 0.5 cells: C round gives 1 (np.round: 0).
    rois = np.array([[0, 8, 0, 63, 63]], np.float32)
    out, arg = _run(f, rois, (1, 1), 1 / 16)
    assert arg[0, 0, 0, 0] == 2 * 4 + 3 and out[0, 0, 0, 0] == 5
    out, arg = _run(f, rois, (2, 2), 1 / 16)
    # columns 1..3 (start rounded up), rows 0..3: bin (0, 0) starts at (0, 1).
    assert arg[0, 0, 0, 0] == 0 * 4 + 1
    rois = np.array([[0, -8, -8, -8, -8]], np.float32)  # round(-0.5) = -1
    out, arg = _run(f, rois, (1, 1), 1 / 16)
    assert arg[0, 0, 0, 0] == -1 and out[0, 0, 0, 0] == 0  # clipped away: empty


def test_public_wrapper_shapes_and_dtypes():
    f = tf.random.normal([2, 8, 8, 5])
    rois = tf.constant([[1, 0, 0, 64, 64]], tf.float64)  # cast to features' dtype
    assert roi_pool(f, rois, 7).shape == (1, 7, 7, 5)
    half = roi_pool(tf.cast(f, tf.float16), rois, (2, 3))
    assert half.dtype == tf.float16 and half.shape == (1, 2, 3, 5)
    empty = roi_pool(f, tf.zeros([0, 5]), (2, 2))
    assert empty.shape == (0, 2, 2, 5)
    g = tf.function(lambda x, r: roi_pool(x, r, (2, 2)))(f, rois)
    assert g.shape == (1, 2, 2, 5)


def test_gradient_matches_numeric():
    rng = np.random.default_rng(7)
    f = tf.constant(cases.features(rng, (2, 6, 7, 2)))
    rois = tf.constant(cases.random_rois(rng, 5, 2, 6 * 8, 7 * 8, cell=8))
    assert_gradient_matches_numeric(lambda x: roi_pool(x, rois, (2, 3), 1 / 8), f)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_matches_reference_and_is_deterministic(dtype):
    rng = np.random.default_rng(3)
    f = tf.constant(cases.features(rng, (2, 9, 11, 40), dtype))
    rois = cases.random_rois(rng, 30, 2, 9 * 16, 11 * 16)
    upstream = rng.normal(size=(30, 3, 3, 40)).astype(dtype)
    _, arg = ops_reference.roi_pool(f.numpy(), rois, (3, 3), 1 / 16)
    ref = ops_reference.roi_pool_grad(f.shape, rois, arg, upstream.astype(np.float64))
    assert_backward_matches_and_repeats(lambda x: roi_pool(x, rois, (3, 3)), f, upstream, ref,
                                        rtol=1e-5, atol=1e-5)
