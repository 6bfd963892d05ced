"""Configuration: defaults with a comment on every key, strict YAML and
--set overrides (py-faster-rcnn's easydict scheme, minus its global state).

    cfg = get_cfg()                                   # a fresh copy of the defaults
    merge_from_file(cfg, "experiments/cfgs/x.yml")   # unknown keys / wrong types: error
    merge_from_list(cfg, ["TRAIN.SCALES", "[480, 600]", "TRAIN.MAX_ITERS", "100"])
    validate_cfg(cfg)                                 # ranges (RANGES) and keys that must agree

Every override is range-checked as it is merged (``TRAIN.SCALES []``,
``TRAIN.SNAPSHOT_ITERS 0``: a ValueError naming the key and what it allows);
validate_cfg checks the finished config once more, with the cross-key rules.

Components never read the config themselves: each has one ``from_cfg``.
Keys ending in _TRAIN / _TEST hold the value for that phase.
"""
import ast
import copy
import math
import os

import yaml
from easydict import EasyDict as edict

_C = edict()

_C.MODEL = edict()
_C.MODEL.ARCH = "faster_rcnn"  # RoI heads (modeling/roi_heads.py): faster_rcnn | rfcn
_C.MODEL.BACKBONE = "vgg16"  # feature extractor (modeling/backbones.py): vgg16 | resnet50 | tiny
_C.MODEL.NECK = ""  # between backbone and heads: "" (the backbone's one level) | fpn
_C.MODEL.NUM_CLASSES = 21  # object classes + 1 for the background (VOC: 21)
_C.MODEL.BOX_HEAD = ""  # pooled RoI -> features: "" (the backbone's: vgg16_fc, res5, fc) | fc | vgg16_fc | res5
_C.MODEL.BOX_HEAD_DIM = 0  # width of the fc box heads (0: the head's default: vgg16_fc 4096, fc 1024; tiny 256)
_C.MODEL.BOX_HEAD_CONVS = 4  # BOX_HEAD conv_fc: 3x3 convs (256 wide, frozen BatchNorm, ReLU) before one fc (torchvision v2)
_C.MODEL.POOLER = "roi_pool"  # Fast R-CNN RoI op: roi_pool | roi_align (aligned, ROIAlignV2)
_C.MODEL.POOLED_SIZE = 0  # RoI op output, bins per side (0: the box head's, res5 14, others 7)
_C.MODEL.SAMPLING_RATIO = 2  # roi_align samples per bin side (<= 0: adaptive)
_C.MODEL.POOLER_LEVELS = []  # feature levels RoIs are pooled from (FPN: [2, 3, 4, 5]); []: all but P6
_C.MODEL.POOLER_CANONICAL_SIZE = 224  # multi-level pooling: a RoI this size (sqrt of area, pixels) ...
_C.MODEL.POOLER_CANONICAL_LEVEL = 4  # ... goes to this level; x2 size = one level up (FPN eq. 1)
_C.MODEL.POOLER_LEVEL_MAPPING = "detectron2"  # floor(4 + log2(s / 224 + 1e-8)): detectron2 | floor(4 + log2(s / 224) + 1e-6): torchvision
_C.MODEL.POOLER_ALIGNED = True  # roi_align's half-pixel shift: True (detectron2's ROIAlignV2) | False (torchvision, Detectron)
_C.MODEL.FEATURE_STRIDE = 16  # single-level backbone output stride in pixels (no neck)
_C.MODEL.RFCN_GROUP_SIZE = 7  # R-FCN position-sensitive grid, k x k
_C.MODEL.PIXEL_NORMALIZATION = "caffe"  # caffe (Keras, VGG16) | torch (torchvision) | detectron2 (its MSRA models): detect/datasets/pipeline.py
_C.MODEL.RESIZE_ROUNDING = "round"  # resized sides: round (ours) | floor (torchvision's interpolate) | detectron2 (ResizeShortestEdge's int(x + 0.5))
_C.MODEL.RESIZE_METHOD = "bilinear"  # bilinear (TensorFlow's; torchvision) | pil_bilinear (detectron2: PIL's antialiased resize of uint8)
_C.MODEL.SIZE_DIVISIBILITY = 1  # images zero-padded (after normalization) to a multiple of this; torchvision and detectron2 FPN: 32
_C.MODEL.WEIGHTS = ""  # imagenet | path to .h5/.keras | path to VGG_imagenet.npy | "" (random)
_C.MODEL.FREEZE_AT = 2  # backbone stages kept frozen (py-faster-rcnn: conv1-2 of VGG16)
_C.MODEL.MASK_HEAD = ""  # Mask R-CNN's mask branch (modeling/mask_heads.py): "" (none) | conv_upsample
_C.MODEL.MASK_HEAD_CONVS = 4  # 3x3 convs of the mask head before its 2x upsampling
_C.MODEL.MASK_HEAD_DIM = 256  # their width (and the transposed conv's)
_C.MODEL.MASK_HEAD_NORM = ""  # "" (convs with bias) | FrozenBN (bias-free convs + frozen BatchNorm: torchvision v2)
_C.MODEL.MASK_SAMPLING_RATIO = 0  # the mask branch's roi_align samples per bin side: 0 adaptive (detectron2) | 2 (torchvision)
_C.MODEL.MASK_POOLED_SIZE = 14  # RoIAlign output of the mask branch; the masks are twice this (28)
_C.MODEL.MASK_GT_SIZE = 112  # training masks travel cropped to their box at this size (pipeline.py)

_C.RESNETS = edict()  # MODEL.BACKBONE resnet (modeling/resnet.py), the model zoos' ResNets
_C.RESNETS.DEPTH = 50  # 50 | 101
_C.RESNETS.STRIDE_IN_1X1 = False  # stride 2 in the block's 1x1 conv: True (MSRA / detectron2's R-50) | False, in the 3x3 (torchvision)
_C.RESNETS.NORM_EPS = 1e-5  # frozen BatchNorm epsilon: 1e-5 (detectron2, torchvision ImageNet) | 0.0 (torchvision's v1 COCO models)

_C.FPN = edict()
_C.FPN.IN_LEVELS = [2, 3, 4, 5]  # backbone levels into the FPN (C2-C5: strides 4-32)
_C.FPN.CHANNELS = 256  # width of every FPN level (and of the RPN conv on them)
_C.FPN.TOP_LEVEL = 6  # last FPN level; levels above the backbone's by stride-2 subsampling (P6)
_C.FPN.NORM = ""  # "" (convs with bias) | FrozenBN (bias-free convs + frozen BatchNorm, eps RESNETS.NORM_EPS: torchvision v2)

_C.ANCHOR = edict()
_C.ANCHOR.BASE_SIZE = 16  # side of the reference anchor, pixels
_C.ANCHOR.SCALES = [8, 16, 32]  # multiples of BASE_SIZE
_C.ANCHOR.RATIOS = [0.5, 1.0, 2.0]  # height / width
_C.ANCHOR.SIZES = []  # several levels (FPN): one anchor size per level, pixels (32, ..., 512)
_C.ANCHOR.STYLE = "py-faster-rcnn"  # FPN anchors: py-faster-rcnn (centred in their cell) | torchvision (centred on the cell's corner, rounded) | detectron2 (on the corner, unrounded)

_C.RPN = edict()
_C.RPN.CONV_CHANNELS = 0  # width of the RPN's 3x3 conv (0: the backbone's, or FPN.CHANNELS)
_C.RPN.HEAD_CONVS = 1  # 3x3 conv + ReLU layers of the RPN head (torchvision v2: 2)
_C.RPN.PRE_NMS_TOP_N_TRAIN = 12000  # proposals kept before NMS, training
_C.RPN.PRE_NMS_TOP_N_TEST = 6000  # proposals kept before NMS, testing
_C.RPN.POST_NMS_TOP_N_TRAIN = 2000  # proposals kept after NMS, training
_C.RPN.POST_NMS_TOP_N_TEST = 300  # proposals kept after NMS, testing
_C.RPN.NMS_THRESH = 0.7  # IoU above which a lower-scored proposal is dropped
_C.RPN.MIN_SIZE = 16.0  # proposals narrower or lower than this (input pixels) are dropped (torchvision: 0.001); 0: only empty ones (detectron2)
_C.RPN.RANK_BY = "probability"  # per_level: NMS and the best POST_NMS_TOP_N rank by sigmoid probability (torchvision; logits above ~16.6 tie at 1.0, then by level) | logit (detectron2); merged ignores it
_C.RPN.PROPOSALS = "merged"  # merged: per level clip, min size, top-k, then one NMS over all levels | per_level (torchvision, detectron2): per level top-k, clip, min size, NMS within each level, then the best POST_NMS_TOP_N
_C.RPN.POSITIVE_OVERLAP = 0.7  # anchor IoU with a gt box to be foreground
_C.RPN.NEGATIVE_OVERLAP = 0.3  # anchor max IoU below which it is background
_C.RPN.FG_FRACTION = 0.5  # at most this fraction of sampled anchors are foreground
_C.RPN.BATCH_SIZE = 256  # anchors sampled per image for the RPN losses
_C.RPN.STRADDLE_THRESH = 0  # anchors crossing the image edge by more are ignored (<0: keep all)

_C.TRAIN = edict()
_C.TRAIN.SCALES = [600]  # shorter image sides; one picked at random per batch (its images share it)
_C.TRAIN.MAX_SIZE = 1000  # cap on the longer side
_C.TRAIN.IMS_PER_BATCH = 1  # images per step: the recipe's global batch, all devices and accumulation steps together
_C.TRAIN.IMS_PER_DEVICE = 2  # images one replica processes at once; IMS_PER_BATCH / (replicas x this) micro-steps per iteration, their gradients summed (detect/engine/batching.py; 0: the replica's whole share at once)
_C.TRAIN.MEMORY_LIMIT_GB = 0.0  # the memory check after the first iteration: stop if it peaked above 90% of this (0: what the machine lets this process have; -1: no check; detect/engine/memory_check.py)
_C.TRAIN.FLIP = True  # random horizontal flips
_C.TRAIN.ROI_BATCH_SIZE = 128  # RoIs sampled per image for the heads
_C.TRAIN.FG_FRACTION = 0.25  # at most this fraction of sampled RoIs are foreground
_C.TRAIN.FG_THRESH = 0.5  # RoI IoU with a gt box to be foreground
_C.TRAIN.MASK_ROIS_PER_IMAGE = 0  # foreground RoIs per image the mask head trains on, a random subset (TF Model Garden's num_sampled_masks; 0: all)
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
_C.TRAIN.LR_POLICY = "step"  # step: multiplied by GAMMA at each of STEPS | cosine: half a cosine from LEARNING_RATE to 0 at MAX_ITERS (STEPS unused)
_C.TRAIN.STEPS = [50000]  # iterations where the learning rate is multiplied by GAMMA
_C.TRAIN.GAMMA = 0.1
_C.TRAIN.MAX_ITERS = 70000  # training length in iterations
_C.TRAIN.SNAPSHOT_ITERS = 5000  # checkpoint every this many iterations
_C.TRAIN.SNAPSHOT_KEEP = 3  # checkpoints kept
_C.TRAIN.SEED = 3  # random seed (data order, augmentation, sampling)
_C.TRAIN.STRATEGY = "default"  # tf.distribute: default (one device) | mirrored (every local GPU) | multi_worker (TF_CONFIG)
_C.TRAIN.PRECISION = "float32"  # Keras dtype policy, training and inference: float32 | mixed_float16 | mixed_bfloat16
_C.TRAIN.COLLECTIVE_TIMEOUT = 1800  # multi_worker: seconds a cross-worker reduction may wait (0: no limit)

_C.TEST = edict()
_C.TEST.SCALES = [600]  # shorter image side at test time (first entry used)
_C.TEST.MAX_SIZE = 1000  # cap on the longer side
_C.TEST.EVAL_PERIOD = 0  # train_net.py: evaluate on DATASETS.TEST every N iterations and at the end (0: never; --eval-period)
_C.TEST.NMS = 0.3  # per-class NMS IoU threshold
_C.TEST.SCORE_THRESH = 0.05  # detections below this score are dropped
_C.TEST.DETECTIONS_PER_IMAGE = 100  # cap per image after NMS
_C.TEST.BBOX_VOTE = False  # box voting: each kept box -> score-weighted mean of its overlapping boxes
_C.TEST.MIN_BOX_SIZE = 0.0  # detections narrower or lower than this (input pixels) are dropped before NMS (torchvision: 0.01)
_C.TEST.MASK_PASTE = "detectron2"  # masks into the image: detectron2 (bilinear at pixel centres) | torchvision (Detectron's: a 1-cell border, resized to the integer box)
_C.TEST.MASK_THRESH = 0.5  # a pasted mask probability above this is inside the mask
_C.TEST.BBOX_VOTE_IOU = 0.8  # IoU with a kept box to take part in its vote (Detectron's VOTE_TH)

_C.DATASETS = edict()
_C.DATASETS.TRAIN = "toy_train"  # train_net.py's dataset (detect/datasets/factory.py names; --dataset overrides)
_C.DATASETS.TEST = "toy_test"  # test_net.py's dataset (--dataset overrides)
_C.DATASETS.FILE = ""  # a YAML file of named datasets (detect/datasets/by_path.py; --datasets-file)

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


def _number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _at_least(lo):
    return (lambda v: _number(v) and v >= lo), f"a number >= {lo}"


def _above(lo):
    return (lambda v: _number(v) and v > lo), f"a number > {lo}"


_FRACTION = (lambda v: _number(v) and 0 <= v <= 1), "a fraction in [0, 1]"


def _one_of(*options):
    return (lambda v: v in options), "one of " + ", ".join(options)


def _positive_list(kind, what, length=None):
    def ok(v):
        return ((len(v) == length if length else len(v) > 0)
                and all(_number(x) and x > 0 and isinstance(x, kind) for x in v))
    return ok, (f"a list of {length} positive {what}" if length else f"a non-empty list of positive {what}")


_SIZES = _positive_list(int, "integers (pixels)")
_NUMBERS = _positive_list((int, float), "numbers")
_STEPS = ((lambda v: all(_number(x) and x > 0 and isinstance(x, int) for x in v)),
          "a list of positive integers (iterations)")

# Allowed values, by key: (test, what the test asks for). Checked on every
# override (_merge) and for the whole config by validate_cfg.
RANGES = {
    "MODEL.NUM_CLASSES": _at_least(2), "MODEL.POOLED_SIZE": _at_least(0),
    "MODEL.FEATURE_STRIDE": _at_least(1),
    "MODEL.RFCN_GROUP_SIZE": _at_least(1), "MODEL.FREEZE_AT": _at_least(0),
    "MODEL.BOX_HEAD_DIM": _at_least(0), "MODEL.MASK_HEAD_CONVS": _at_least(0),
    "MODEL.MASK_HEAD_DIM": _at_least(1), "MODEL.MASK_POOLED_SIZE": _at_least(1),
    "MODEL.MASK_GT_SIZE": _at_least(2), "TEST.MASK_THRESH": _FRACTION,
    "MODEL.POOLER_CANONICAL_SIZE": _above(0),
    "MODEL.SAMPLING_RATIO": ((lambda v: _number(v) and v <= 64),
                             "a number <= 64 (the op's cap; <= 0: adaptive)"),
    "MODEL.POOLER_CANONICAL_LEVEL": _at_least(0), "FPN.TOP_LEVEL": _at_least(0),
    "ANCHOR.SIZES": ((lambda v: not v or _NUMBERS[0](v)), "[] or a list of positive numbers"),
    "FPN.CHANNELS": _at_least(1), "RPN.CONV_CHANNELS": _at_least(0),
    "ANCHOR.BASE_SIZE": _at_least(1), "ANCHOR.SCALES": _NUMBERS, "ANCHOR.RATIOS": _NUMBERS,
    "RPN.PRE_NMS_TOP_N_TRAIN": _at_least(1), "RPN.PRE_NMS_TOP_N_TEST": _at_least(1),
    "RPN.POST_NMS_TOP_N_TRAIN": _at_least(1), "RPN.POST_NMS_TOP_N_TEST": _at_least(1),
    "RPN.NMS_THRESH": _FRACTION, "RPN.MIN_SIZE": _at_least(0),
    "RPN.POSITIVE_OVERLAP": _FRACTION, "RPN.NEGATIVE_OVERLAP": _FRACTION,
    "RPN.FG_FRACTION": _FRACTION, "RPN.BATCH_SIZE": _at_least(1),
    "TRAIN.SCALES": _SIZES, "TRAIN.MAX_SIZE": _at_least(1), "TRAIN.IMS_PER_BATCH": _at_least(1),
    "TRAIN.IMS_PER_DEVICE": _at_least(0), "TRAIN.MEMORY_LIMIT_GB": _at_least(-1),
    "TRAIN.ROI_BATCH_SIZE": _at_least(1), "TRAIN.FG_FRACTION": _FRACTION,
    "TRAIN.MASK_ROIS_PER_IMAGE": _at_least(0),
    "TRAIN.FG_THRESH": _FRACTION, "TRAIN.BG_THRESH_HI": _FRACTION, "TRAIN.BG_THRESH_LO": _FRACTION,
    "TRAIN.BBOX_STDS": _positive_list((int, float), "numbers", length=4),
    "TRAIN.RPN_SIGMA": _above(0), "TRAIN.RCNN_SIGMA": _above(0),
    "TRAIN.LEARNING_RATE": _above(0), "TRAIN.MOMENTUM": _FRACTION,
    "TRAIN.WEIGHT_DECAY": _at_least(0), "TRAIN.WARMUP_ITERS": _at_least(0),
    "TRAIN.WARMUP_FACTOR": _FRACTION, "TRAIN.LR_POLICY": _one_of("step", "cosine"),
    "TRAIN.STEPS": _STEPS, "TRAIN.GAMMA": _above(0),
    "TRAIN.MAX_ITERS": _at_least(1), "TRAIN.SNAPSHOT_ITERS": _at_least(1),
    "TRAIN.SNAPSHOT_KEEP": _at_least(1), "TRAIN.SEED": _at_least(0),
    "TRAIN.STRATEGY": _one_of("default", "mirrored", "multi_worker"),
    "TRAIN.PRECISION": _one_of("float32", "mixed_float16", "mixed_bfloat16"),
    "TRAIN.COLLECTIVE_TIMEOUT": _at_least(0),
    "TEST.SCALES": _SIZES, "TEST.MAX_SIZE": _at_least(1), "TEST.NMS": _FRACTION,
    "TEST.EVAL_PERIOD": _at_least(0),
    "TEST.SCORE_THRESH": _FRACTION, "TEST.DETECTIONS_PER_IMAGE": _at_least(1),
    "TEST.BBOX_VOTE_IOU": _FRACTION, "TEST.MIN_BOX_SIZE": _at_least(0),
    "TEST.MASK_PASTE": _one_of("detectron2", "torchvision"),
    "MODEL.PIXEL_NORMALIZATION": _one_of("caffe", "torch", "detectron2"),
    "MODEL.RESIZE_ROUNDING": _one_of("round", "floor", "detectron2"),
    "MODEL.RESIZE_METHOD": _one_of("bilinear", "pil_bilinear"), "MODEL.SIZE_DIVISIBILITY": _at_least(1),
    "MODEL.POOLER_LEVEL_MAPPING": _one_of("detectron2", "torchvision"),
    "MODEL.MASK_SAMPLING_RATIO": ((lambda v: _number(v) and v <= 64),
                                  "a number <= 64 (the op's cap; <= 0: adaptive)"),
    "RESNETS.DEPTH": ((lambda v: v in (50, 101)), "50 or 101"), "RESNETS.NORM_EPS": _at_least(0),
    "ANCHOR.STYLE": _one_of("py-faster-rcnn", "torchvision", "detectron2"),
    "RPN.PROPOSALS": _one_of("merged", "per_level"),
    "RPN.RANK_BY": _one_of("probability", "logit"),
    "FPN.NORM": _one_of("", "FrozenBN"), "MODEL.MASK_HEAD_NORM": _one_of("", "FrozenBN"),
    "RPN.HEAD_CONVS": _at_least(1), "MODEL.BOX_HEAD_CONVS": _at_least(0),
}


def _check_range(key, value):
    """A ValueError naming the key and its allowed range if value is out of it."""
    if key in RANGES:
        ok, what = RANGES[key]
        if not ok(value):
            raise ValueError(f"config key {key} must be {what}, got {value!r}")


def _get(cfg, key):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def validate_cfg(cfg):
    """Checks a merged config as a whole: every key in its range (RANGES) and
    the settings that must agree. Run it once after all overrides; raises a
    ValueError naming the keys."""
    for key in RANGES:
        _check_range(key, _get(cfg, key))
    pairs = [("TRAIN.BG_THRESH_LO", "TRAIN.BG_THRESH_HI"),
             ("RPN.NEGATIVE_OVERLAP", "RPN.POSITIVE_OVERLAP")]
    for lo, hi in pairs:
        if _get(cfg, lo) > _get(cfg, hi):
            raise ValueError(f"config key {lo} ({_get(cfg, lo)}) must not exceed {hi} ({_get(cfg, hi)})")
    if cfg.MODEL.WEIGHTS == "imagenet" and cfg.MODEL.BACKBONE == "tiny":
        raise ValueError("MODEL.WEIGHTS imagenet: the tiny backbone has no ImageNet weights; set "
                         "MODEL.WEIGHTS to \"\" (random initialization) or to a weights file")
    return cfg


def diff_cfg(old, new, prefix=""):
    """[(key, old value, new value)] for every leaf key whose value differs."""
    out = []
    for k in new:
        key = f"{prefix}{k}"
        if isinstance(new[k], dict) and isinstance(old.get(k), dict):
            out += diff_cfg(old[k], new[k], key + ".")
        elif old.get(k) != new[k]:
            out.append((key, old.get(k), new[k]))
    return out


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
                _check_range(key, dst[k])
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None


def merge_from_file(cfg, path):
    """Overrides cfg with a YAML file; unknown keys, wrong types and values
    out of range (RANGES) raise."""
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory; give a YAML config file, e.g. "
                         "experiments/cfgs/faster_rcnn_vgg16.yml")
    if not os.path.exists(path):
        raise FileNotFoundError(f"config file {path} does not exist")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"{path} is not valid YAML: {e}") from None
        except UnicodeDecodeError as e:
            raise ValueError(f"{path} is not a YAML text file (not UTF-8 text: {e.reason} at byte "
                             f"{e.start})") from None
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
