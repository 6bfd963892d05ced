"""Backbones: a trunk (stride 16, or 8 for tiny) and the box head that
follows RoI pooling.

Built from keras.applications definitions, so the layer names match Keras'
ImageNet weights:
  vgg16     trunk conv1_1..conv5_3 (stride 16); head fc6, fc7 (4096 each) on
            7x7 pooled features. py-faster-rcnn freezes conv1 and conv2.
  resnet50  trunk conv1..res4 (stride 16); head res5 + global average pool
            (2048) on 14x14 pooled features (C4 layout); BatchNorm frozen
            (inference statistics, not trained) everywhere.
  tiny      a small 32-128 channel VGG-style trunk with BatchNorm (stride 8
            or 16) and a 256-d fc head: trains from scratch on a CPU (tests,
            the toy quick start).
Weights (``weights``): "" random; "imagenet" through Keras (needs internet);
a path to a Keras .h5 / .keras / .weights.h5 file of the full
keras.applications model; or, for vgg16, TFFRCNN's Caffe-converted
VGG_imagenet.npy (trunk and fc6/fc7, see caffe_weights.py). A missing or
mismatched file is a clear error.
"""
import os

import keras
import tensorflow as tf

from detect.modeling.caffe_weights import load_vgg16_npy
from detect.modeling.registry import Registry

BACKBONES = Registry("backbone")


class Backbone:
    """trunk: images [B, H, W, 3] -> features [B, H/stride, W/stride, C];
    head: pooled RoIs [K, P, P, C] -> [K, D]; pooled_size: P;
    rpn_channels: width of the RPN's 3x3 conv on this trunk."""

    def __init__(self, name, trunk, head, pooled_size, out_channels, rpn_channels=512):
        self.name, self.trunk, self.head = name, trunk, head
        self.pooled_size, self.out_channels = pooled_size, out_channels
        self.rpn_channels = rpn_channels


def _check_exists(weights, name):
    if not os.path.exists(weights):
        raise FileNotFoundError(f"{name} weights file {weights} does not exist (MODEL.WEIGHTS); "
                                "see data/README.md for where pretrained weights go")


def _load_weights(model, weights, name):
    if not weights or weights == "imagenet":
        return
    _check_exists(weights, name)
    if weights.endswith(".npy"):
        raise ValueError(f"{weights}: .npy (TFFRCNN Caffe) weights exist for vgg16 only, not {name}")
    try:
        model.load_weights(weights)
    except Exception as e:  # Keras raises ValueError / KeyError / OSError by case
        raise ValueError(f"{weights} does not fit the {name} backbone ({type(e).__name__}: {e}). "
                         f"It must hold weights of keras.applications.{name.upper()}"
                         "(include_top=False) or of the full model.") from e


def _check_stride(stride, name):
    if stride != 16:
        raise ValueError(f"the {name} backbone has stride 16; set MODEL.FEATURE_STRIDE to 16, not {stride}")


def _keras_base(ctor, weights, name):
    try:
        base = ctor(include_top=False, weights="imagenet" if weights == "imagenet" else None,
                    input_shape=(None, None, 3))
    except Exception as e:
        if weights == "imagenet":
            raise RuntimeError(f"could not fetch ImageNet weights for {name} through Keras ({e}); "
                               "without internet, pass a local weights file as MODEL.WEIGHTS") from e
        raise
    _load_weights(base, weights, name)
    return base


@BACKBONES.register("vgg16")
def vgg16(weights="", freeze_at=2, stride=16, fc_dim=4096):
    _check_stride(stride, "vgg16")
    npy = weights if weights.endswith(".npy") else ""
    base = _keras_base(keras.applications.VGG16, "" if npy else weights, "vgg16")
    trunk = keras.Model(base.input, base.get_layer("block5_conv3").output, name="vgg16_trunk")
    for layer in trunk.layers:
        if any(layer.name.startswith(f"block{b}_") for b in range(1, freeze_at + 1)):
            layer.trainable = False
    head = keras.Sequential([keras.layers.Flatten(),
                             keras.layers.Dense(fc_dim, activation="relu", name="fc6"),
                             keras.layers.Dropout(0.5),
                             keras.layers.Dense(fc_dim, activation="relu", name="fc7"),
                             keras.layers.Dropout(0.5)], name="vgg16_head")
    if npy:
        _check_exists(npy, "vgg16")
        head.build((None, 7, 7, 512))
        load_vgg16_npy(npy, trunk, head)
    return Backbone("vgg16", trunk, head, 7, 512)


@BACKBONES.register("resnet50")
def resnet50(weights="", freeze_at=2, stride=16):
    _check_stride(stride, "resnet50")
    base = _keras_base(keras.applications.ResNet50, weights, "resnet50")
    c4 = base.get_layer("conv4_block6_out").output
    trunk = keras.Model(base.input, c4, name="resnet50_trunk")
    head = keras.Sequential([keras.Model(c4, base.output, name="res5"),
                             keras.layers.GlobalAveragePooling2D()], name="resnet50_head")
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # frozen BN: Keras then also uses inference statistics
        if freeze_at >= 1 and layer.name.startswith("conv1_"):
            layer.trainable = False
        if freeze_at >= 2 and layer.name.startswith("conv2_"):
            layer.trainable = False
    return Backbone("resnet50", trunk, head, 14, 1024)


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
def tiny(weights="", freeze_at=0, stride=16, fc_dim=256):
    """A small trunk for CPUs: a stride-2 stem, then 3x3 conv + BatchNorm +
    ReLU stages of 32, 64 and 128 channels at strides 2, 4 and 8, a dilated
    3x3 conv for context, and (stride 16) one more 128-channel stage. A
    160 x 200 image costs about 0.4 GMAC forward."""
    if stride not in (8, 16):
        raise ValueError(f"the tiny backbone has stride 8 or 16 (MODEL.FEATURE_STRIDE), got {stride}")
    inputs = keras.Input((None, None, 3))

    def conv_bn_relu(x, channels, name, strides=1, dilation=1):
        # BatchNorm lets this small trunk train from scratch in minutes.
        conv = DilatedConv2D if dilation > 1 else keras.layers.Conv2D
        x = conv(channels, 3, strides=strides, dilation_rate=dilation, padding="same",
                 use_bias=False, name=name)(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    x = conv_bn_relu(inputs, 32, "stem_conv", strides=2)
    x = conv_bn_relu(x, 32, "block1_conv1")
    x = keras.layers.MaxPooling2D(2, name="block1_pool")(x)
    x = conv_bn_relu(x, 64, "block2_conv1")
    x = conv_bn_relu(x, 64, "block2_conv2")
    x = keras.layers.MaxPooling2D(2, name="block2_pool")(x)
    x = conv_bn_relu(x, 128, "block3_conv1")
    x = conv_bn_relu(x, 128, "block3_conv2")
    x = conv_bn_relu(x, 128, "block3_context", dilation=2)
    if stride == 16:
        x = keras.layers.MaxPooling2D(2, name="block3_pool")(x)
        x = conv_bn_relu(x, 128, "block4_conv1")
        x = conv_bn_relu(x, 128, "block4_conv2")
    trunk = keras.Model(inputs, x, name="tiny_trunk")
    _load_weights(trunk, weights, "tiny")
    head = keras.Sequential([keras.layers.Flatten(),
                             keras.layers.Dense(fc_dim, activation="relu", name="fc6"),
                             keras.layers.Dense(fc_dim, activation="relu", name="fc7")],
                            name="tiny_head")
    return Backbone("tiny", trunk, head, 7, 128, rpn_channels=128)
