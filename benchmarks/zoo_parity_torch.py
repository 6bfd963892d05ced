"""The torchvision half of benchmarks/zoo_parity.py; runs in a virtual
environment with torch and torchvision (never the project's own).

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


def build(arch):
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
    g = torch.Generator().manual_seed(seed)
    hooks = []

    def measure(module, inputs):
        x = inputs[0]
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        module.running_var.copy_(x.var(dim=(0, 2, 3)).clamp(min=1e-4))

    for m in model.backbone.body.modules():
        if isinstance(m, FrozenBatchNorm2d):
            m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            hooks.append(m.register_forward_pre_hook(measure))
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
        torch.save(model.state_dict(), os.path.join(a.out, f"{a.arch}.pth"))
        seconds, results = [], {}
        for i, q in enumerate(paths):
            image = load(q)
            t0 = time.perf_counter()
            out = model([image])[0]
            seconds.append(time.perf_counter() - t0)
            name = os.path.basename(q)
            results[f"{name}/boxes"] = out["boxes"].numpy()
            results[f"{name}/scores"] = out["scores"].numpy()
            results[f"{name}/labels"] = out["labels"].numpy()
            if "masks" in out:
                results[f"{name}/masks"] = np.packbits(out["masks"][:, 0].numpy() > 0.5, axis=-1)
            if i == 0:
                batch = model.transform([image])[0]
                feats = model.backbone(batch.tensors)
                for k, v in feats.items():
                    results[f"features/{k}"] = v[0].permute(1, 2, 0).numpy()
                results["features/input_size"] = np.array(batch.tensors.shape[-2:])
        np.savez_compressed(os.path.join(a.out, f"{a.arch}_torchvision.npz"), **results)
    with open(os.path.join(a.out, f"{a.arch}_torchvision.json"), "w") as f:
        json.dump({"images": [os.path.basename(q) for q in paths], "seconds": seconds,
                   "torch": torch.__version__}, f)


if __name__ == "__main__":
    main()
