"""Backbones: a stride-16 trunk and the box head that follows RoI pooling.

Built from keras.applications definitions, so the layer names match Keras'
ImageNet weights:
  vgg16     trunk conv1_1..conv5_3 (stride 16); head fc6, fc7 (4096 each) on
            7x7 pooled features. py-faster-rcnn freezes conv1 and conv2.
  resnet50  trunk conv1..res4 (stride 16); head res5 + global average pool
            (2048) on 14x14 pooled features (C4 layout); BatchNorm frozen
            (inference statistics, not trained) everywhere.
  tiny      a 4-stage, 32-128 channel VGG-style trunk with BatchNorm (stride
            16) and a 256-d fc head: trains from scratch on a CPU (tests, the
            toy quick start).
Weights (``weights``): "" random; "imagenet" through Keras (needs internet);
or a path to a Keras .h5 / .keras / .weights.h5 file of the full
keras.applications model. A missing or mismatched file is a clear error.
"""
import os

import keras

from detect.modeling.registry import Registry

BACKBONES = Registry("backbone")


class Backbone:
    """trunk: images [B, H, W, 3] -> features [B, H/16, W/16, C];
    head: pooled RoIs [K, P, P, C] -> [K, D]; pooled_size: P."""

    def __init__(self, name, trunk, head, pooled_size, out_channels):
        self.name, self.trunk, self.head = name, trunk, head
        self.pooled_size, self.out_channels = pooled_size, out_channels


def _load_weights(model, weights, name):
    if not weights or weights == "imagenet":
        return
    if not os.path.exists(weights):
        raise FileNotFoundError(f"{name} weights file {weights} does not exist (MODEL.WEIGHTS); "
                                "see data/README.md for where pretrained weights go")
    try:
        model.load_weights(weights)
    except Exception as e:  # Keras raises ValueError / KeyError / OSError by case
        raise ValueError(f"{weights} does not fit the {name} backbone ({type(e).__name__}: {e}). "
                         f"It must hold weights of keras.applications.{name.upper()}"
                         "(include_top=False) or of the full model.") from e


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
def vgg16(weights="", freeze_at=2, fc_dim=4096):
    base = _keras_base(keras.applications.VGG16, weights, "vgg16")
    trunk = keras.Model(base.input, base.get_layer("block5_conv3").output, name="vgg16_trunk")
    for layer in trunk.layers:
        if any(layer.name.startswith(f"block{b}_") for b in range(1, freeze_at + 1)):
            layer.trainable = False
    head = keras.Sequential([keras.layers.Flatten(),
                             keras.layers.Dense(fc_dim, activation="relu", name="fc6"),
                             keras.layers.Dropout(0.5),
                             keras.layers.Dense(fc_dim, activation="relu", name="fc7"),
                             keras.layers.Dropout(0.5)], name="vgg16_head")
    return Backbone("vgg16", trunk, head, 7, 512)


@BACKBONES.register("resnet50")
def resnet50(weights="", freeze_at=2):
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


@BACKBONES.register("tiny")
def tiny(weights="", freeze_at=0, fc_dim=256):
    inputs = keras.Input((None, None, 3))
    x = inputs
    def conv_bn_relu(x, channels, name, strides=1):
        # BatchNorm lets this small trunk train from scratch in minutes.
        x = keras.layers.Conv2D(channels, 3, strides=strides, padding="same", use_bias=False,
                                name=name)(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    for stage, channels in enumerate((32, 64, 96, 128), start=1):
        x = conv_bn_relu(x, channels, f"block{stage}_conv1")
        x = conv_bn_relu(x, channels, f"block{stage}_conv2")
        if stage < 4:
            x = keras.layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    x = conv_bn_relu(x, 128, "block5_conv", strides=2)
    trunk = keras.Model(inputs, x, name="tiny_trunk")
    _load_weights(trunk, weights, "tiny")
    head = keras.Sequential([keras.layers.Flatten(),
                             keras.layers.Dense(fc_dim, activation="relu", name="fc6"),
                             keras.layers.Dense(fc_dim, activation="relu", name="fc7")],
                            name="tiny_head")
    return Backbone("tiny", trunk, head, 7, 128)
