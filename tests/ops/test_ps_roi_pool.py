"""ps_roi_pool against the R-FCN reference, gradients, channel order."""
import numpy as np
import pytest
import tensorflow as tf

from detect import ops_reference
from detect.ops import ps_roi_pool
from detect.ops_reference import cases
from tests.ops.gradients import assert_backward_matches_and_repeats, assert_gradient_matches_numeric


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    D, G = 2, 3
    f = cases.features(rng, (2, 9, 11, D * G * G), dtype)
    rois = cases.random_rois(rng, 12, 2, 9 * 16, 11 * 16)
    out = ps_roi_pool(f, rois, D, G, 1 / 16).numpy()
    ref = ops_reference.ps_roi_pool(f, rois, D, G, 1 / 16, geom=dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)


def test_channel_order():
    # Constant maps: channel ch holds the value ch, so bin (i, j) of output
    # channel c must read (c * G + i) * G + j wherever the RoI lies.
    D, G = 3, 2
    f = np.broadcast_to(np.arange(D * G * G, dtype=np.float32), (1, 6, 6, D * G * G)).copy()
    out = ps_roi_pool(f, np.array([[0, 0, 0, 80, 80]]), D, G, 1 / 16).numpy()
    for c in range(D):
        for i in range(G):
            for j in range(G):
                assert out[0, i, j, c] == (c * G + i) * G + j


def test_gradient_matches_numeric():
    rng = np.random.default_rng(2)
    f = tf.constant(cases.features(rng, (2, 6, 7, 2 * 2 * 2)))
    rois = tf.constant(cases.random_rois(rng, 6, 2, 6 * 8, 7 * 8, cell=8))
    assert_gradient_matches_numeric(lambda x: ps_roi_pool(x, rois, 2, 2, 1 / 8), f)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_matches_reference_and_is_deterministic(dtype):
    rng = np.random.default_rng(4)
    D, G = 21, 3
    f = tf.constant(cases.features(rng, (2, 8, 9, D * G * G), dtype))
    rois = cases.random_rois(rng, 20, 2, 8 * 16, 9 * 16)
    upstream = rng.normal(size=(20, G, G, D)).astype(dtype)
    ref = ops_reference.ps_roi_pool_grad(f.shape, rois, upstream.astype(np.float64), D, G, 1 / 16,
                                         geom=dtype)
    assert_backward_matches_and_repeats(lambda x: ps_roi_pool(x, rois, D, G), f, upstream, ref,
                                        rtol=1e-5, atol=1e-6)


def test_wrapper_shapes_and_tf_function():
    f = tf.random.normal([2, 10, 10, 4 * 49])
    rois = tf.constant([[0, 0, 0, 100, 100], [1, 10, 20, 150, 90]])
    assert ps_roi_pool(f, rois, 4).shape == (2, 7, 7, 4)
    assert ps_roi_pool(f, tf.zeros([0, 5]), 4).shape == (0, 7, 7, 4)
    fn = tf.function(lambda x, r: ps_roi_pool(x, r, 4, 7))
    np.testing.assert_allclose(fn(f, rois), ps_roi_pool(f, rois, 4, 7))
