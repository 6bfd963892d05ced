"""BoundedConv2D: Keras' Conv2D with a bounded-workspace training step. Its
forward pass and both gradients must equal the default ones, whichever way
(whole, chunks of images, shifted matrix products) the plan picks."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from detect.modeling import conv
from detect.modeling.conv import (CHUNKS, SHIFTS, WHOLE, BoundedConv2D, bounded_conv2d, filter_gradient,
                                  forward, input_gradient, plan)
from detect.utils.cpu import onednn_avx512


def _default_gradients(x, kernel, upstream):
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = tf.nn.conv2d(x, kernel, 1, "SAME")
        loss = tf.reduce_sum(y * upstream)
    return y, tape.gradient(loss, [x, kernel])


# one image's im2col matrix: h * w * k^2 * c * 4 bytes
@pytest.mark.parametrize("shape,k,workspace,mode", [
    ((2, 13, 11, 5, 7), 3, 1, SHIFTS),            # odd sizes, batch 2
    ((1, 17, 9, 4, 6), 5, 3000, SHIFTS),          # a 5x5 kernel
    ((3, 6, 8, 3, 2), 3, 2 ** 30, WHOLE),         # all at once
    ((5, 4, 6, 3, 2), 3, 2 * 3456, CHUNKS),       # chunks of 2 images, a short last chunk
    ((4, 4, 6, 3, 2), 3, 3456, CHUNKS),           # one image per chunk
    ((1, 1, 1, 3, 2), 3, 1, SHIFTS),              # a 1 x 1 image: the kernel reaches only padding
])
def test_gradients_equal_the_default_ones(shape, k, workspace, mode):
    b, h, w, c, o = shape
    rng = np.random.default_rng(k + h)
    x = tf.constant(rng.normal(size=(b, h, w, c)), tf.float32)
    kernel = tf.constant(rng.normal(size=(k, k, c, o)), tf.float32)
    upstream = tf.constant(rng.normal(size=(b, h, w, o)), tf.float32)
    want_y, (want_dx, want_dk) = _default_gradients(x, kernel, upstream)
    assert int(plan(x, k, workspace)[0]) == mode

    for bounded in (True, False):  # as with oneDNN's kernels, and with Eigen's
        np.testing.assert_allclose(forward(x, kernel, workspace, bounded), want_y,
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(input_gradient(upstream, kernel, workspace, bounded), want_dx,
                                   rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(filter_gradient(x, upstream, k, workspace), want_dk,
                               rtol=1e-4, atol=1e-4)
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = bounded_conv2d(x, kernel, workspace)
        loss = tf.reduce_sum(y * upstream)
    dx, dk = tape.gradient(loss, [x, kernel])
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dk, want_dk, rtol=1e-4, atol=1e-4)


def test_plan():
    x = tf.zeros([4, 10, 20, 8])  # one image's matrix: 10 * 20 * 9 * 8 * 4 = 57600 bytes
    assert [int(v) for v in plan(x, 3, 4 * 57600)] == [WHOLE, 4]
    assert [int(v) for v in plan(x, 3, 3 * 57600 + 5)] == [CHUNKS, 3]
    assert [int(v) for v in plan(x, 3, 57600)] == [CHUNKS, 1]
    assert [int(v) for v in plan(x, 3, 57599)] == [SHIFTS, 1]
    assert int(plan(tf.zeros([4, 10, 20, 8], tf.bfloat16), 3, 2 * 57600)[0]) == WHOLE


def test_bounded_under_tf_function_with_unknown_image_size():
    rng = np.random.default_rng(1)
    kernel = tf.constant(rng.normal(size=(3, 3, 4, 4)), tf.float32)
    workspace = 2 * 4 * 4 * 9 * 4 * 4  # two 4 x 4 images

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 4])])
    def grads(x):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            loss = tf.reduce_sum(tf.sin(bounded_conv2d(x, kernel, workspace)))
        return tape.gradient(loss, [x, kernel])

    bounded_forward = tf.function(lambda x: forward(x, kernel, workspace, True),
                                  input_signature=[tf.TensorSpec([None, None, None, 4])])
    for size in [(1, 9, 7), (2, 4, 12), (5, 4, 4), (2, 2, 2)]:  # shifts, shifts, chunks, whole
        x = tf.constant(rng.normal(size=size + (4,)), tf.float32)
        np.testing.assert_allclose(bounded_forward(x), tf.nn.conv2d(x, kernel, 1, "SAME"),
                                   rtol=1e-5, atol=1e-5)
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            loss = tf.reduce_sum(tf.sin(tf.nn.conv2d(x, kernel, 1, "SAME")))
        want = tape.gradient(loss, [x, kernel])
        for got, w in zip(grads(x), want):
            np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("native", [False, True])  # Eigen-like kernels (the bounded step), oneDNN AVX-512 / GPU
def test_layer_matches_keras_conv2d_and_falls_back_where_it_does_not_apply(native, monkeypatch):
    monkeypatch.setattr(conv, "native_kernels_bounded", lambda: native)
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(2, 10, 12, 3)), tf.float32)
    for kwargs, applies in [(dict(kernel_size=3, padding="same", activation="relu"), True),
                            (dict(kernel_size=3, strides=2, padding="same"), False),
                            (dict(kernel_size=3, padding="valid"), False),
                            (dict(kernel_size=1), False),
                            (dict(kernel_size=3, padding="same", dilation_rate=2), False)]:
        ours, ref = BoundedConv2D(5, **kwargs), keras.layers.Conv2D(5, **kwargs)
        ours.build(x.shape)
        ref.build(x.shape)
        ref.set_weights([w + 0.1 for w in ours.get_weights()])
        ours.set_weights(ref.get_weights())
        assert ours._applies() is applies, kwargs
        assert ours._bounded() is (applies and not native), kwargs
        results = []
        for layer in (ours, ref):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.square(layer(x)))
            results.append([loss] + tape.gradient(loss, [x] + layer.trainable_variables))
        for got, want in zip(*results):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_layer_takes_tensorflows_kernels_where_they_need_no_im2col_matrix(monkeypatch):
    layer = BoundedConv2D(5, 3, padding="same")
    monkeypatch.setattr(conv, "native_kernels_bounded", lambda: True)
    assert layer._bounded() is False  # TensorFlow's own kernels
    monkeypatch.setattr(conv, "native_kernels_bounded", lambda: False)
    assert layer._bounded() is True   # the bounded-workspace step


def test_onednn_avx512_reads_the_cpu_flags_and_the_isa_cap():
    avx512 = ["fpu", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]
    assert onednn_avx512(avx512, {})
    assert not onednn_avx512(["fpu", "avx2", "fma"], {})
    assert not onednn_avx512(["avx2", "avx512f"], {})  # AVX-512 F alone is not oneDNN's avx512_core
    assert not onednn_avx512([], {})  # no /proc/cpuinfo: unknown
    assert not onednn_avx512(avx512, {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert not onednn_avx512(avx512, {"DNNL_MAX_CPU_ISA": "avx2_vnni"})
    for cap in ("ALL", "AVX512_CORE", "avx512_core_amx", "AVX10_1_512"):
        assert onednn_avx512(avx512, {"ONEDNN_MAX_CPU_ISA": cap}), cap
    assert isinstance(onednn_avx512(), bool)  # this machine's flags


def test_layer_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = BoundedConv2D(4, 3, padding="same")
        x = tf.random.stateless_normal([1, 9, 9, 3], [0, 3])
        with tf.GradientTape() as tape:
            y = layer(x)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
        grads = tape.gradient(loss, layer.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert y.dtype == tf.bfloat16
    assert [g.dtype for g in grads] == [tf.float32, tf.float32]
    assert all(np.isfinite(g.numpy()).all() and np.abs(g.numpy()).sum() > 0 for g in grads)


@pytest.mark.parametrize("workspace", [1, 2 * 8 * 8 * 9 * 3 * 2])  # shifts; chunks of 2 bfloat16 images
def test_bfloat16_bounded_paths_follow_float32(workspace):
    rng = np.random.default_rng(3)
    # inputs exactly representable in bfloat16, so that the float32 reference
    # differs from the bfloat16 paths only by their arithmetic
    x = tf.cast(tf.cast(rng.normal(size=(3, 8, 8, 3)), tf.bfloat16), tf.float32)
    kernel = tf.cast(tf.cast(rng.normal(size=(3, 3, 3, 4)), tf.bfloat16), tf.float32)
    results = []
    for dtype, ws in [(tf.float32, 2 ** 30), (tf.bfloat16, workspace)]:
        xd, kd = tf.cast(x, dtype), tf.cast(kernel, dtype)
        with tf.GradientTape() as tape:
            tape.watch([xd, kd])
            y = bounded_conv2d(xd, kd, ws)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
        dx, dk = tape.gradient(loss, [xd, kd])
        assert y.dtype == dx.dtype == dk.dtype == dtype
        results.append([tf.cast(t, tf.float32).numpy() for t in (y, dx, dk)])
    # bfloat16 keeps 8 significant bits (a relative step of 2^-8); y, the
    # upstream 2y and each gradient are rounded once each, so a chain of 3
    # roundings bounds the error by 3 * 2^-8 of the largest entry (measured:
    # at most 2^-8 here). Dropping one of the 9 shifts would err by ~1/9.
    for name, got, want in zip(("y", "dx", "dk"), results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=0, atol=3 * 2.0 ** -8 * np.abs(want).max(), err_msg=name)


@pytest.mark.parametrize("kernel_size,strides", [(1, 1), (3, 1), (1, 2)])
def test_pointwise_layer_matches_keras_conv2d(kernel_size, strides):
    """PointwiseConv2D: Keras' forward pass to the last bit (bias and ReLU
    fused or not), gradients of input, kernel and bias equal up to float
    rounding; other settings are Keras' Conv2D."""
    rng = np.random.default_rng(kernel_size + strides)
    x = tf.constant(rng.normal(size=(2, 9, 7, 6)), tf.float32)
    ours = conv.PointwiseConv2D(5, kernel_size, strides=strides, activation="relu", padding="same")
    theirs = keras.layers.Conv2D(5, kernel_size, strides=strides, activation="relu", padding="same")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in ours.get_weights()])
    ours.set_weights(theirs.get_weights())

    def step(layer):
        @tf.function
        def run(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x)
                loss = tf.reduce_sum(y * tf.sin(y))
            return y, tape.gradient(loss, [x] + layer.trainable_variables)
        return run(x)

    (y, grads), (want_y, want_grads) = step(ours), step(theirs)
    np.testing.assert_array_equal(y.numpy(), want_y.numpy())
    for g, want in zip(grads, want_grads):
        np.testing.assert_allclose(g.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def test_pointwise_layer_with_unknown_sizes_and_under_mixed_precision():
    """Traced once for any batch and image size, and under mixed_bfloat16
    the gradients reach the float32 weights. (An empty batch is left out:
    TensorFlow's own Conv2D returns it with the input's channels, with or
    without this layer.)"""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = conv.PointwiseConv2D(4, 1)
        layer.build((None, None, None, 3))

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x)
                loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
            return y, tape.gradient(loss, [x] + layer.trainable_variables)

        results = {shape: step(tf.random.stateless_normal(shape, [0, 4]))
                   for shape in [(2, 5, 7, 3), (1, 9, 4, 3), (3, 14, 14, 3)]}
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert step.experimental_get_tracing_count() == 1
    for shape, (y, (dx, dk, db)) in results.items():
        assert y.dtype == tf.bfloat16 and tuple(y.shape) == shape[:3] + (4,)
        assert dx.shape == shape and dk.dtype == tf.float32 and dk.shape == (1, 1, 3, 4)
        assert db.dtype == tf.float32 and np.isfinite(dk.numpy()).all() and np.abs(dk.numpy()).sum() > 0
