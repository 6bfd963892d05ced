"""The model zoos' architectures: for each, the config that rebuilds it
(experiments/cfgs/zoo/) and the map from the source's tensor names to the
model's variables, checked both ways.

    arch = ARCHITECTURES[("torchvision", "maskrcnn_resnet50_fpn")]
    values, sources, report = map_state(read_state_dict(path), arch.mapping(), path)

This module knows names, not models: it gives arrays by our variable
paths, and detect/modeling/load_weights.py puts them onto a built model's
variables. A map is names and layouts only (DESIGN.md): PyTorch's OIHW convolution
kernels become HWIO, its [out, in] linear weights [in, out], its
[in, out, kh, kw] transposed-convolution kernels [kh, kw, out, in], and the
first fc layer's rows go from PyTorch's (C, H, W) flattening to ours
(H, W, C). No value is computed from another.
"""
import dataclasses
import os
import re
from typing import Callable, Dict, Tuple

import numpy as np

from detect.weights.coco_classes import contiguous_coco_classes, torchvision_coco_classes
from detect.weights.torch_zip import WeightsFileError

CFG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "experiments", "cfgs", "zoo")


def conv_kernel(w):
    """PyTorch Conv2d weight [out, in, kh, kw] -> Keras [kh, kw, in, out]."""
    return np.transpose(w, (2, 3, 1, 0))


def deconv_kernel(w):
    """PyTorch ConvTranspose2d weight [in, out, kh, kw] -> Keras
    Conv2DTranspose [kh, kw, out, in]."""
    return np.transpose(w, (2, 3, 1, 0))


def dense_kernel(w):
    """PyTorch Linear weight [out, in] -> Keras Dense [in, out]."""
    return np.transpose(w)


def flatten_dense_kernel(channels, size):
    """The first fc after a flatten of [C, size, size] features: rows from
    PyTorch's (C, H, W) order to ours (H, W, C)."""
    def convert(w):
        out = w.shape[0]
        return np.transpose(w.reshape(out, channels, size, size), (2, 3, 1, 0)).reshape(-1, out)
    return convert


def same(w):
    return w


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One supported zoo model.

    Attributes:
      source, name: e.g. "torchvision", "maskrcnn_resnet50_fpn".
      config: the YAML file under experiments/cfgs/zoo/ that rebuilds it.
      class_names: the model's output slots, the background first.
      mapping: (source names -> canonical names) then the canonical map,
        see ``torchvision_mapping``.
      file_name, url, sha256_prefix: the source's published file.
      published: the source's own COCO val2017 figures, e.g. "box AP 37.0".
    """
    source: str
    name: str
    config: str
    class_names: Tuple[str, ...]
    mapping: Callable[[dict], Dict[str, Tuple[str, Callable]]]
    file_name: str
    url: str
    sha256_prefix: str
    published: str

    @property
    def config_path(self):
        return os.path.join(CFG_DIR, self.config)


# newer torchvision writes Conv2dNormActivation keys (".0." inside); the
# published 2019 files have the flat names; both are read
_TORCHVISION_RENAMES = [
    (re.compile(r"^backbone\.fpn\.(inner|layer)_blocks\.(\d+)\.0\."), r"backbone.fpn.\1_blocks.\2."),
    (re.compile(r"^rpn\.head\.conv\.0\.0\."), "rpn.head.conv."),
    (re.compile(r"^roi_heads\.mask_head\.(\d+)\.0\."),
     lambda m: f"roi_heads.mask_head.mask_fcn{int(m.group(1)) + 1}."),
]


def canonical_torchvision_names(state):
    """{canonical name: source name} of a torchvision state dict."""
    out = {}
    for name in state:
        canon = name
        for pattern, repl in _TORCHVISION_RENAMES:
            canon = pattern.sub(repl, canon)
        out[canon] = name
    return out


def _bn(ours, theirs):
    return {f"{ours}/gamma": (f"{theirs}.weight", same), f"{ours}/beta": (f"{theirs}.bias", same),
            f"{ours}/moving_mean": (f"{theirs}.running_mean", same),
            f"{ours}/moving_variance": (f"{theirs}.running_var", same)}


# the blocks of stages res2..res5 of a ResNet-50 (He et al. 2016, Table 1),
# the depth of every zoo architecture here; the model's own table of depths
# is detect/modeling/resnet.py's BLOCKS, which ImageNet backbones pass in
RESNET50_BLOCKS = (3, 4, 6, 3)


def _resnet_mapping(stages, blocks, stem, block, conv, norm, shortcut, bn=None):
    """Our resnet (resnet.py) <- a zoo's ResNet names. blocks: the block
    count of res2..res5; stem: (conv weight, norm) names; block(stage, b):
    a block's prefix; conv(k) and norm(k): the suffixes of conv k's weight
    and BatchNorm; shortcut: (weight, norm) suffixes of the projection;
    bn(ours, theirs): a BatchNorm's map (_bn)."""
    bn = bn or _bn
    m = {"stem_conv/kernel": (stem[0], conv_kernel)}
    m.update(bn("stem_bn", stem[1]))
    for stage in stages:
        for b in range(blocks[stage - 2]):
            ours, theirs = f"res{stage}_{b}", block(stage, b)
            for k in (1, 2, 3):
                m[f"{ours}_conv{k}/kernel"] = (f"{theirs}{conv(k)}", conv_kernel)
                m.update(bn(f"{ours}_bn{k}", f"{theirs}{norm(k)}"))
            if b == 0:
                m[f"{ours}_shortcut/kernel"] = (f"{theirs}{shortcut[0]}", conv_kernel)
                m.update(bn(f"{ours}_shortcut_bn", f"{theirs}{shortcut[1]}"))
    return m


def torchvision_resnet_mapping(prefix="backbone.body.", blocks=RESNET50_BLOCKS, top_level=5):
    """Our resnet backbone <- torchvision's ResNet names (layer<s-1>.<b>)."""
    return _resnet_mapping(range(2, top_level + 1), blocks, (f"{prefix}conv1.weight", f"{prefix}bn1"),
                           lambda stage, b: f"{prefix}layer{stage - 1}.{b}", lambda k: f".conv{k}.weight",
                           lambda k: f".bn{k}", (".downsample.0.weight", ".downsample.1"))


def _conv(ours, theirs, kernel=conv_kernel):
    return {f"{ours}/kernel": (f"{theirs}.weight", kernel), f"{ours}/bias": (f"{theirs}.bias", same)}


def _dense(ours, theirs, kernel=dense_kernel):
    return {f"{ours}/kernel": (f"{theirs}.weight", kernel), f"{ours}/bias": (f"{theirs}.bias", same)}


def torchvision_rcnn_mapping(masks):
    """{our variable path: (canonical torchvision name, layout change)} of
    fasterrcnn_resnet50_fpn (masks=False) or maskrcnn_resnet50_fpn."""
    m = torchvision_resnet_mapping()
    for k in range(2, 6):
        m.update(_conv(f"fpn/fpn_lateral{k}", f"backbone.fpn.inner_blocks.{k - 2}"))
        m.update(_conv(f"fpn/fpn_output{k}", f"backbone.fpn.layer_blocks.{k - 2}"))
    m.update(_conv("rpn/rpn_head/rpn_conv", "rpn.head.conv"))
    m.update(_conv("rpn/rpn_head/rpn_cls", "rpn.head.cls_logits"))
    m.update(_conv("rpn/rpn_head/rpn_box", "rpn.head.bbox_pred"))
    m.update(_dense("roi_heads/fc_head/fc6", "roi_heads.box_head.fc6", flatten_dense_kernel(256, 7)))
    m.update(_dense("roi_heads/fc_head/fc7", "roi_heads.box_head.fc7"))
    m.update(_dense("roi_heads/cls_score", "roi_heads.box_predictor.cls_score"))
    m.update(_dense("roi_heads/bbox_pred", "roi_heads.box_predictor.bbox_pred"))
    if masks:
        for i in range(1, 5):
            m.update(_conv(f"mask_head/mask_fcn/mask_fcn{i}", f"roi_heads.mask_head.mask_fcn{i}"))
        m.update(_conv("mask_head/deconv", "roi_heads.mask_predictor.conv5_mask", deconv_kernel))
        m.update(_conv("mask_head/predictor", "roi_heads.mask_predictor.mask_fcn_logits"))
    return m


def background_first_rows(w):
    """detectron2's class scores [81, ...], the background last -> ours,
    the background first (a permutation of rows; softmax does not see it)."""
    return np.concatenate([w[-1:], w[:-1]], axis=0)


def with_background_rows(per_class):
    """detectron2's class-specific rows (boxes: 4 per class, masks: 1) have
    none for the background; ours do and never use them: zero rows first."""
    def convert(w):
        return np.concatenate([np.zeros((per_class,) + w.shape[1:], w.dtype), w], axis=0)
    return convert


def _then(*steps):
    def convert(w):
        for step in steps:
            w = step(w)
        return w
    return convert


def detectron2_resnet_mapping(prefix="backbone.bottom_up.", stages=(2, 3, 4, 5)):
    """Our resnet backbone <- detectron2's ResNet-50 names (res<s>.<b>.conv<k>,
    its FrozenBatchNorm as conv<k>.norm)."""
    return _resnet_mapping(stages, RESNET50_BLOCKS, (f"{prefix}stem.conv1.weight", f"{prefix}stem.conv1.norm"),
                           lambda stage, b: f"{prefix}res{stage}.{b}", lambda k: f".conv{k}.weight",
                           lambda k: f".conv{k}.norm", (".shortcut.weight", ".shortcut.norm"))


def _detectron2_rpn_and_predictor():
    """The RPN head and the box predictor (background last, no background
    box rows), as every detectron2 R-CNN names them."""
    m = _conv("rpn/rpn_head/rpn_conv", "proposal_generator.rpn_head.conv")
    m.update(_conv("rpn/rpn_head/rpn_cls", "proposal_generator.rpn_head.objectness_logits"))
    m.update(_conv("rpn/rpn_head/rpn_box", "proposal_generator.rpn_head.anchor_deltas"))
    m["roi_heads/cls_score/kernel"] = ("roi_heads.box_predictor.cls_score.weight",
                                       _then(background_first_rows, dense_kernel))
    m["roi_heads/cls_score/bias"] = ("roi_heads.box_predictor.cls_score.bias", background_first_rows)
    m["roi_heads/bbox_pred/kernel"] = ("roi_heads.box_predictor.bbox_pred.weight",
                                       _then(with_background_rows(4), dense_kernel))
    m["roi_heads/bbox_pred/bias"] = ("roi_heads.box_predictor.bbox_pred.bias", with_background_rows(4))
    return m


def detectron2_rcnn_mapping(masks):
    """{our variable path: (detectron2 name, layout change)} of
    faster_rcnn_R_50_FPN / mask_rcnn_R_50_FPN (80 classes, background last)."""
    m = detectron2_resnet_mapping()
    for k in range(2, 6):
        m.update(_conv(f"fpn/fpn_lateral{k}", f"backbone.fpn_lateral{k}"))
        m.update(_conv(f"fpn/fpn_output{k}", f"backbone.fpn_output{k}"))
    m.update(_detectron2_rpn_and_predictor())
    m.update(_dense("roi_heads/fc_head/fc6", "roi_heads.box_head.fc1", flatten_dense_kernel(256, 7)))
    m.update(_dense("roi_heads/fc_head/fc7", "roi_heads.box_head.fc2"))
    if masks:
        for i in range(1, 5):
            m.update(_conv(f"mask_head/mask_fcn/mask_fcn{i}", f"roi_heads.mask_head.mask_fcn{i}"))
        m.update(_conv("mask_head/deconv", "roi_heads.mask_head.deconv", deconv_kernel))
        m["mask_head/predictor/kernel"] = ("roi_heads.mask_head.predictor.weight",
                                           _then(with_background_rows(1), conv_kernel))
        m["mask_head/predictor/bias"] = ("roi_heads.mask_head.predictor.bias", with_background_rows(1))
    return m


def torchvision_v2_mapping(masks):
    """{our variable path: (canonical torchvision name, layout change)} of
    fasterrcnn_resnet50_fpn_v2 / maskrcnn_resnet50_fpn_v2: BatchNorm after
    the FPN's and the heads' convs (index .1 of each Conv2dNormActivation),
    a 2-conv RPN head, a 4-conv + 1-fc box head."""
    m = torchvision_resnet_mapping()
    for k in range(2, 6):
        for ours, theirs in (("lateral", "inner"), ("output", "layer")):
            base = f"fpn/fpn_{ours}{k}_norm/fpn_{ours}{k}"
            m[f"{base}/kernel"] = (f"backbone.fpn.{theirs}_blocks.{k - 2}.weight", conv_kernel)
            m.update(_bn(f"{base}_bn", f"backbone.fpn.{theirs}_blocks.{k - 2}.1"))
    m.update(_conv("rpn/rpn_head/rpn_conv", "rpn.head.conv"))
    m.update(_conv("rpn/rpn_head/rpn_conv2", "rpn.head.conv.1.0"))
    m.update(_conv("rpn/rpn_head/rpn_cls", "rpn.head.cls_logits"))
    m.update(_conv("rpn/rpn_head/rpn_box", "rpn.head.bbox_pred"))
    for i in range(1, 5):
        m[f"roi_heads/conv_fc_head/box_conv{i}/kernel"] = (f"roi_heads.box_head.{i - 1}.0.weight", conv_kernel)
        m.update(_bn(f"roi_heads/conv_fc_head/box_conv{i}_bn", f"roi_heads.box_head.{i - 1}.1"))
    m.update(_dense("roi_heads/conv_fc_head/fc6", "roi_heads.box_head.5", flatten_dense_kernel(256, 7)))
    m.update(_dense("roi_heads/cls_score", "roi_heads.box_predictor.cls_score"))
    m.update(_dense("roi_heads/bbox_pred", "roi_heads.box_predictor.bbox_pred"))
    if masks:
        for i in range(1, 5):
            m[f"mask_head/mask_fcn/mask_fcn{i}/kernel"] = (f"roi_heads.mask_head.mask_fcn{i}.weight",
                                                           conv_kernel)
            m.update(_bn(f"mask_head/mask_fcn/mask_fcn{i}_bn", f"roi_heads.mask_head.{i - 1}.1"))
        m.update(_conv("mask_head/deconv", "roi_heads.mask_predictor.conv5_mask", deconv_kernel))
        m.update(_conv("mask_head/predictor", "roi_heads.mask_predictor.mask_fcn_logits"))
    return m


def detectron2_c4_mapping():
    """{our variable path: (detectron2 name, layout change)} of
    faster_rcnn_R_50_C4: the ResNet to res4 as the backbone, RPN on res4
    (15 anchors a cell), res5 and the predictor in the RoI heads."""
    m = detectron2_resnet_mapping(prefix="backbone.", stages=(2, 3, 4))
    res5 = detectron2_resnet_mapping(prefix="roi_heads.", stages=(5,))
    m.update({k: v for k, v in res5.items() if k.startswith("res5_")})  # the box head's res5
    m.update(_detectron2_rpn_and_predictor())
    return m


_TV = "https://download.pytorch.org/models/"
_D2 = "https://dl.fbaipublicfiles.com/detectron2/"
ARCHITECTURES = {
    ("torchvision", "fasterrcnn_resnet50_fpn"): Architecture(
        "torchvision", "fasterrcnn_resnet50_fpn", "torchvision_fasterrcnn_resnet50_fpn.yml",
        tuple(torchvision_coco_classes()), lambda: torchvision_rcnn_mapping(masks=False),
        "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", _TV + "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
        "258fb6c6", "box AP 37.0"),
    ("torchvision", "maskrcnn_resnet50_fpn"): Architecture(
        "torchvision", "maskrcnn_resnet50_fpn", "torchvision_maskrcnn_resnet50_fpn.yml",
        tuple(torchvision_coco_classes()), lambda: torchvision_rcnn_mapping(masks=True),
        "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth", _TV + "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
        "bf2d0c1e", "box AP 37.9, mask AP 34.6"),
    ("torchvision", "fasterrcnn_resnet50_fpn_v2"): Architecture(
        "torchvision", "fasterrcnn_resnet50_fpn_v2", "torchvision_fasterrcnn_resnet50_fpn_v2.yml",
        tuple(torchvision_coco_classes()), lambda: torchvision_v2_mapping(masks=False),
        "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth",
        _TV + "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth", "dd69338a", "box AP 46.7"),
    ("torchvision", "maskrcnn_resnet50_fpn_v2"): Architecture(
        "torchvision", "maskrcnn_resnet50_fpn_v2", "torchvision_maskrcnn_resnet50_fpn_v2.yml",
        tuple(torchvision_coco_classes()), lambda: torchvision_v2_mapping(masks=True),
        "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
        _TV + "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth", "73cbd019", "box AP 47.4, mask AP 41.8"),
}


def _detectron2(name, config, masks, path, published):
    file_name = path.rsplit("/", 1)[1]
    return Architecture("detectron2", name, config, tuple(contiguous_coco_classes()),
                        lambda: detectron2_rcnn_mapping(masks), file_name, _D2 + path,
                        "", published)


for _name, _path, _ap in [
        ("faster_rcnn_R_50_FPN_1x", "COCO-Detection/faster_rcnn_R_50_FPN_1x/137257794/model_final_b275ba.pkl",
         "box AP 37.9"),
        ("faster_rcnn_R_50_FPN_3x", "COCO-Detection/faster_rcnn_R_50_FPN_3x/137849458/model_final_280758.pkl",
         "box AP 40.2")]:
    ARCHITECTURES[("detectron2", _name)] = _detectron2(
        _name, "detectron2_faster_rcnn_R_50_FPN.yml", False, _path, _ap)
ARCHITECTURES[("detectron2", "faster_rcnn_R_50_C4_1x")] = Architecture(
    "detectron2", "faster_rcnn_R_50_C4_1x", "detectron2_faster_rcnn_R_50_C4.yml",
    tuple(contiguous_coco_classes()), detectron2_c4_mapping, "model_final_721ade.pkl",
    _D2 + "COCO-Detection/faster_rcnn_R_50_C4_1x/137257644/model_final_721ade.pkl", "", "box AP 35.7")
for _name, _path, _ap in [
        ("mask_rcnn_R_50_FPN_1x",
         "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x/137260431/model_final_a54504.pkl",
         "box AP 38.6, mask AP 35.2"),
        ("mask_rcnn_R_50_FPN_3x",
         "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x/137849600/model_final_f10217.pkl",
         "box AP 41.0, mask AP 37.2")]:
    ARCHITECTURES[("detectron2", _name)] = _detectron2(
        _name, "detectron2_mask_rcnn_R_50_FPN.yml", True, _path, _ap)

# source tensors that no model variable takes, by design: BatchNorm's step
# counter; detectron2's pixel statistics and anchors (buffers some of its
# files hold; the config says the same: MODEL.PIXEL_NORMALIZATION, ANCHOR.*)
IGNORED = re.compile(r"(^|\.)num_batches_tracked$|^pixel_(mean|std)$|anchor_generator\.cell_anchors\.")


@dataclasses.dataclass
class LoadReport:
    """What a load did: every variable set, every source tensor used."""
    assigned: int
    used: int
    ignored: list


def short_list(names, limit=6):
    """The first ``limit`` names, sorted, and how many there are in all."""
    names = sorted(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _source_names(state, mapping, path, canonical=canonical_torchvision_names, ignore=IGNORED):
    """({canonical name: name in state}, ignored names) when ``state`` holds
    exactly the tensors of ``mapping`` (less ignorable ones, e.g.
    num_batches_tracked); a WeightsFileError naming the tensors otherwise."""
    names = canonical(state)
    absent = [f"{src} (for {ours})" for ours, (src, _) in mapping.items() if src not in names]
    if absent:
        raise WeightsFileError(f"{path} lacks {len(absent)} tensors of this architecture: "
                               f"{short_list(absent)}. Is it a checkpoint of another model?")
    used = {names[src] for src, _ in mapping.values()}
    left = [n for n in state if n not in used and not ignore.search(n)]
    if left:
        raise WeightsFileError(f"{path} has {len(left)} tensors this architecture does not use: "
                               f"{short_list(left)}. Is it a checkpoint of another model (--arch)?")
    return names, [n for n in state if n not in used]


def map_state(state, mapping, path, canonical=canonical_torchvision_names, ignore=IGNORED):
    """The source arrays ``state`` in our layouts: ({our variable path:
    float32 value}, {our path: (source name, source shape)}, LoadReport).
    Every mapped tensor must be there, every other one ignorable, and every
    value finite floating point; else a WeightsFileError naming the tensors."""
    names, ignored = _source_names(state, mapping, path, canonical, ignore)
    values, sources = {}, {}
    for ours, (src, convert) in mapping.items():
        array = np.asarray(state[names[src]])
        if not np.issubdtype(array.dtype, np.floating):
            raise WeightsFileError(f"{path}: {names[src]} is {array.dtype}, not floating point")
        try:
            value = convert(array.astype(np.float32))
        except ValueError as e:  # a layout change that does not fit: another ndim or size
            raise WeightsFileError(f"{path}: {names[src]} has shape {list(array.shape)}, which "
                                   f"{ours} cannot take ({e})") from None
        if not np.all(np.isfinite(value)):
            raise WeightsFileError(f"{path}: {names[src]} holds NaN or inf")
        values[ours], sources[ours] = value, (names[src], array.shape)
    return values, sources, LoadReport(len(values), len({n for n, _ in sources.values()}), ignored)


def identify_architecture(state, path):
    """(the zoo architecture whose map takes exactly the tensors of
    ``state``, its map_state values), or None."""
    for arch in ARCHITECTURES.values():
        mapping = arch.mapping()
        try:
            _source_names(state, mapping, path)
        except WeightsFileError:
            continue
        return arch, map_state(state, mapping, path)[0]
    return None


def zeros_like(w):
    return np.zeros_like(w)


def ones_like(w):
    return np.ones_like(w)


def caffe2_resnet_mapping(blocks=RESNET50_BLOCKS, top_level=5):
    """Our resnet backbone <- the MSRA ResNet's Caffe2 blob names
    (detectron2's ImageNetPretrained/MSRA/R-50.pkl: conv1_w, res_conv1_bn_s,
    res<s>_<b>_branch2{a,b,c}_w, ..._branch1_w for projections). Their
    BatchNorm is an affine scale (_bn_s) and shift (_bn_b) only; the frozen
    BatchNorm's mean and variance are 0 and 1, as detectron2's
    FrozenBatchNorm2d fills them for these files."""
    def bn(ours, blob):
        return {f"{ours}/gamma": (f"{blob}_s", same), f"{ours}/beta": (f"{blob}_b", same),
                f"{ours}/moving_mean": (f"{blob}_s", zeros_like),
                f"{ours}/moving_variance": (f"{blob}_s", ones_like)}
    branch = " abc"
    return _resnet_mapping(range(2, top_level + 1), blocks, ("conv1_w", "res_conv1_bn"),
                           lambda stage, b: f"res{stage}_{b}", lambda k: f"_branch2{branch[k]}_w",
                           lambda k: f"_branch2{branch[k]}_bn", ("_branch1_w", "_branch1_bn"), bn)
