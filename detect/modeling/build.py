"""build_model(cfg): the detector a config describes, from the registries.

  MODEL.BACKBONE  backbones.BACKBONES: vgg16 | resnet50 | resnet | tiny
  MODEL.NECK      fpn.NECKS: "" (the backbone's single level) | fpn
  MODEL.ARCH      roi_heads.ROI_HEADS: faster_rcnn | rfcn
  MODEL.BOX_HEAD  box_heads.BOX_HEADS: "" (the backbone's) | fc | vgg16_fc | res5

To add a part, register a builder or class under a new name in its file
and name it in a YAML file; nothing here changes. Backbone builders take
(weights, levels), necks (strides, channels, top_level), box heads
(weights, dim); RoI heads classes have a ``from_cfg(cfg, backbone,
strides)``.
"""
import math

from detect.precision import precision_policy
from detect.modeling.backbones import BACKBONES
from detect.modeling.build_once import build_scope
from detect.modeling.detector import GeneralizedRCNN
from detect.modeling.fpn import NECKS
from detect.modeling.postprocess import DetectionPostprocessor
from detect.modeling.roi_heads import ROI_HEADS
from detect.modeling.rpn import RPN


def backbone_levels(cfg):
    """The backbone levels the config needs: FPN.IN_LEVELS under a neck,
    else the one level of MODEL.FEATURE_STRIDE."""
    if cfg.MODEL.NECK:
        return list(cfg.FPN.IN_LEVELS)
    stride = cfg.MODEL.FEATURE_STRIDE
    level = int(round(math.log2(stride))) if stride > 0 else -1
    if level < 0 or 2 ** level != stride:
        raise ValueError(f"MODEL.FEATURE_STRIDE must be a power of 2, got {stride}")
    return [level]


def build_model(cfg):
    """A GeneralizedRCNN with random or MODEL.WEIGHTS weights (variables are
    created on the first call), computing under TRAIN.PRECISION's Keras dtype
    policy (float32 variables; detect/precision.py)."""
    with precision_policy(cfg.TRAIN.PRECISION), build_scope():  # shared parts made once (build_once.py)
        return _build_model(cfg)


def _build_model(cfg):
    m = cfg.MODEL
    backbone = BACKBONES.get(m.BACKBONE)(weights=m.WEIGHTS, levels=backbone_levels(cfg),
                                         **BACKBONES.options(m.BACKBONE, cfg))
    backbone.freeze(m.FREEZE_AT)
    neck, strides, channels = None, backbone.strides, backbone.rpn_channels
    if m.NECK:
        neck = NECKS.get(m.NECK)(backbone.strides, cfg.FPN.CHANNELS, cfg.FPN.TOP_LEVEL, cfg.FPN.NORM,
                                 cfg.RESNETS.NORM_EPS)
        strides, channels = neck.strides, cfg.FPN.CHANNELS
    # Built in this order, the tiny quick start's layers draw their random
    # initial values in the same order as before the detector was composable.
    roi_heads = ROI_HEADS.get(m.ARCH).from_cfg(cfg, backbone, strides)
    rpn = RPN.from_cfg(cfg, strides, channels)
    return GeneralizedRCNN(backbone, rpn, roi_heads, DetectionPostprocessor.from_cfg(cfg), neck=neck)
