"""ResNet (He et al. 2016) as the public model zoos build it, with frozen
BatchNorm: the backbone that torchvision's and detectron2's weights fit.

  resnet    bottleneck ResNet-50 / 101 (RESNETS.DEPTH): a 7x7 stride-2 stem
            conv, frozen BatchNorm, ReLU and a 3x3 stride-2 max-pool; then
            res2..res5 (3, 4, 6 or 23, 3 blocks) of 1x1 -> 3x3 -> 1x1 convs
            with a projection shortcut in each stage's first block.
            Levels c2 (256 ch, stride 4) .. c5 (2048, stride 32).

Where the zoos differ, a config key says which (detect/config.py):
  RESNETS.STRIDE_IN_1X1  a stage's stride-2 in its first 1x1 conv (MSRA /
                         Caffe ResNets: detectron2's R-50.pkl and its COCO
                         models, Keras) or in the 3x3 (torchvision).
  RESNETS.NORM_EPS       frozen BatchNorm's epsilon: 1e-5 (detectron2;
                         torchvision ImageNet weights), 0 (torchvision's v1
                         COCO detectors: their loaders set it to 0).
Convolutions have no bias. Padding is PyTorch's: symmetric, explicit
before every strided conv (TensorFlow's "same" would pad more at the bottom
and right), so the same weights give the same features.

Layer names follow the stages: ``stem_conv``, ``stem_bn``,
``res<s>_<b>_conv<k>`` / ``_bn<k>`` and ``res<s>_<b>_shortcut`` /
``_shortcut_bn`` (detect/weights/zoo.py maps the zoos' names onto them).
"""
import keras
import tensorflow as tf

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def msra_fill():
    """detectron2's c2_msra_fill: He normal over fan-out (a new initializer
    per layer: one shared instance would give equal shapes equal draws)."""
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")


class FrozenBatchNorm(keras.layers.Layer):
    """y = (x - mean) * gamma / sqrt(var + eps) + beta with fixed statistics
    and affine parameters (torchvision's and detectron2's FrozenBatchNorm2d:
    buffers, never trained). [..., C] -> [..., C]."""

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        c = int(input_shape[-1])
        add = lambda name, init: self.add_weight(name=name, shape=(c,), initializer=init,
                                                 trainable=False)
        self.gamma, self.beta = add("gamma", "ones"), add("beta", "zeros")
        self.moving_mean, self.moving_variance = add("moving_mean", "zeros"), add("moving_variance", "ones")

    def call(self, x):
        # the zoos' order of operations: scale = gamma * rsqrt(var + eps),
        # shift = beta - mean * scale, x * scale + shift
        scale = self.gamma * tf.math.rsqrt(self.moving_variance + self.epsilon)
        shift = self.beta - self.moving_mean * scale
        return x * tf.cast(scale, x.dtype) + tf.cast(shift, x.dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _conv(x, filters, kernel, stride, name):
    """A bias-free conv with PyTorch's symmetric zero padding (kernel // 2)."""
    pad = kernel // 2
    if pad and stride > 1:
        x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same" if pad else "valid"
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False,
                               kernel_initializer=msra_fill(), name=name)(x)


def bottleneck(x, width, out, stride, stride_in_1x1, eps, name, project):
    """One bottleneck block: 1x1 (width) -> 3x3 (width) -> 1x1 (out), plus
    the identity or a 1x1 projection (stride) shortcut, then ReLU."""
    s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
    shortcut = x
    if project:
        shortcut = _conv(x, out, 1, stride, f"{name}_shortcut")
        shortcut = FrozenBatchNorm(eps, name=f"{name}_shortcut_bn")(shortcut)
    y = _conv(x, width, 1, s1, f"{name}_conv1")
    y = keras.layers.ReLU(name=f"{name}_relu1")(FrozenBatchNorm(eps, name=f"{name}_bn1")(y))
    y = _conv(y, width, 3, s3, f"{name}_conv2")
    y = keras.layers.ReLU(name=f"{name}_relu2")(FrozenBatchNorm(eps, name=f"{name}_bn2")(y))
    y = _conv(y, out, 1, 1, f"{name}_conv3")
    y = FrozenBatchNorm(eps, name=f"{name}_bn3")(y)
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([y, shortcut]))


def stage(x, level, count, stride_in_1x1=False, eps=1e-5):
    """Stage res<level> (2..5): ``count`` bottleneck blocks, the first with
    a projection shortcut and (past res2) stride 2."""
    width = 64 * 2 ** (level - 2)
    for b in range(count):
        stride = 2 if b == 0 and level > 2 else 1
        x = bottleneck(x, width, 4 * width, stride, stride_in_1x1, eps, f"res{level}_{b}", project=b == 0)
    return x


def resnet_body(depth=50, stride_in_1x1=False, eps=1e-5, top_level=5):
    """(inputs, {level: output}) of a ResNet up to level ``top_level`` (c2..c5)."""
    if depth not in BLOCKS:
        raise ValueError(f"RESNETS.DEPTH must be one of {sorted(BLOCKS)}, got {depth}")
    inputs = keras.Input((None, None, 3))
    x = _conv(inputs, 64, 7, 2, "stem_conv")
    x = keras.layers.ReLU(name="stem_relu")(FrozenBatchNorm(eps, name="stem_bn")(x))
    # max-pool 3x3 / 2 with padding 1: after the ReLU every value is >= 0,
    # so zero padding is PyTorch's -inf padding
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = keras.layers.MaxPooling2D(3, 2, name="stem_pool")(x)
    outputs = {}
    for level, count in zip(range(2, top_level + 1), BLOCKS[depth]):
        outputs[level] = x = stage(x, level, count, stride_in_1x1, eps)
    return inputs, outputs
