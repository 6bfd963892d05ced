"""The torchvision (or detectron2) half of benchmarks/zoo_parity.py; runs
in a virtual environment with torch and torchvision, and detectron2 for
its architectures (never the project's own).

Builds the source's model as its zoo loader leaves it (torchvision v1:
FrozenBatchNorm2d with eps 0) with random weights made to behave like a
trained detector's, so that every stage after the RPN changes what is
compared:

- BatchNorm: every (frozen) BatchNorm gets the mean and variance its input
  has on real images (one pass, layer by layer as it goes; v2's and C4's
  head BatchNorms on that pass's RoIs), so activations stay normalized.
- Heads, each rescaled on the layer's own outputs over one real image
  (``rescale``: the weights scaled so that the outputs' spread about their
  per-channel mean is the figure below, the bias moving that mean to 0
  plus a random per-channel offset), one after another since each changes
  what the next sees. The figures are those of trained COCO detectors'
  outputs:
    RPN objectness logits    std 3 (*)
    RPN box deltas           std 0.2 (*)
    class logits             std 3 (*) over the RoIs, plus a per-class bias of
                             std 2 (scores follow the features; COCO's
                             unused "N/A" slots of torchvision get weight 0
                             and bias -30, so they never win)
    box deltas               std 1 before the (10, 10, 5, 5) weights, so
                             boxes move by ~0.1 of their size and scale by
                             ~exp(0.2)
    mask logits              std 4, the mask head's 2 x 2 transposed conv
                             given one kernel for its four positions
                             (random ones paint stripes one mask cell
                             apart, which a trained head never does and
                             which a box one pixel wider in the paste
                             turns into a mask IoU of 0.7)
  (*) or less, so that no logit on the calibration image is more than 12
  from its channel's mean (LOGIT_CAP): float32's sigmoid is exactly 1 above
  ~16.6, and among such ties the source's order is its sort's, which no
  other implementation can follow. RPN deltas likewise stay within 2 of
  their mean (DELTA_CAP: a box scales by at most e^2, not into a sliver
  0.1 pixel high whose IoU with anything is noise). The spreads reached are saved in the
  .json (head_spreads).
- Large objects: before the heads, the FPN's P2..P5 outputs (P6 pools P5)
  are scaled to a std of 1, 1.2, 1.6 and 2.2 on the calibration image
  (FPN_GAIN), so that the RPN's top scores do not all fall on P2's many
  anchors and large objects get proposals and detections, as a trained
  model's RPN finds them (random weights otherwise give almost none above
  P3).
- The background class gets 3 more in its logit's bias
  (BACKGROUND_BIAS): a trained detector calls most proposals background,
  so that an image has tens of detections above 0.5 rather than 100 whose
  last places are decided by rounding.
  (The earlier construction, std 0.01 box deltas and bias-driven scores,
  left every final box its proposal: pooling, level mapping and box
  decoding could be wrong and it still matched.)

Saves the weights as the zoo publishes them, runs the model on the images
and saves to an .npz per image its detections (original image pixels) and,
for the first ``--stage-images`` images, every stage in the resized
input's pixels: FPN features, proposals, the FPN level of each proposal,
pooled box features of up to ``--per-level`` proposals per level, the box
head's class probabilities and decoded boxes on the proposals (classes in
our order: the background first), and the detections before rescaling
with their mask probabilities. With --float64 also the source's detections
with the same weights in float64, to show how much float32 rounding alone
moves them.

    python benchmarks/zoo_parity_torch.py --arch maskrcnn_resnet50_fpn --images DIR --out DIR
"""
import argparse
import glob
import json
import os
import time

import numpy as np
import torch
from PIL import Image
from torchvision.models import resnet50
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d


D2_CONFIGS = {"faster_rcnn_R_50_C4_1x": "COCO-Detection/faster_rcnn_R_50_C4_1x.yaml",
              "faster_rcnn_R_50_FPN_1x": "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml",
              "mask_rcnn_R_50_FPN_1x": "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml"}


class Detectron2Model:
    """detectron2's model as its DefaultPredictor runs it: BGR uint8 in,
    ResizeShortestEdge(800, 1333) through PIL, detections in the image's
    pixels, classes 1..80 (ours: the background first)."""

    def __init__(self, arch):
        from detectron2 import model_zoo
        from detectron2.config import get_cfg
        from detectron2.data import transforms as T
        from detectron2.modeling import build_model as d2_build

        cfg = get_cfg()
        cfg.merge_from_file(model_zoo.get_config_file(D2_CONFIGS[arch]))
        cfg.MODEL.DEVICE = "cpu"
        self.cfg, self.model = cfg, d2_build(cfg).eval()
        self.aug = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)

    def inputs(self, rgb):
        bgr = rgb[:, :, ::-1]
        image = self.aug.get_transform(bgr).apply_image(bgr)
        return {"image": torch.as_tensor(image.astype("float32").transpose(2, 0, 1)),
                "height": rgb.shape[0], "width": rgb.shape[1]}

    def __call__(self, rgb):
        inst = self.model([self.inputs(rgb)])[0]["instances"]
        out = {"boxes": inst.pred_boxes.tensor, "scores": inst.scores, "labels": inst.pred_classes + 1}
        if inst.has("pred_masks"):
            out["masks"] = inst.pred_masks[:, None].float()
        return out

    def features(self, rgb):
        """{our level name: features} (p2..p6, or c4 for res4)."""
        images = self.model.preprocess_image([self.inputs(rgb)])
        feats = self.model.backbone(images.tensor)
        return {"c4" if k == "res4" else k: v for k, v in feats.items()}, images.tensor.shape[-2:]

    def state_dict(self):
        return self.model.state_dict()


def build(arch):
    if arch in D2_CONFIGS:
        return Detectron2Model(arch)
    if arch.endswith("_v2"):  # BatchNorm2d (eval mode) in the backbone, FPN and heads
        from torchvision.models import detection
        return getattr(detection, arch)(weights=None, weights_backbone=None, num_classes=91).eval()
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=FrozenBatchNorm2d), 3)
    cls = MaskRCNN if arch == "maskrcnn_resnet50_fpn" else FasterRCNN
    model = cls(backbone, num_classes=91)
    for m in model.modules():  # torchvision's overwrite_eps(model, 0.0) for COCO_V1
        if isinstance(m, FrozenBatchNorm2d):
            m.eps = 0.0
    return model.eval()



def load(path):
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1).float() / 255


def calibrate_batchnorm(model, images, seed):
    """Random affine BatchNorm parameters; statistics measured on ``images``."""
    g = torch.Generator().manual_seed(seed)
    hooks = []

    def measure(module, inputs):
        x = inputs[0]
        if x.shape[0] == 0:  # a head without RoIs in this pass keeps 0 / 1
            return
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        module.running_var.copy_(x.var(dim=(0, 2, 3)).clamp(min=1e-4))

    if isinstance(model, Detectron2Model):
        from detectron2.layers import FrozenBatchNorm2d as D2FrozenBN
        # detectron2 calls each conv's norm inside its Conv2d: the hooks see
        # every frozen BatchNorm, the C4 box head's res5 included
        kinds, root = D2FrozenBN, model.model
    else:
        # v1: FrozenBatchNorm2d in the backbone; v2: BatchNorm2d everywhere
        v2 = any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
        kinds, root = (torch.nn.BatchNorm2d, model) if v2 else (FrozenBatchNorm2d, model.backbone.body)
    for m in root.modules():
        if isinstance(m, kinds):
            m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            hooks.append(m.register_forward_pre_hook(measure))
    run_all(model, images[0])
    for h in hooks:
        h.remove()


def run_all(model, image):
    """One pass with every RoI a detection (score threshold 0), so that the
    mask head sees RoIs too. image: float [3, H, W] in [0, 1]."""
    if isinstance(model, Detectron2Model):
        p = model.model.roi_heads.box_predictor
        thresh, p.test_score_thresh = p.test_score_thresh, 0.0
        model((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        p.test_score_thresh = thresh
    else:
        thresh, model.roi_heads.score_thresh = model.roi_heads.score_thresh, 0.0
        model([image])
        model.roi_heads.score_thresh = thresh


# float32's sigmoid is exactly 1 above a logit of ~16.6, softmax's above a
# gap of ~16.6: among such ties the source's order is its sort's, not the
# model's, and no other implementation can follow it
LOGIT_CAP = 12.0
DELTA_CAP = 2.0
BACKGROUND_BIAS = 6.0


def head_layers(model):
    """[(role, layer, std, bias_std, cap)] in the order they are rescaled."""
    if isinstance(model, Detectron2Model):
        m = model.model
        rpn, box = m.proposal_generator.rpn_head, m.roi_heads.box_predictor
        mask = getattr(m.roi_heads, "mask_head", None)
        layers = {"rpn_cls": rpn.objectness_logits, "rpn_box": rpn.anchor_deltas,
                  "cls_score": box.cls_score, "bbox_pred": box.bbox_pred}
        if mask is not None:
            layers["mask"] = mask.predictor
    else:
        rh = model.roi_heads
        layers = {"rpn_cls": model.rpn.head.cls_logits, "rpn_box": model.rpn.head.bbox_pred,
                  "cls_score": rh.box_predictor.cls_score, "bbox_pred": rh.box_predictor.bbox_pred}
        if rh.has_mask():
            layers["mask"] = rh.mask_predictor.mask_fcn_logits
    spreads = {"rpn_cls": (3.0, 0.0, LOGIT_CAP), "rpn_box": (0.2, 0.0, DELTA_CAP),
               "cls_score": (3.0, 2.0, LOGIT_CAP), "bbox_pred": (1.0, 0.0, None),
               "mask": (4.0, 0.0, None)}
    return [(role, layer) + spreads[role] for role, layer in layers.items()]


def rescale(layer, outputs, std, bias_std, g, cap=None):
    """Scale a linear or conv layer so that its outputs (captured, [N, C]
    or [N, C, H, W]) spread by ``std`` about their per-channel mean (less
    where that would put one more than ``cap`` from it), and set its bias
    to move that mean to N(0, bias_std) per channel. Returns the spread."""
    y = torch.cat([o.transpose(0, 1).reshape(o.shape[1], -1) for o in outputs], 1)  # [C, S]
    wx = y - layer.bias[:, None]
    centred = wx - wx.mean(1)[:, None]
    k = std / float(centred.pow(2).mean().sqrt())
    if cap is not None:
        k = min(k, cap / float(centred.abs().max()))
    layer.weight.mul_(k)
    layer.bias.copy_(-k * wx.mean(1) + bias_std * torch.randn(wx.shape[0], generator=g))
    return k * float(centred.pow(2).mean().sqrt())


FPN_GAIN = {"p2": 1.0, "p3": 1.2, "p4": 1.6, "p5": 2.2}  # std of each level's output


def fpn_outputs(model):
    """{level: the last affine module of the FPN's output block}: its
    weight and bias scale that level's features (P6 pools P5)."""
    if isinstance(model, Detectron2Model):
        fpn = model.model.backbone
        if not hasattr(fpn, "fpn_output2"):
            return {}  # C4: one map
        return {f"p{k}": getattr(fpn, f"fpn_output{k}") for k in range(2, 6)}
    out = {}
    for i, block in enumerate(model.backbone.fpn.layer_blocks):
        affine = [m for m in block.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))]
        out[f"p{i + 2}"] = affine[-1]
    return out


def calibrate(model, images, seed):
    """BatchNorm statistics, the FPN's coarse levels amplified (FPN_GAIN,
    so that large objects get proposals and detections as in a trained
    model, rather than the RPN's top scores all falling on P2's many
    anchors), then each head rescaled on its own outputs."""
    calibrate_batchnorm(model, images, seed)
    root = model.model if isinstance(model, Detectron2Model) else model
    for m in root.modules():  # the mask head's 2 x 2 upsampling: blobs, not stripes
        if isinstance(m, torch.nn.ConvTranspose2d):
            m.weight.copy_(m.weight[:, :, :1, :1].expand_as(m.weight))
    outputs = fpn_outputs(model)
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, float(o.std())))
             for k, m in outputs.items()]
    run_all(model, images[0])
    for h in hooks:
        h.remove()
    for level, module in outputs.items():  # std FPN_GAIN[level] on the calibration image
        module.weight.mul_(FPN_GAIN[level] / seen[level])
        module.bias.mul_(FPN_GAIN[level] / seen[level])
    g = torch.Generator().manual_seed(seed + 1)
    spreads = {}
    for role, layer, std, bias_std, cap in head_layers(model):
        seen = []
        hook = layer.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
        run_all(model, images[0])
        hook.remove()
        spreads[role] = round(rescale(layer, seen, std, bias_std, g, cap), 3)
        if role == "cls_score":  # most proposals are background, as in a trained model
            layer.bias[-1 if isinstance(model, Detectron2Model) else 0] += BACKGROUND_BIAS
        if role == "cls_score" and not isinstance(model, Detectron2Model):
            from torchvision.models._meta import _COCO_CATEGORIES
            unused = [i for i, name in enumerate(_COCO_CATEGORIES) if name == "N/A"]
            layer.weight[unused] = 0.0
            layer.bias[unused] = -30.0
    return spreads


def stages(model, image, per_level, seed):
    """Every stage of one image (see the module's docstring); image: float
    [3, H, W] in [0, 1]. Keys: input_size, proposals, levels, pooled_index,
    pooled, class_probs, boxes, det_boxes, det_scores, det_labels, det_masks."""
    out = {}
    if isinstance(model, Detectron2Model):
        from detectron2.modeling.poolers import assign_boxes_to_levels
        m = model.model
        rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        images = m.preprocess_image([model.inputs(rgb)])
        feats = m.backbone(images.tensor)
        proposals, _ = m.proposal_generator(images, feats, None)
        boxes, rh = proposals[0].proposal_boxes, m.roi_heads
        if hasattr(rh, "box_pooler"):  # StandardROIHeads (FPN)
            bp = rh.box_pooler
            pooled = bp([feats[f] for f in rh.box_in_features], [boxes])
            levels = assign_boxes_to_levels([boxes], bp.min_level, bp.max_level,
                                            bp.canonical_box_size, bp.canonical_level) + bp.min_level
            x = rh.box_head(pooled)
        else:  # Res5ROIHeads (C4): RoIAlign on res4, then res5, averaged
            pooled = rh.pooler([feats[f] for f in rh.in_features], [boxes])
            levels = torch.full((len(boxes),), 4, dtype=torch.int64)
            x = rh.res5(pooled).mean(dim=[2, 3])
        pred = rh.box_predictor(x)
        probs = rh.box_predictor.predict_probs(pred, proposals)[0]  # [R, 81], background last
        probs = torch.cat([probs[:, -1:], probs[:, :-1]], 1)
        dec = rh.box_predictor.predict_boxes(pred, proposals)[0].reshape(len(boxes), -1, 4)
        dec = torch.cat([torch.zeros_like(dec[:, :1]), dec], 1)  # no background box: zeros
        inst = rh(images, feats, proposals)[0][0]
        out["input_size"] = np.array(images.image_sizes[0])
        out["proposals"] = boxes.tensor.numpy()
        out["det_boxes"], out["det_scores"] = inst.pred_boxes.tensor.numpy(), inst.scores.numpy()
        out["det_labels"] = inst.pred_classes.numpy() + 1
        if inst.has("pred_masks"):
            out["det_masks"] = inst.pred_masks[:, 0].numpy()
    else:
        images, _ = model.transform([image])
        feats = model.backbone(images.tensors)
        props = model.rpn(images, feats)[0]
        rh = model.roi_heads
        pooled = rh.box_roi_pool(feats, props, images.image_sizes)
        levels = rh.box_roi_pool.map_levels(props) + 2  # LevelMapper's k_min: P2
        logits, reg = rh.box_predictor(rh.box_head(pooled))
        probs, dec = torch.softmax(logits, -1), rh.box_coder.decode(reg, props)
        det = rh(feats, props, images.image_sizes)[0][0]
        out["input_size"] = np.array(images.image_sizes[0])
        out["proposals"] = props[0].numpy()
        out["det_boxes"], out["det_scores"] = det["boxes"].numpy(), det["scores"].numpy()
        out["det_labels"] = det["labels"].numpy()
        if "masks" in det:
            out["det_masks"] = det["masks"][:, 0].numpy()
    levels = levels.numpy().astype(np.int32)
    rng = np.random.default_rng(seed)
    index = np.concatenate([rng.permutation(np.where(levels == k)[0])[:per_level]
                            for k in np.unique(levels)]).astype(np.int64)
    out.update(levels=levels, pooled_index=index, pooled=pooled[index].permute(0, 2, 3, 1).numpy(),
               class_probs=probs.numpy(), boxes=dec.numpy())
    return out


def save_weights(model, out, arch):
    """torchvision: torch.save(state_dict) (.pth); detectron2: a model-zoo
    style pickle {"model": {name: ndarray}} (.pkl)."""
    if isinstance(model, Detectron2Model):
        import pickle
        path = os.path.join(out, f"{arch}.pkl")
        with open(path, "wb") as f:
            pickle.dump({"model": {k: v.numpy() for k, v in model.state_dict().items()},
                         "__author__": "zoo_parity"}, f)
        return path
    path = os.path.join(out, f"{arch}.pth")
    torch.save(model.state_dict(), path)
    return path


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="maskrcnn_resnet50_fpn")
    p.add_argument("--images", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--num", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--stage-images", type=int, default=2, help="images whose stages are saved")
    p.add_argument("--per-level", type=int, default=32, help="pooled RoIs saved per level")
    p.add_argument("--float64", action="store_true",
                   help="also run the source in float64 (its own rounding noise as a floor)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    paths = sorted(glob.glob(os.path.join(a.images, "*.jpg")))[: a.num]
    model = build(a.arch)
    with torch.no_grad():
        spreads = calibrate(model, [load(q) for q in paths[:4]], a.seed)
        os.makedirs(a.out, exist_ok=True)
        save_weights(model, a.out, a.arch)
        seconds, results = [], {}
        for i, q in enumerate(paths):
            image = load(q)
            rgb = np.asarray(Image.open(q).convert("RGB"))
            t0 = time.perf_counter()
            out = model(rgb) if isinstance(model, Detectron2Model) else model([image])[0]
            seconds.append(time.perf_counter() - t0)
            name = os.path.basename(q)
            results[f"{name}/boxes"] = out["boxes"].numpy()
            results[f"{name}/scores"] = out["scores"].numpy()
            results[f"{name}/labels"] = out["labels"].numpy()
            if "masks" in out:
                results[f"{name}/masks"] = np.packbits(out["masks"][:, 0].numpy() > 0.5, axis=-1)
            if i < a.stage_images:
                for k, v in stages(model, image, a.per_level, a.seed).items():
                    results[f"stages/{name}/{k}"] = v
            if i == 0:
                if isinstance(model, Detectron2Model):
                    feats, size = model.features(rgb)
                else:  # torchvision's "0".."3", "pool" are P2..P6
                    batch = model.transform([image])[0]
                    feats, size = model.backbone(batch.tensors), batch.tensors.shape[-2:]
                    feats = {f"p{int(k) + 2}" if k != "pool" else "p6": v for k, v in feats.items()}
                for k, v in feats.items():
                    results[f"features/{k}"] = v[0].permute(1, 2, 0).numpy()
                results["features/input_size"] = np.array(size)
        if a.float64:  # the source's own rounding noise: the same weights in float64
            (model.model if isinstance(model, Detectron2Model) else model).double()
            for q in paths:
                rgb = np.asarray(Image.open(q).convert("RGB"))
                out = model(rgb) if isinstance(model, Detectron2Model) else model([load(q).double()])[0]
                name = os.path.basename(q)
                for k in ("boxes", "scores", "labels"):
                    results[f"float64/{name}/{k}"] = out[k].float().numpy() if k != "labels" else out[k].numpy()
                if "masks" in out:
                    results[f"float64/{name}/masks"] = np.packbits(out["masks"][:, 0].numpy() > 0.5, axis=-1)
        np.savez_compressed(os.path.join(a.out, f"{a.arch}_torchvision.npz"), **results)
    with open(os.path.join(a.out, f"{a.arch}_torchvision.json"), "w") as f:
        json.dump({"images": [os.path.basename(q) for q in paths], "seconds": seconds,
                   "stage_images": [os.path.basename(q) for q in paths[: a.stage_images]],
                   "torch": torch.__version__, "head_spreads": spreads}, f)


if __name__ == "__main__":
    main()
