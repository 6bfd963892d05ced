"""The torchvision (or detectron2) half of benchmarks/zoo_parity.py; runs
in a virtual environment with torch and torchvision, and detectron2 for
its architectures (never the project's own).

Builds torchvision's fasterrcnn_resnet50_fpn / maskrcnn_resnet50_fpn as its
COCO_V1 loaders leave them (FrozenBatchNorm2d with eps 0, trainable layers
3), with random weights made to behave like trained ones: every frozen
BatchNorm gets the mean and variance its input has on real images (one
pass over a few of them, layer by layer as the pass goes), so activations
stay normalized through the 50 layers; the class scores are made
confident. Saves ``torch.save(model.state_dict())``, then runs the model on
the images and saves per image its detections (and the FPN features of the
first image) to an .npz, with the seconds of each model call.

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


def calibrate(model, images, seed):
    """Random affine BatchNorm parameters; statistics measured on ``images``."""
    if isinstance(model, Detectron2Model):
        return calibrate_detectron2(model, images, seed)
    g = torch.Generator().manual_seed(seed)
    hooks = []

    def measure(module, inputs):
        x = inputs[0]
        if x.shape[0] == 0:  # a head without RoIs in this pass keeps 0 / 1
            return
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        module.running_var.copy_(x.var(dim=(0, 2, 3)).clamp(min=1e-4))

    # v1: FrozenBatchNorm2d in the backbone; v2: BatchNorm2d everywhere,
    # calibrated by one pass of the whole model (the heads' on its RoIs)
    v2 = any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    kinds = torch.nn.BatchNorm2d if v2 else FrozenBatchNorm2d
    for m in (model if v2 else model.backbone.body).modules():
        if isinstance(m, kinds):
            m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            hooks.append(m.register_forward_pre_hook(measure))
    if v2:  # every RoI a detection, so that the mask head sees RoIs too
        thresh, model.roi_heads.score_thresh = model.roi_heads.score_thresh, 0.0
        model(images[:1])
        model.roi_heads.score_thresh = thresh
    else:
        batch = model.transform(images)[0]
        model.backbone.body(batch.tensors)
    for h in hooks:
        h.remove()
    # confident class scores and boxes that move: a trained head's ranges
    p = model.roi_heads.box_predictor
    p.cls_score.weight.normal_(0, 0.03, generator=g)
    p.cls_score.bias.normal_(0, 1.0, generator=g)
    p.bbox_pred.weight.normal_(0, 0.01, generator=g)
    rpn = model.rpn.head
    rpn.cls_logits.weight.normal_(0, 0.05, generator=g)
    rpn.bbox_pred.weight.normal_(0, 0.005, generator=g)


def calibrate_detectron2(d2, images, seed):
    from detectron2.layers import FrozenBatchNorm2d as D2FrozenBN

    g = torch.Generator().manual_seed(seed)
    hooks = []

    def measure(module, inputs):
        x = inputs[0]
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        module.running_var.copy_(x.var(dim=(0, 2, 3)).clamp(min=1e-4))

    # detectron2 calls each conv's norm inside its Conv2d: the hooks see it
    # every frozen BatchNorm, the C4 box head's res5 included (on the RoIs of
    # one pass of the whole model)
    for m in d2.model.modules():
        if isinstance(m, D2FrozenBN):
            m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            hooks.append(m.register_forward_pre_hook(measure))
    seen = []  # the box features of the calibration pass, to scale the class scores by
    hooks.append(d2.model.roi_heads.box_predictor.register_forward_pre_hook(
        lambda module, inputs: seen.append(inputs[0].detach().clone())))
    rgb = [(x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for x in images]
    d2.model([d2.inputs(rgb[0])])
    for h in hooks:
        h.remove()
    roi = d2.model.roi_heads
    # class logits that vary from RoI to RoI by about 3 (a trained head's
    # are confident and differ between objects): the weights scaled to the
    # features' spread around their mean, the bias centring them. Random
    # heads give features much alike over the RoIs (the C4 head's 2048
    # averages most of all); scaled by their size instead, every RoI would
    # get the same near-certain class, and the 100 kept would be a draw.
    feats = seen[0]
    mean, spread = feats.mean(0), (feats - feats.mean(0)).pow(2).mean().sqrt()
    dim = roi.box_predictor.cls_score.weight.shape[1]
    w = roi.box_predictor.cls_score.weight.normal_(0, 3.0 / (float(spread) * dim ** 0.5), generator=g)
    roi.box_predictor.cls_score.bias.copy_(-(w @ mean) + torch.randn(w.shape[0], generator=g))
    roi.box_predictor.bbox_pred.weight.normal_(0, 0.01, generator=g)
    rpn = d2.model.proposal_generator.rpn_head
    rpn.objectness_logits.weight.normal_(0, 0.05, generator=g)
    rpn.anchor_deltas.weight.normal_(0, 0.005, generator=g)


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
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    paths = sorted(glob.glob(os.path.join(a.images, "*.jpg")))[: a.num]
    model = build(a.arch)
    with torch.no_grad():
        calibrate(model, [load(q) for q in paths[:4]], a.seed)
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
        np.savez_compressed(os.path.join(a.out, f"{a.arch}_torchvision.npz"), **results)
    with open(os.path.join(a.out, f"{a.arch}_torchvision.json"), "w") as f:
        json.dump({"images": [os.path.basename(q) for q in paths], "seconds": seconds,
                   "torch": torch.__version__}, f)


if __name__ == "__main__":
    main()
