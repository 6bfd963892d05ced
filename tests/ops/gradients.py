"""The backward check every RoI op shares: the registered gradient with
respect to the features, compared with a reference and repeated bit for bit."""
import numpy as np
import tensorflow as tf


def feature_gradient(op, features, upstream):
    """d op(features) / d features, with ``upstream`` the gradient of the
    output ([R, ph, pw, C], NumPy); a NumPy array shaped like features."""
    with tf.GradientTape() as tape:
        tape.watch(features)
        out = op(features)
    return tape.gradient(out, features, output_gradients=tf.constant(upstream)).numpy()


def assert_backward_matches_and_repeats(op, features, upstream, reference, rtol, atol, repeats=3):
    """The gradient equals ``reference`` within rtol / atol, and ``repeats``
    more runs give the same bits (no atomics whose order varies)."""
    first = feature_gradient(op, features, upstream)
    np.testing.assert_allclose(first, reference, rtol=rtol, atol=atol)
    for _ in range(repeats):
        assert np.array_equal(feature_gradient(op, features, upstream), first)


def assert_gradient_matches_numeric(op, features, atol=1e-6):
    """tf.test.compute_gradient's Jacobians of ``op`` at the (float64)
    ``features``: the registered one equals the finite differences, and
    is not all zero."""
    theoretical, numerical = tf.test.compute_gradient(op, [features], delta=1e-6)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=atol)
    assert np.abs(theoretical[0]).sum() > 0
