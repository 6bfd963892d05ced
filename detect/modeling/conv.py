"""Conv2D for stride-1 "same" convolutions with an odd k x k kernel, whose
training step works in a bounded workspace on the CPU.

TensorFlow's Eigen CPU kernels for a convolution's gradients
(Conv2DBackpropFilter and Conv2DBackpropInput) build the im2col matrix of
the whole batch: B x H x W x k^2 x C floats, 330 MB for a 3x3 conv of 256
channels on FPN's P2 of a 600 x 1000 image (150 x 250), against 37 MB for
the activation. With oneDNN on an AVX2 CPU (an AMD EPYC), its gemm-based
forward convolution took the same matrix as its scratchpad, and its
gradients were 2-4x slower than the plan below. The FPN's output conv and
the RPN's conv on P2 each need it in every training step, while all the
activations kept for the backward pass are held; so does the mask head's
conv on a batch of RoIs. PyTorch's convolutions take no such matrix.

``BoundedConv2D`` computes the same values in one of three ways, chosen at
run time from the batch's shape (``plan``), so that no matrix is larger than
``workspace_bytes`` (16 MiB):

  WHOLE    the batch's im2col matrix fits: TensorFlow's own kernels, as
           Keras' Conv2D (small images, the quick start's model).
  CHUNKS   one image's matrix fits (e.g. the mask head's 14 x 14 RoIs):
           TensorFlow's kernels on chunks of images, one chunk after
           another (a while loop); d kernel is the sum over the chunks.
  SHIFTS   one image's matrix does not fit (FPN's P2 and P3): k^2 matrix
           products of shifted views, no im2col matrix at all. With the
           input zero-padded to Hp x Wp and flattened to [B * Hp * Wp, C],
           the input of output pixel q under kernel tap (i, j) is row
           q + i * Wp + j, so for each tap:
             output   += x_flat[s : s + n] @ kernel[i, j]       (s = i * Wp + j)
             d kernel[i, j] = x_flat[s : s + n]^T @ dy_flat[:n]
           where dy_flat is dy padded to the same grid with zeros (rows of
           the grid that are not output pixels then add nothing). The slices
           are views of one padded copy; the products are TensorFlow's
           MatMul (oneDNN's or Eigen's).

d input is a forward convolution of dy with the kernel rotated by 180
degrees and its in and out channels swapped ("same"; odd k, so the padding is
symmetric), computed as the forward pass is. The forward pass itself runs in
one call with Eigen's kernels (they take no im2col matrix) and as planned
with oneDNN's. Measured on one 150 x 250 x 256 conv, 2 threads, AVX2: d
kernel by shifts 0.70 s with oneDNN (its Conv2DBackpropFilter: 2.4-2.9 s)
and 0.78-0.85 s with Eigen (0.88-0.94 s); the forward pass by shifts 0.70 s
with oneDNN (1.1-1.2 s), while Eigen's Conv2D (0.68 s) beats shifts (1.0 s).

All of it equals the default convolution up to float rounding
(tests/modeling/test_conv.py). Other settings (strides, dilation, "valid"
padding, even or 1 x 1 kernels; for 1 x 1 see PointwiseConv2D below) use
Keras' Conv2D as is, and so does every
conv where TensorFlow's own kernels take no such matrix
(``native_kernels_bounded``): cuDNN on a GPU, and oneDNN's on a CPU with
AVX-512 (its brgemm and jit avx512_core convolutions work on NHWC in place).
There the plan only costs: R50-FPN's training step on a 600 x 1000 image,
oneDNN, AVX-512 (Xeon, 2 threads) peaked at 2.38 GB resident with the plan
and 2.01 GB with TensorFlow's kernels, in the same time (3.1 s), because the
shifted products' padded copies are larger than what oneDNN's convolutions
take; with oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2) on the same CPU
the plan is the faster (5.0 s against 6.1 s).

``PointwiseConv2D`` is a 1 x 1 conv (the RPN's logits and deltas, FPN's
laterals, the mask predictor) whose forward pass is TensorFlow's
convolution, to the last bit, and whose gradients are two matrix products
over the batch's pixels: d x = dy K^T, d K = x^T dy. On the quick start's
shapes (e.g. 2 x 40 x 50 x 64 -> 12; 32 RoIs x 28 x 28 x 64 -> 4) a 1 x 1
conv's whole training step took 0.40-0.96x the time of Keras' Conv2D
(oneDNN's gradient kernels) on AVX-512, 0.67-0.92x capped at AVX2
(benchmarks/bench_pointwise.py, docs/benchmarks.md). On a GPU, where it was
not measured, it is Keras' Conv2D.
"""
import functools

import keras
import tensorflow as tf

from detect.tf_env import onednn_enabled
from detect.utils.cpu import onednn_avx512

WORKSPACE_BYTES = 16 * 2 ** 20
WHOLE, CHUNKS, SHIFTS = 0, 1, 2


@functools.lru_cache(maxsize=None)
def _on_gpu():
    """Whether TensorFlow sees a GPU (asked once: every layer call asks)."""
    return bool(tf.config.list_physical_devices("GPU"))


@functools.lru_cache(maxsize=None)
def native_kernels_bounded():
    """Whether TensorFlow's own convolution kernels, forward and backward,
    take no im2col matrix here: on a GPU (cuDNN), and with oneDNN's kernels
    on a CPU with AVX-512. BoundedConv2D is then Keras' Conv2D."""
    return _on_gpu() or (bool(onednn_enabled()) and onednn_avx512())


def plan(x, k, workspace_bytes=WORKSPACE_BYTES):
    """(mode, images per chunk) for x [B, H, W, C] and a k x k kernel: WHOLE
    if the batch's im2col matrix (B x H x W x k^2 x C) fits workspace_bytes,
    CHUNKS if one image's does (as many images per chunk as fit), else
    SHIFTS. Scalar int32 tensors (the shape may be known only at run time)."""
    shape = tf.shape(x)
    image_bytes = tf.cast(shape[1] * shape[2] * shape[3], tf.int64) * (k * k * x.dtype.size)
    fit = tf.constant(workspace_bytes, tf.int64) // tf.maximum(image_bytes, 1)
    b = tf.cast(shape[0], tf.int64)
    mode = tf.where(fit >= b, WHOLE, tf.where(fit >= 1, CHUNKS, SHIFTS))
    return mode, tf.cast(tf.clip_by_value(fit, 1, tf.maximum(b, 1)), tf.int32)


def _flat(x, k):
    """(x zero-padded by k // 2 on every side and flattened to
    [B * Hp * Wp, C], Wp, n): rows s .. s + n of it, s = i * Wp + j, are
    the inputs of every output pixel (on the padded grid) under tap (i, j)."""
    p = k // 2
    shape = tf.shape(x)
    hp, wp = shape[1] + 2 * p, shape[2] + 2 * p
    flat = tf.reshape(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]), [-1, x.shape[-1]])
    return flat, wp, shape[0] * hp * wp - (2 * p * wp + 2 * p)


def shifted_conv2d(x, kernel):
    """conv2d(x [B, H, W, C], kernel [k, k, C, O], stride 1, "same") as k^2
    matrix products of shifted views of the padded input."""
    k, o = kernel.shape[0], kernel.shape[-1]
    p = k // 2
    flat, wp, n = _flat(x, k)
    y = None
    for i in range(k):
        for j in range(k):
            s = i * wp + j
            # one product at a time: the executor would otherwise run all k^2
            # ahead of the sums and hold them ([n, O] each)
            with tf.control_dependencies([] if y is None else [y]):
                part = tf.matmul(flat[s:s + n], kernel[i, j])
            y = part if y is None else y + part
    shape = tf.shape(x)
    y = tf.reshape(tf.pad(y, [[0, 2 * p * wp + 2 * p], [0, 0]]), [shape[0], shape[1] + 2 * p, wp, o])
    return y[:, :shape[1], :shape[2]]


def shifted_filter_gradient(x, dy, k):
    """d kernel [k, k, C, O] of conv2d(x [B, H, W, C], kernel, stride 1,
    "same") for upstream dy [B, H, W, O], as k^2 matrix products."""
    c, o, p = x.shape[-1], dy.shape[-1], k // 2
    # after dy: a padded copy of x depends on x only, and would otherwise be
    # made early in the step (in the forward pass) and held to the end
    with tf.control_dependencies([dy]):
        flat, wp, n = _flat(x, k)
    dy_flat = tf.reshape(tf.pad(dy, [[0, 0], [0, 2 * p], [0, 2 * p], [0, 0]]), [-1, o])[:n]
    taps = [tf.matmul(flat[i * wp + j:i * wp + j + n], dy_flat, transpose_a=True)
            for i in range(k) for j in range(k)]
    return tf.reshape(tf.stack(taps), [k, k, c, o])


def _chunks(fn, x, per_chunk, combine):
    """fn over chunks of per_chunk images of x, one chunk after another;
    combine "concat" (outputs in image order) or "sum" (float32 total)."""
    b = tf.shape(x)[0]
    count = (b + per_chunk - 1) // per_chunk

    def part(i):
        lo = i * per_chunk
        return fn(lo, tf.minimum(lo + per_chunk, b))

    if combine == "sum":
        def body(i, total):
            return i + 1, total + tf.cast(part(i), tf.float32)
        first = tf.cast(part(0), tf.float32)
        _, total = tf.while_loop(lambda i, _: i < count, body, [tf.constant(1), first],
                                 parallel_iterations=1)
        return total

    def body(i, parts):
        return i + 1, parts.write(i, part(i))
    parts = tf.TensorArray(x.dtype, size=count, infer_shape=False)
    _, parts = tf.while_loop(lambda i, _: i < count, body, [tf.constant(0), parts],
                             parallel_iterations=1)
    return parts.concat()


def forward(x, kernel, workspace_bytes=WORKSPACE_BYTES, bounded=None):
    """conv2d(x [B, H, W, C], kernel [k, k, C, O], stride 1, "same").

    bounded (None: whether TensorFlow runs oneDNN kernels that are not
    ``native_kernels_bounded``, i.e. on a CPU without AVX-512, where they
    are slower than the plan): as ``plan`` says; else in one call (Eigen's
    convolution needs no im2col matrix, nor do oneDNN's AVX-512 ones)."""
    if bounded is None:
        bounded = bool(onednn_enabled()) and not native_kernels_bounded()
    if not bounded:
        return tf.nn.conv2d(x, kernel, 1, "SAME")
    mode, per_chunk = plan(x, kernel.shape[0], workspace_bytes)
    y = tf.switch_case(mode, [
        lambda: tf.nn.conv2d(x, kernel, 1, "SAME"),
        lambda: _chunks(lambda lo, hi: tf.nn.conv2d(x[lo:hi], kernel, 1, "SAME"), x, per_chunk, "concat"),
        lambda: shifted_conv2d(x, kernel)])
    y.set_shape(x.shape[:-1].concatenate([kernel.shape[-1]]))
    return y


def filter_gradient(x, dy, kernel_size, workspace_bytes=WORKSPACE_BYTES):
    """d kernel [k, k, C, O] of conv2d(x [B, H, W, C], kernel, stride 1,
    "same") for upstream dy [B, H, W, O], as ``plan`` says (chunks are
    summed in float32), in x's dtype."""
    k = kernel_size
    shape = [k, k, x.shape[-1], dy.shape[-1]]
    mode, per_chunk = plan(x, k, workspace_bytes)

    def tf_kernel(lo, hi):
        return tf.compat.v1.nn.conv2d_backprop_filter(x[lo:hi], shape, dy[lo:hi], [1, 1, 1, 1], "SAME")

    return tf.switch_case(mode, [
        lambda: tf.compat.v1.nn.conv2d_backprop_filter(x, shape, dy, [1, 1, 1, 1], "SAME"),
        lambda: tf.cast(_chunks(tf_kernel, x, per_chunk, "sum"), x.dtype),
        lambda: shifted_filter_gradient(x, dy, k)])


def input_gradient(dy, kernel, workspace_bytes=WORKSPACE_BYTES, bounded=None):
    """d x of conv2d(x, kernel [k, k, C, O], stride 1, "same") for upstream
    dy [B, H, W, O]: a "same" convolution of dy with the kernel rotated by
    180 degrees, its C and O swapped (``forward``)."""
    rotated = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
    return forward(dy, rotated, workspace_bytes, bounded)


def _gradient_scope():
    """A custom gradient runs outside the layer's name scope: the scope to
    open in it, under the tape's name for the layer's, so that the profiler
    counts its ops with the layer (engine/profiling.py). Called when the
    forward pass is built."""
    scope = tf.get_current_name_scope()
    return functools.partial(tf.name_scope, f"gradient_tape/{scope}/" if scope else "gradient_tape/")


def bounded_conv2d(x, kernel, workspace_bytes=WORKSPACE_BYTES):
    """conv2d(x [B, H, W, C], kernel [k, k, C, O], stride 1, "same") with the
    bounded-workspace forward pass and gradients above."""
    k = kernel.shape[0]
    in_scope = _gradient_scope()

    @tf.custom_gradient
    def conv(x, kernel):
        def grad(dy):
            with in_scope():
                return grad_in_scope(dy)

        def grad_in_scope(dy):
            dy = tf.ensure_shape(dy, [None, None, None, kernel.shape[-1]])  # lost under oneDNN

            # the whole batch at once: TensorFlow's own input gradient, to the
            # last bit (filter_gradient runs TensorFlow's own kernel then too)
            dx = tf.cond(tf.equal(plan(x, k, workspace_bytes)[0], WHOLE),
                         lambda: tf.compat.v1.nn.conv2d_backprop_input(tf.shape(x), kernel, dy, [1, 1, 1, 1],
                                                                       "SAME"),
                         lambda: input_gradient(dy, kernel, workspace_bytes))
            return dx, filter_gradient(x, dy, k, workspace_bytes)
        return forward(x, kernel, workspace_bytes), grad

    return conv(x, kernel)


class BoundedConv2D(keras.layers.Conv2D):
    """keras.layers.Conv2D (same arguments, same weights and checkpoints)
    whose training step, for a stride-1 "same" conv with an odd square
    kernel, is ``bounded_conv2d``'s unless TensorFlow's own kernels need no
    im2col matrix here (``native_kernels_bounded``)."""

    def _applies(self):
        """A stride-1 "same" conv with an odd square kernel over 1 x 1, NHWC."""
        k = self.kernel_size
        return (k[0] == k[1] and k[0] % 2 == 1 and k[0] > 1 and self.strides == (1, 1)
                and self.dilation_rate == (1, 1) and self.padding == "same" and self.groups == 1
                and self.data_format == "channels_last")

    def _bounded(self):
        return self._applies() and not native_kernels_bounded()

    def convolution_op(self, inputs, kernel):
        if not self._bounded():
            return super().convolution_op(inputs, kernel)
        return bounded_conv2d(inputs, tf.convert_to_tensor(kernel))


def pointwise_conv2d(x, kernel):
    """conv2d(x [B, H, W, C], kernel [1, 1, C, O], stride 1) -> [B, H, W, O]:
    TensorFlow's convolution forward; d x = dy K^T and d K = x^T dy as
    matrix products over the B * H * W pixels."""
    c, o = kernel.shape[2], kernel.shape[3]
    in_scope = _gradient_scope()

    @tf.custom_gradient
    def conv(x, kernel):
        def grad(dy):
            with in_scope():
                dy = tf.reshape(dy, [-1, o])
                matrix = tf.reshape(kernel, [c, o])
                dx = tf.reshape(tf.matmul(dy, matrix, transpose_b=True), tf.shape(x))
                dk = tf.matmul(tf.reshape(x, [-1, c]), dy, transpose_a=True)
                return dx, tf.reshape(dk, [1, 1, c, o])
        return tf.nn.conv2d(x, kernel, 1, "VALID"), grad

    return conv(x, kernel)


class PointwiseConv2D(keras.layers.Conv2D):
    """keras.layers.Conv2D (same arguments, same weights and checkpoints)
    whose 1 x 1, stride-1 convolution takes ``pointwise_conv2d``'s
    gradients on the CPU; other settings, and a GPU, are Keras' own."""

    def convolution_op(self, inputs, kernel):
        if (self.kernel_size != (1, 1) or self.strides != (1, 1) or self.dilation_rate != (1, 1)
                or self.groups != 1 or self.data_format != "channels_last" or _on_gpu()):
            return super().convolution_op(inputs, kernel)
        return pointwise_conv2d(inputs, tf.convert_to_tensor(kernel))
