"""Conv2D for stride-1 "same" convolutions with an odd k x k kernel, whose
training step works in a bounded workspace on the CPU.

TensorFlow's CPU kernels for a convolution's gradients (Conv2DBackpropFilter
and Conv2DBackpropInput, with oneDNN on or off) build the im2col matrix of
the whole image: H x W x k^2 x C floats, 330 MB for a 3x3 conv of 256
channels on FPN's P2 of a 600 x 1000 image (150 x 250), against 37 MB for
the activation. With oneDNN on, its gemm-based forward convolution (what it
picks on an AVX2 CPU for these shapes) takes the same matrix as its
scratchpad. The FPN's output conv and the RPN's conv on P2 each need it in
every training step, while all the activations kept for the backward pass
are held. PyTorch's convolutions take no such matrix.

``StripedConv2D`` computes the same values in stripes of rows, each stripe's
im2col matrix at most ``stripe_bytes`` (16 MiB; TensorFlow's filter-gradient
kernel holds two), one stripe after another (a while loop):

  output   = conv2d(x, kernel): in one call with Eigen's kernels (they need
             no im2col matrix); over stripes with oneDNN's.
  d input  = conv2d(d output, the kernel rotated by 180 degrees with its in
             and out channels swapped), "same": a forward convolution as above;
  d kernel = the sum over stripes of TensorFlow's own Conv2DBackpropFilter on
             the stripe (with its k - 1 rows of halo).

All three equal the default ones up to float rounding (tests/modeling/
test_conv.py). Where one stripe holds the whole image (a small image or
map), TensorFlow's own kernels run, as in Keras' Conv2D. Other settings
(strides, dilation, "valid" padding, even or 1x1 kernels) and GPUs (cuDNN
needs no im2col matrix) use Keras' Conv2D as is.
"""
import functools

import keras
import tensorflow as tf

from detect.tf_env import onednn_enabled

STRIPE_BYTES = 16 * 2 ** 20


@functools.lru_cache(maxsize=None)
def _on_gpu():
    """Whether TensorFlow sees a GPU (asked once: every layer call asks)."""
    return bool(tf.config.list_physical_devices("GPU"))


def _stripes(x, k, stripe_bytes):
    """(rows per stripe, number of stripes) of x [B, H, W, C] for a k x k
    kernel: as many rows as keep a stripe's im2col matrix (B x rows x W x
    k^2 x C) within stripe_bytes, at least one."""
    shape = tf.shape(x)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    row_bytes = tf.cast(b * w * c, tf.int64) * (k * k * x.dtype.size)
    rows = tf.cast(tf.maximum(tf.constant(stripe_bytes, tf.int64) // tf.maximum(row_bytes, 1), 1),
                   tf.int32)
    return rows, (h + rows - 1) // rows


def _stripe(x, i, rows, k):
    """(input of stripe i, r0, r1): the stripe's output rows r0..r1 read
    input rows r0 - k // 2 .. r1 + k // 2, those inside the image, zero-padded
    to the rest and by k // 2 columns either side ("same"). Padded here, per
    stripe: a padded copy of all of x would be made early in the step (it
    depends on x only) and held until the backward pass."""
    p, h = k // 2, tf.shape(x)[1]
    r0 = i * rows
    r1 = tf.minimum(r0 + rows, h)
    top, bottom = tf.maximum(r0 - p, 0), tf.minimum(r1 + p, h)
    return tf.pad(x[:, top:bottom], [[0, 0], [top - (r0 - p), r1 + p - bottom], [p, p], [0, 0]]), r0, r1


def forward(x, kernel, stripe_bytes=STRIPE_BYTES, in_stripes=None):
    """conv2d(x [B, H, W, C], kernel [k, k, C, O], stride 1, "same"), over
    stripes of rows when in_stripes (None: when TensorFlow runs oneDNN
    kernels, whose gemm-based convolution takes one im2col matrix of x as its
    scratchpad: 366 MB for the RPN's conv on P2 of a 600 x 1000 image) and
    that matrix would exceed stripe_bytes; else in one call."""
    if not (onednn_enabled() if in_stripes is None else in_stripes):
        return tf.nn.conv2d(x, kernel, 1, "SAME")
    k = kernel.shape[0]
    rows, stripes = _stripes(x, k, stripe_bytes)

    def striped():
        def body(i, parts):
            stripe, _, _ = _stripe(x, i, rows, k)
            y = tf.nn.conv2d(stripe, kernel, 1, "VALID")  # [B, r1 - r0, W, O]
            return i + 1, parts.write(i, tf.transpose(y, [1, 0, 2, 3]))

        parts = tf.TensorArray(x.dtype, size=stripes, infer_shape=False)
        _, parts = tf.while_loop(lambda i, _: i < stripes, body, [tf.constant(0), parts],
                                 parallel_iterations=1)
        return tf.transpose(parts.concat(), [1, 0, 2, 3])

    return tf.cond(stripes > 1, striped, lambda: tf.nn.conv2d(x, kernel, 1, "SAME"))


def filter_gradient(x, dy, kernel_size, stripe_bytes=STRIPE_BYTES):
    """d kernel of conv2d(x, kernel, stride 1, "same") for upstream dy.

    x: [B, H, W, C]; dy: [B, H, W, O]; kernel_size: odd k. Returns
    [k, k, C, O] in x's dtype, summed over stripes of rows in float32.
    """
    k = kernel_size
    c, o = x.shape[-1], dy.shape[-1]
    rows, stripes = _stripes(x, k, stripe_bytes)

    def body(i, total):
        stripe, r0, r1 = _stripe(x, i, rows, k)
        part = tf.compat.v1.nn.conv2d_backprop_filter(stripe, [k, k, c, o], dy[:, r0:r1],
                                                      [1, 1, 1, 1], "VALID")
        return i + 1, total + tf.cast(part, tf.float32)

    _, total = tf.while_loop(lambda i, _: i < stripes, body,
                             [tf.constant(0), tf.zeros([k, k, c, o], tf.float32)],
                             parallel_iterations=1)
    return tf.cast(total, x.dtype)


def input_gradient(dy, kernel, stripe_bytes=STRIPE_BYTES):
    """d x of conv2d(x, kernel [k, k, C, O], stride 1, "same") for upstream
    dy [B, H, W, O]: a "same" convolution of dy with the kernel flipped in
    space, its C and O swapped (odd k, so the padding is symmetric)."""
    flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
    return forward(dy, flipped, stripe_bytes)


def striped_conv2d(x, kernel, stripe_bytes=STRIPE_BYTES):
    """conv2d(x [B, H, W, C], kernel [k, k, C, O], stride 1, "same") with the
    bounded-workspace gradients above."""
    k = kernel.shape[0]

    @tf.custom_gradient
    def conv(x, kernel):
        def grad(dy):
            dy = tf.ensure_shape(dy, [None, None, None, kernel.shape[-1]])  # lost under oneDNN

            def default():  # TensorFlow's own gradient of Conv2D, to the last bit
                ones = [1, 1, 1, 1]
                return (tf.compat.v1.nn.conv2d_backprop_input(tf.shape(x), kernel, dy, ones, "SAME"),
                        tf.compat.v1.nn.conv2d_backprop_filter(x, tf.shape(kernel), dy, ones, "SAME"))

            def striped():
                return input_gradient(dy, kernel, stripe_bytes), filter_gradient(x, dy, k, stripe_bytes)

            # one stripe (a small image): TensorFlow's kernels, whose matrix fits the bound
            return tf.cond(_stripes(x, k, stripe_bytes)[1] > 1, striped, default)
        return forward(x, kernel, stripe_bytes), grad

    return conv(x, kernel)


class StripedConv2D(keras.layers.Conv2D):
    """keras.layers.Conv2D (same arguments, same weights and checkpoints)
    whose backward pass, for a stride-1 "same" conv with an odd square kernel
    on the CPU, is ``striped_conv2d``'s."""

    def _striped(self):
        k = self.kernel_size
        return (k[0] == k[1] and k[0] % 2 == 1 and k[0] > 1 and self.strides == (1, 1)
                and self.dilation_rate == (1, 1) and self.padding == "same" and self.groups == 1
                and self.data_format == "channels_last" and not _on_gpu())

    def convolution_op(self, inputs, kernel):
        if not self._striped():
            return super().convolution_op(inputs, kernel)
        return striped_conv2d(inputs, tf.convert_to_tensor(kernel))
