"""Configuration: defaults with a comment on every key, strict YAML and
--set overrides (py-faster-rcnn's easydict scheme, minus its global state).

    cfg = get_cfg()                                   # a fresh copy of the defaults
    merge_from_file(cfg, "experiments/cfgs/x.yml")   # unknown keys / wrong types: error
    merge_from_list(cfg, ["TRAIN.SCALES", "[480, 600]", "TRAIN.MAX_ITERS", "100"])

Components never read the config themselves: each has one ``from_cfg``.
Keys ending in _TRAIN / _TEST hold the value for that phase.
"""
import ast
import copy

import yaml
from easydict import EasyDict as edict

_C = edict()

_C.MODEL = edict()
_C.MODEL.ARCH = "faster_rcnn"  # detector: faster_rcnn | rfcn
_C.MODEL.BACKBONE = "vgg16"  # feature extractor: vgg16 | resnet50
_C.MODEL.NUM_CLASSES = 21  # object classes + 1 for the background (VOC: 21)
_C.MODEL.POOLER = "roi_pool"  # Fast R-CNN RoI op: roi_pool | roi_align
_C.MODEL.POOLED_SIZE = 0  # RoI op output, bins per side (0: the backbone's, vgg16 7, resnet50 14)
_C.MODEL.SAMPLING_RATIO = 2  # roi_align samples per bin side (<= 0: adaptive)
_C.MODEL.FEATURE_STRIDE = 16  # backbone output stride in pixels
_C.MODEL.RFCN_GROUP_SIZE = 7  # R-FCN position-sensitive grid, k x k
_C.MODEL.PIXEL_NORMALIZATION = "caffe"  # see detect/datasets/pipeline.py
_C.MODEL.WEIGHTS = ""  # imagenet | path to .h5/.keras | path to VGG_imagenet.npy | "" (random)
_C.MODEL.FREEZE_AT = 2  # backbone stages kept frozen (py-faster-rcnn: conv1-2 of VGG16)

_C.ANCHOR = edict()
_C.ANCHOR.BASE_SIZE = 16  # side of the reference anchor, pixels
_C.ANCHOR.SCALES = [8, 16, 32]  # multiples of BASE_SIZE
_C.ANCHOR.RATIOS = [0.5, 1.0, 2.0]  # height / width

_C.RPN = edict()
_C.RPN.PRE_NMS_TOP_N_TRAIN = 12000  # proposals kept before NMS, training
_C.RPN.PRE_NMS_TOP_N_TEST = 6000  # proposals kept before NMS, testing
_C.RPN.POST_NMS_TOP_N_TRAIN = 2000  # proposals kept after NMS, training
_C.RPN.POST_NMS_TOP_N_TEST = 300  # proposals kept after NMS, testing
_C.RPN.NMS_THRESH = 0.7  # IoU above which a lower-scored proposal is dropped
_C.RPN.MIN_SIZE = 16  # proposals narrower or lower than this (input pixels) are dropped
_C.RPN.POSITIVE_OVERLAP = 0.7  # anchor IoU with a gt box to be foreground
_C.RPN.NEGATIVE_OVERLAP = 0.3  # anchor max IoU below which it is background
_C.RPN.FG_FRACTION = 0.5  # at most this fraction of sampled anchors are foreground
_C.RPN.BATCH_SIZE = 256  # anchors sampled per image for the RPN losses
_C.RPN.STRADDLE_THRESH = 0  # anchors crossing the image edge by more are ignored (<0: keep all)

_C.TRAIN = edict()
_C.TRAIN.SCALES = [600]  # shorter image sides; one picked at random per image
_C.TRAIN.MAX_SIZE = 1000  # cap on the longer side
_C.TRAIN.IMS_PER_BATCH = 1  # images per step
_C.TRAIN.FLIP = True  # random horizontal flips
_C.TRAIN.ROI_BATCH_SIZE = 128  # RoIs sampled per image for the heads
_C.TRAIN.FG_FRACTION = 0.25  # at most this fraction of sampled RoIs are foreground
_C.TRAIN.FG_THRESH = 0.5  # RoI IoU with a gt box to be foreground
_C.TRAIN.BG_THRESH_HI = 0.5  # background RoIs: max IoU in [LO, HI)
_C.TRAIN.BG_THRESH_LO = 0.0
_C.TRAIN.BBOX_STDS = [0.1, 0.1, 0.2, 0.2]  # box-regression target normalization
_C.TRAIN.RPN_SIGMA = 3.0  # smooth L1 sigma of the RPN box loss
_C.TRAIN.RCNN_SIGMA = 1.0  # smooth L1 sigma of the head box loss
_C.TRAIN.LEARNING_RATE = 0.001  # base learning rate (SGD with momentum)
_C.TRAIN.MOMENTUM = 0.9
_C.TRAIN.WEIGHT_DECAY = 0.0005  # L2 on weights (not biases)
_C.TRAIN.WARMUP_ITERS = 100  # linear warm-up from WARMUP_FACTOR * LR
_C.TRAIN.WARMUP_FACTOR = 0.001
_C.TRAIN.STEPS = [50000]  # iterations where the learning rate is multiplied by GAMMA
_C.TRAIN.GAMMA = 0.1
_C.TRAIN.MAX_ITERS = 70000  # training length in iterations
_C.TRAIN.SNAPSHOT_ITERS = 5000  # checkpoint every this many iterations
_C.TRAIN.SNAPSHOT_KEEP = 3  # checkpoints kept
_C.TRAIN.SEED = 3  # random seed (data order, augmentation, sampling)

_C.TEST = edict()
_C.TEST.SCALES = [600]  # shorter image side at test time (first entry used)
_C.TEST.MAX_SIZE = 1000  # cap on the longer side
_C.TEST.NMS = 0.3  # per-class NMS IoU threshold
_C.TEST.SCORE_THRESH = 0.05  # detections below this score are dropped
_C.TEST.DETECTIONS_PER_IMAGE = 100  # cap per image after NMS
_C.TEST.BBOX_VOTE = False  # box voting: each kept box -> score-weighted mean of its overlapping boxes
_C.TEST.BBOX_VOTE_IOU = 0.8  # IoU with a kept box to take part in its vote (Detectron's VOTE_TH)

_C.DATASETS = edict()
_C.DATASETS.TRAIN = "toy_train"  # train_net.py's dataset (detect/datasets/factory.py names; --dataset overrides)
_C.DATASETS.TEST = "toy_test"  # test_net.py's dataset (--dataset overrides)

_C.DATA_DIR = "data"  # root of the datasets (data/README.md)
_C.OUTPUT_DIR = "output"  # checkpoints, logs and detections go under here


def get_cfg():
    """A fresh copy of the defaults."""
    return copy.deepcopy(_C)


def _check_type(key, old, new):
    """new coerced to old's type, or a ValueError naming the key."""
    if isinstance(old, bool) or isinstance(new, bool):
        if isinstance(old, bool) and isinstance(new, bool):
            return new
    elif isinstance(old, float) and isinstance(new, int):
        return float(new)
    elif isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return list(new)
    elif type(old) is type(new):
        return new
    raise ValueError(f"config key {key} must be of type {type(old).__name__} "
                     f"(default {old!r}), got {type(new).__name__} {new!r}")


def _merge(src, dst, prefix, where):
    for k, v in src.items():
        key = f"{prefix}{k}"
        if k not in dst:
            close = [c for c in dst if c.lower().startswith(str(k).lower()[:3])]
            hint = f"; did you mean {', '.join(prefix + c for c in close)}?" if close else ""
            raise KeyError(f"{where}: unknown config key {key}{hint}")
        if isinstance(dst[k], dict):
            if not isinstance(v, dict):
                raise ValueError(f"{where}: config key {key} is a section; give it keys, not {v!r}")
            _merge(v, dst[k], key + ".", where)
        else:
            try:
                dst[k] = _check_type(key, dst[k], v)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None


def merge_from_file(cfg, path):
    """Overrides cfg with a YAML file; unknown keys and wrong types raise."""
    with open(path) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of config keys")
    _merge(data, cfg, "", path)
    return cfg


def merge_from_list(cfg, pairs):
    """Overrides from [KEY, VALUE, KEY, VALUE, ...] (``--set`` arguments).

    Values are Python literals where they parse as one (``[480, 600]``,
    ``0.01``, ``True``), else strings.
    """
    if len(pairs) % 2:
        raise ValueError(f"--set takes KEY VALUE pairs, got an odd count: {pairs}")
    for key, text in zip(pairs[0::2], pairs[1::2]):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        node = {}
        cur = node
        parts = key.split(".")
        for p in parts[:-1]:
            cur[p] = {}
            cur = cur[p]
        cur[parts[-1]] = value
        _merge(node, cfg, "", "--set")
    return cfg


def cfg_to_yaml(cfg):
    """The full config as YAML text (for logs and checkpoints)."""
    def plain(d):
        return {k: plain(v) if isinstance(v, dict) else v for k, v in d.items()}
    return yaml.safe_dump(plain(cfg), sort_keys=False)
