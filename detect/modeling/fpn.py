"""Feature Pyramid Network (Lin et al. 2017), as detectron2's R50-FPN.

Backbone levels c2..c5 -> p2..p5: a lateral 1x1 conv per level and, from
the top down, the coarser result upsampled x2 (nearest) and added; then a
3x3 output conv per level, all ``channels`` wide. p6 (``top_level`` 6) is p5
subsampled by 2 (detectron2's LastLevelMaxPool: max-pool, kernel 1,
stride 2), for the RPN's largest anchors only.

Sizes: a level is about H / stride, rounded up or down by the backbone's
padding; the upsampled coarser map is cropped or edge-extended by a cell to
the finer level's size, so any input size works (no padding to a multiple of
32 is needed).
"""
import keras
import tensorflow as tf

from detect.modeling.conv import BoundedConv2D, PointwiseConv2D
from detect.modeling.registry import Registry
from detect.modeling.resnet import FrozenBatchNorm

NECKS = Registry("neck")


def upsample2x_like(x, like):
    """Nearest x2 upsampling of x [B, h, w, C] to like's height and width:
    cropped where the finer level is smaller (ceil-sized levels, ResNet), or
    its last row / column repeated where it is larger (floor-sized: tiny's
    max-pooling)."""
    up = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
    h, w = tf.shape(like)[1], tf.shape(like)[2]
    dh, dw = tf.maximum(h - tf.shape(up)[1], 0), tf.maximum(w - tf.shape(up)[2], 0)
    up = tf.pad(up, [[0, 0], [0, dh], [0, dw], [0, 0]], mode="SYMMETRIC")
    return up[:, :h, :w]


class FPN(keras.layers.Layer):
    """call({"c<k>": [B, h_k, w_k, C_k]}) -> {"p<k>": [B, h_k, w_k, channels]}.

    Args:
      in_strides: {"c<k>": stride} of the backbone levels used (k contiguous).
      channels: width of every output level.
      top_level: last output level; levels past the backbone's top are made
        by stride-2 subsampling (0: none).
      norm: "" (convs with bias), or "FrozenBN": bias-free convs each
        followed by a frozen BatchNorm of epsilon ``norm_eps`` (torchvision's
        v2 detectors: Conv2dNormActivation with BatchNorm in eval mode).
    Attributes: strides, channels ({"p<k>": ...}), like Backbone's.
    """

    def __init__(self, in_strides, channels=256, top_level=6, norm="", norm_eps=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.in_names = sorted(in_strides, key=in_strides.get)
        levels = [int(n[1:]) for n in self.in_names]
        if levels != list(range(levels[0], levels[0] + len(levels))):
            raise ValueError(f"FPN levels must be contiguous, got {self.in_names} (FPN.IN_LEVELS)")
        self.out_levels = levels + list(range(levels[-1] + 1, max(top_level, levels[-1]) + 1))
        self.strides = {f"p{k}": 2 ** k for k in self.out_levels}
        self.channels = {f"p{k}": channels for k in self.out_levels}
        self.levels = levels
        # One attribute per conv: a checkpoint of the model (not only of the
        # optimizer) must reach them, and Keras' tracked lists are not
        # checkpoint children.
        bias = not norm
        for k in levels:
            lateral = PointwiseConv2D(channels, 1, use_bias=bias, name=f"fpn_lateral{k}")
            output = BoundedConv2D(channels, 3, padding="same", use_bias=bias, name=f"fpn_output{k}")
            if norm:
                lateral = keras.Sequential([lateral, FrozenBatchNorm(norm_eps, name=f"fpn_lateral{k}_bn")],
                                           name=f"fpn_lateral{k}_norm")
                output = keras.Sequential([output, FrozenBatchNorm(norm_eps, name=f"fpn_output{k}_bn")],
                                          name=f"fpn_output{k}_norm")
            setattr(self, f"lateral{k}", lateral)
            setattr(self, f"output{k}", output)

    @property
    def lateral(self):
        return [getattr(self, f"lateral{k}") for k in self.levels]

    @property
    def output_convs(self):
        return [getattr(self, f"output{k}") for k in self.levels]

    def call(self, features):
        x = [features[n] for n in self.in_names]
        inner = self.lateral[-1](x[-1])
        out = [self.output_convs[-1](inner)]
        for i in range(len(x) - 2, -1, -1):
            lateral = self.lateral[i](x[i])
            inner = lateral + upsample2x_like(inner, lateral)
            out.insert(0, self.output_convs[i](inner))
        result = {f"p{k}": o for k, o in zip(self.levels, out)}
        top = out[-1]
        for k in self.out_levels[len(self.levels):]:
            top = top[:, ::2, ::2]
            result[f"p{k}"] = top
        return result


@NECKS.register("fpn")
def fpn(in_strides, channels=256, top_level=6, norm="", norm_eps=1e-5):
    return FPN(in_strides, channels, top_level, norm, norm_eps, name="fpn")
