"""Backbones: images -> a dict of named feature levels with their strides.

Level ``c<k>`` has stride 2^k (ResNet's C2..C5 naming; VGG16's conv5_3 at
stride 16 is ``c4``). A builder takes the levels it must return, so the same
backbone feeds a single-level detector (``[4]``, or ``[3]`` for tiny at
stride 8) or an FPN (``[2, 3, 4, 5]``). Box heads are not part of a backbone
(see box_heads.py); each backbone names the box head it is usually paired
with (``default_box_head``).

  vgg16     conv1_1..conv5_3 (c4 only). py-faster-rcnn freezes conv1 and
            conv2 (FREEZE_AT 2). Box head: vgg16_fc (fc6, fc7).
  resnet50  conv1..res5 of keras.applications.ResNet50: c2 (256 ch), c3
            (512), c4 (1024), c5 (2048); BatchNorm frozen everywhere
            (inference statistics); FREEZE_AT 1 freezes the stem, 2 also
            res2. Box head: res5 (the C4 layout) on c4 alone, 2-fc with FPN.
  resnet    the model zoos' ResNet-50 / 101 (resnet.py): no conv biases,
            frozen BatchNorm of a set epsilon, the stride in the 1x1 or the
            3x3 conv (RESNETS.*); torchvision's and detectron2's weights
            fit it (detect/weights/). Levels c2..c5 as resnet50's.
  tiny      a small VGG-style trunk with BatchNorm that trains from scratch
            on a CPU (tests, the quick start): c2 (64 ch), c3 (128), c4 (128).
            Box head: fc (2 x 256).
Weights (``weights``): "" random; "imagenet" through Keras (needs internet);
a path to a Keras .h5 / .keras / .weights.h5 file of the full
keras.applications model; or, for vgg16, TFFRCNN's Caffe-converted
VGG_imagenet.npy (see caffe_weights.py). A missing or mismatched file is a
clear error.
"""
import os

import keras
import tensorflow as tf

from detect.modeling.build_once import once
from detect.modeling.caffe_weights import load_vgg16_npy_convs
from detect.modeling.registry import Registry

BACKBONES = Registry("backbone")


def level_name(level):
    """The name of backbone level ``level`` (stride 2^level): ``c<level>``."""
    return f"c{level}"


class Backbone(keras.layers.Layer):
    """call(images [B, H, W, 3]) -> {"c<k>": [B, ~H / 2^k, ~W / 2^k, C_k]}.

    Attributes:
      strides: {name: stride}; channels: {name: C}, in increasing stride.
      rpn_channels: width of the RPN's 3x3 conv on a single level of it.
      default_box_head: (name, fc width) of the box head usually paired.
      stages: layer-name prefixes of the stages ``freeze`` can freeze, from
        the input on (none for a backbone trained from scratch).
    """

    def __init__(self, body, strides, channels, rpn_channels, default_box_head, stages=(),
                 **kwargs):
        super().__init__(**kwargs)
        self.body = body
        self.strides, self.channels = dict(strides), dict(channels)
        self.rpn_channels, self.default_box_head = rpn_channels, default_box_head
        self.stages = tuple(stages)

    def freeze(self, freeze_at):
        """Freezes the first ``freeze_at`` stages (MODEL.FREEZE_AT; py-faster-rcnn
        freezes VGG16's conv1-2, detectron2 ResNet's stem and res2)."""
        prefixes = self.stages[:max(freeze_at, 0)]
        for layer in self.body.layers:
            if prefixes and layer.name.startswith(prefixes):
                layer.trainable = False

    def call(self, images, training=False):
        return self.body(images, training=training)


def check_exists(weights, name):
    if not os.path.exists(weights):
        raise FileNotFoundError(f"{name} weights file {weights} does not exist (MODEL.WEIGHTS); "
                                "see data/README.md for where pretrained weights go")


def load_keras_weights(model, weights, name):
    """Loads a local Keras weights file into ``model`` ("" and "imagenet": nothing to do)."""
    if not weights or weights == "imagenet":
        return
    check_exists(weights, name)
    if weights.endswith(".npy"):
        raise ValueError(f"{weights}: .npy (TFFRCNN Caffe) weights exist for vgg16 only, not {name}")
    try:
        model.load_weights(weights)
    except Exception as e:  # Keras raises ValueError / KeyError / OSError by case
        raise ValueError(f"{weights} does not fit the {name} backbone ({type(e).__name__}: {e}). "
                         f"It must hold weights of keras.applications.{name.upper()}"
                         "(include_top=False) or of the full model.") from e


def keras_application(ctor, weights, name):
    """A keras.applications model (no classifier) with ``weights`` loaded;
    within one build_model, one per (network, weights): the parts that ask
    for it share its layers (build_once.py)."""
    return once(("keras_application", ctor.__name__, weights),
                lambda: _make_keras_application(ctor, weights, name))


def _make_keras_application(ctor, weights, name):
    try:
        base = ctor(include_top=False, weights="imagenet" if weights == "imagenet" else None,
                    input_shape=(None, None, 3))
    except Exception as e:
        if weights == "imagenet":
            raise RuntimeError(f"could not fetch ImageNet weights for {name} through Keras ({e}); "
                               "without internet, pass a local weights file as MODEL.WEIGHTS") from e
        raise
    load_keras_weights(base, weights, name)
    return base


def _check_levels(levels, supported, name):
    bad = [k for k in levels if k not in supported]
    if bad or not levels:
        strides = ", ".join(f"{2 ** k} (level {k})" for k in supported)
        raise ValueError(f"the {name} backbone has strides {strides}; asked for levels {list(levels)} "
                         "(MODEL.FEATURE_STRIDE, or FPN.IN_LEVELS with an FPN)")


def _backbone(name, inputs, outputs, levels, rpn_channels, default_box_head, stages=()):
    levels = sorted(levels)
    body = keras.Model(inputs, {level_name(k): outputs[k] for k in levels}, name=f"{name}_body")
    return Backbone(body, {level_name(k): 2 ** k for k in levels},
                    {level_name(k): outputs[k].shape[-1] for k in levels}, rpn_channels,
                    default_box_head, stages, name=f"{name}_backbone")


@BACKBONES.register("vgg16")
def vgg16(weights="", levels=(4,)):
    _check_levels(levels, (4,), "vgg16")
    npy = weights if weights.endswith(".npy") else ""
    base = keras_application(keras.applications.VGG16, "" if npy else weights, "vgg16")
    trunk = keras.Model(base.input, base.get_layer("block5_conv3").output, name="vgg16_trunk")
    if npy:
        check_exists(npy, "vgg16")
        load_vgg16_npy_convs(npy, trunk)
    return _backbone("vgg16", trunk.input, {4: trunk.output}, levels, 512, ("vgg16_fc", 4096),
                     [f"block{b}_" for b in range(1, 6)])


RESNET50_LEVELS = {2: "conv2_block3_out", 3: "conv3_block4_out", 4: "conv4_block6_out",
                   5: "conv5_block3_out"}


def freeze_batchnorm(model):
    """Frozen BatchNorm (Keras then also uses the inference statistics)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


@BACKBONES.register("resnet50")
def resnet50(weights="", levels=(4,)):
    _check_levels(levels, tuple(RESNET50_LEVELS), "resnet50")
    base = keras_application(keras.applications.ResNet50, weights, "resnet50")
    top = max(levels)
    outputs = {k: base.get_layer(RESNET50_LEVELS[k]).output for k in range(2, top + 1)}
    freeze_batchnorm(base)
    box_head = ("res5", 2048) if top == 4 else ("fc", 1024)
    return _backbone("resnet50", base.input, outputs, levels, 512, box_head,
                     [f"conv{s}_" for s in range(1, 6)])


class DilatedConv2D(keras.layers.Conv2D):
    """A stride-1, "same"-padded dilated Conv2D whose space-to-batch padding
    is computed from the input's run-time shape.

    TensorFlow's CPU kernels have no dilated backward pass, so dilated
    convolutions run as space_to_batch -> conv -> batch_to_space; Keras'
    version of that fails at run time ("padded_shape[1]=13 is not divisible
    by block_shape[1]=2") in a tf.function traced for varying image sizes.
    Here the input is zero-padded by the kernel's reach plus up to d - 1 to a
    multiple of the rate d, and the output cropped back: the same result as
    Keras' layer, with the same weights.
    """

    def convolution_op(self, inputs, kernel):
        d = self.dilation_rate[0]
        if self.strides != (1, 1) or self.padding != "same" or self.dilation_rate != (d, d):
            raise ValueError("DilatedConv2D supports stride 1, 'same' padding, equal rates only")
        h, w = tf.shape(inputs)[1], tf.shape(inputs)[2]
        reach = d * (kernel.shape[0] - 1) // 2
        x = tf.pad(inputs, [[0, 0], [reach, reach + (-h) % d], [reach, reach + (-w) % d], [0, 0]])
        y = tf.nn.conv2d(tf.space_to_batch(x, [d, d], [[0, 0], [0, 0]]), kernel, 1, "VALID")
        return tf.batch_to_space(y, [d, d], [[0, 0], [0, 0]])[:, :h, :w]


@BACKBONES.register("tiny")
def tiny(weights="", levels=(4,)):
    """A small trunk for CPUs: a stride-2 stem, then 3x3 conv + BatchNorm +
    ReLU stages of 32, 64 (c2, stride 4) and 128 channels (c3, stride 8,
    with a dilated 3x3 conv for context), and one more 128-channel stage (c4,
    stride 16) when asked for. A 160 x 200 image costs about 0.4 GMAC
    forward to c3. It trains from scratch: no stage is ever frozen."""
    _check_levels(levels, (2, 3, 4), "tiny")
    inputs = keras.Input((None, None, 3))

    def conv_bn_relu(x, channels, name, strides=1, dilation=1):
        # BatchNorm lets this small trunk train from scratch in minutes.
        conv = DilatedConv2D if dilation > 1 else keras.layers.Conv2D
        x = conv(channels, 3, strides=strides, dilation_rate=dilation, padding="same",
                 use_bias=False, name=name)(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    out = {}
    x = conv_bn_relu(inputs, 32, "stem_conv", strides=2)
    x = conv_bn_relu(x, 32, "block1_conv1")
    x = keras.layers.MaxPooling2D(2, name="block1_pool")(x)
    x = conv_bn_relu(x, 64, "block2_conv1")
    out[2] = x = conv_bn_relu(x, 64, "block2_conv2")
    if max(levels) >= 3:
        x = keras.layers.MaxPooling2D(2, name="block2_pool")(x)
        x = conv_bn_relu(x, 128, "block3_conv1")
        x = conv_bn_relu(x, 128, "block3_conv2")
        out[3] = x = conv_bn_relu(x, 128, "block3_context", dilation=2)
    if max(levels) >= 4:
        x = keras.layers.MaxPooling2D(2, name="block3_pool")(x)
        x = conv_bn_relu(x, 128, "block4_conv1")
        out[4] = conv_bn_relu(x, 128, "block4_conv2")
    backbone = _backbone("tiny", inputs, out, levels, 128, ("fc", 256))
    load_keras_weights(backbone.body, weights, "tiny")
    return backbone


@BACKBONES.register("resnet")
def resnet(weights="", levels=(4,), depth=50, stride_in_1x1=False, norm_eps=1e-5):
    """The model zoos' ResNet (resnet.py) with frozen BatchNorm everywhere.
    weights: "" (random; the usual case, since detect/weights/ fills it when
    a zoo model is imported), or an ImageNet ResNet read without PyTorch:
    torchvision's state dict (resnet50-*.pth; RESNETS.STRIDE_IN_1X1 false)
    or detectron2's MSRA R-50.pkl (Caffe2 blobs; STRIDE_IN_1X1 true)."""
    from detect.modeling.resnet import resnet_body

    _check_levels(levels, (2, 3, 4, 5), "resnet")
    inputs, outputs = resnet_body(depth, stride_in_1x1, norm_eps, top_level=max(levels))
    box_head = ("resnet_res5", 2048) if max(levels) == 4 else ("fc", 1024)
    backbone = _backbone("resnet", inputs, outputs, levels, 512, box_head,
                         ["stem_"] + [f"res{s}_" for s in range(2, 6)])
    if weights:
        from detect.modeling.load_weights import load_backbone_weights

        check_exists(weights, "resnet")
        load_backbone_weights(backbone.body, weights)
    return backbone


def _resnet_options(cfg):
    r = cfg.RESNETS
    return {"depth": r.DEPTH, "stride_in_1x1": r.STRIDE_IN_1X1, "norm_eps": r.NORM_EPS}


resnet.cfg_options = _resnet_options
