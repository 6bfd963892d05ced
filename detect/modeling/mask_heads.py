"""Mask heads: RoI features -> per-class mask logits (Mask R-CNN).

  conv_upsample  detectron2's MaskRCNNConvUpsampleHead: n x (3x3 conv, ReLU),
                 a 2x2 stride-2 transposed conv + ReLU, a 1x1 conv to one
                 map per class; 14 x 14 RoIs give 28 x 28 masks.

A builder takes (num_classes, num_convs, dim). ``call(x [K, P, P, C])`` ->
logits [K, 2P, 2P, num_classes], a map per class including the background
(index it by class id; the background's is never trained).
"""
import keras

from detect.modeling.conv import BoundedConv2D, PointwiseConv2D
from detect.modeling.registry import Registry
from detect.modeling.resnet import FrozenBatchNorm, msra_fill

MASK_HEADS = Registry("mask head (MODEL.MASK_HEAD)")


@MASK_HEADS.register("conv_upsample")
class MaskRCNNConvUpsampleHead(keras.layers.Layer):
    """Args: num_classes (with the background), num_convs, dim (their width),
    norm: "" or "FrozenBN" (bias-free convs, each followed by a frozen
    BatchNorm of epsilon norm_eps: torchvision's v2 MaskRCNNHeads)."""

    def __init__(self, num_classes, num_convs=4, dim=256, norm="", norm_eps=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        layers = []
        for i in range(num_convs):
            init = msra_fill()
            if norm:
                layers += [BoundedConv2D(dim, 3, padding="same", use_bias=False, name=f"mask_fcn{i + 1}",
                                         kernel_initializer=init),
                           FrozenBatchNorm(norm_eps, name=f"mask_fcn{i + 1}_bn"),
                           keras.layers.ReLU(name=f"mask_fcn{i + 1}_relu")]
            else:
                layers.append(BoundedConv2D(dim, 3, padding="same", activation="relu",
                                            name=f"mask_fcn{i + 1}", kernel_initializer=init))
        self.convs = keras.Sequential(layers, name="mask_fcn")
        self.deconv = keras.layers.Conv2DTranspose(
            dim, 2, strides=2, activation="relu", name="deconv",
            kernel_initializer=msra_fill())
        self.predictor = PointwiseConv2D(
            num_classes, 1, name="predictor",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.001))

    def call(self, x):
        return self.predictor(self.deconv(self.convs(x)))
