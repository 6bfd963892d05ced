"""Do imported torchvision (and detectron2) weights give their detections?

For each architecture: benchmarks/zoo_parity_torch.py (run with
--torch-python, a virtual environment holding torch and torchvision, and
detectron2 for its architectures) makes
a model with random weights and measured BatchNorm statistics, saves its
state dict and its detections on the real images; then this side imports
the file with tools/import_weights.py's code, runs the imported model on
the same images and compares. JSON lines:

  {"arch", "level", "max_abs_diff", "max_abs"}            per FPN level, first image
  {"arch", "images", "reference", "matched", "share", ...} detections with score >= 0.5
  {"arch", "seconds_ours", "seconds_source", "ratio"}     median per image (first call left out)

A torchvision detection is matched by one of ours of the same class with
box IoU >= 0.95, score within 0.05 and (Mask R-CNN) mask IoU >= 0.9.

    /path/to/torch-venv/bin/pip install torch torchvision
    python benchmarks/zoo_parity.py --torch-python /path/to/torch-venv/bin/python \\
        --images ../shared/data/coco_mini/train2017 --num 20
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ARCHS = {"fasterrcnn_resnet50_fpn": "torchvision", "maskrcnn_resnet50_fpn": "torchvision",
         "fasterrcnn_resnet50_fpn_v2": "torchvision", "maskrcnn_resnet50_fpn_v2": "torchvision",
         "faster_rcnn_R_50_FPN_1x": "detectron2", "mask_rcnn_R_50_FPN_1x": "detectron2",
         "faster_rcnn_R_50_C4_1x": "detectron2"}
HERE = os.path.dirname(os.path.abspath(__file__))


def box_iou(a, b):
    """[N, M] IoU of boxes a [N, 4] and b [M, 4]."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def mask_iou(a, b):
    inter = np.logical_and(a, b).sum()
    union = np.logical_or(a, b).sum()
    return inter / union if union else 1.0


def match(ref, ours, min_score=0.5):
    """(matched, total, unmatched reasons) of ref's detections >= min_score."""
    keep = np.where(ref["scores"] >= min_score)[0]
    used, matched, reasons = set(), 0, []
    iou = box_iou(ref["boxes"][keep], ours["boxes"]) if len(ours["boxes"]) else np.zeros((len(keep), 0))
    for row, i in enumerate(keep):
        ok = [j for j in np.argsort(-iou[row]) if j not in used and iou[row, j] >= 0.95
              and ours["classes"][j] == ref["labels"][i]
              and abs(ours["scores"][j] - ref["scores"][i]) <= 0.05]
        if ok and "masks" in ref:
            ok = [j for j in ok if mask_iou(ref["masks"][i], ours["masks"][j]) >= 0.9]
        if ok:
            used.add(ok[0])
            matched += 1
        else:
            best = int(np.argmax(iou[row])) if iou.shape[1] else -1
            reasons.append({"score": float(ref["scores"][i]), "class": int(ref["labels"][i]),
                            "best_iou": float(iou[row, best]) if best >= 0 else 0.0})
    return matched, len(keep), reasons


def run_torch(python, arch, images, out, num):
    subprocess.run([python, os.path.join(HERE, "zoo_parity_torch.py"), "--arch", arch, "--images",
                    images, "--out", out, "--num", str(num)], check=True)
    ref = np.load(os.path.join(out, f"{arch}_torchvision.npz"))
    with open(os.path.join(out, f"{arch}_torchvision.json")) as f:
        meta = json.load(f)
    return ref, meta


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--torch-python", required=True, help="python of a venv with torch, torchvision")
    p.add_argument("--images", default=os.path.join(HERE, "..", "..", "shared", "data", "coco_mini",
                                                    "train2017"))
    p.add_argument("--num", type=int, default=20)
    p.add_argument("--arch", choices=sorted(ARCHS), action="append",
                   help="default: the torchvision ones (detectron2's need detectron2 in that venv)")
    p.add_argument("--work", help="folder for the files (default: a temporary one)")
    a = p.parse_args()

    from detect.tf_env import set_defaults
    set_defaults()
    import tensorflow as tf
    from PIL import Image

    from detect.predictor import prepare
    from detect.cli.import_weights import import_model
    from detect.engine.checkpoint import load_model
    from detect.modeling.postprocess import paste_masks
    from detect.weights.zoo import ARCHITECTURES

    work = a.work or tempfile.mkdtemp(prefix="zoo_parity_")
    for arch_name in a.arch or [n for n, s in ARCHS.items() if s == "torchvision"]:
        ref, meta = run_torch(a.torch_python, arch_name, a.images, work, a.num)
        source = ARCHS[arch_name]
        arch = ARCHITECTURES[(source, arch_name)]
        run = os.path.join(work, f"run_{arch_name}")
        weights = os.path.join(work, f"{arch_name}.{'pth' if source == 'torchvision' else 'pkl'}")
        import_model(arch, weights, run, overwrite=True)
        cfg, model, _ = load_model(run)
        detect = tf.function(model.detect, reduce_retracing=True)
        paste = tf.function(paste_masks, reduce_retracing=True)
        seconds, matched, total, reasons = [], 0, 0, []
        for i, name in enumerate(meta["images"]):
            rgb = np.asarray(Image.open(os.path.join(a.images, name)).convert("RGB"))
            t0 = time.perf_counter()
            image, size = prepare(rgb, cfg)
            out = detect(image, size, tf.constant([rgb.shape[:2]]))
            n = int(out["num_detections"][0])
            ours = {k: out[k][0, :n].numpy() for k in ("boxes", "scores", "classes")}
            if "masks" in out:
                ours["masks"] = paste(out["masks"][0, :n], out["boxes"][0, :n], rgb.shape[0],
                                      rgb.shape[1], cfg.TEST.MASK_THRESH, cfg.TEST.MASK_PASTE).numpy()
            seconds.append(time.perf_counter() - t0)
            theirs = {k: ref[f"{name}/{k}"] for k in ("boxes", "scores", "labels")}
            if f"{name}/masks" in ref:
                theirs["masks"] = np.unpackbits(ref[f"{name}/masks"], axis=-1,
                                                count=rgb.shape[1]).astype(bool)
            if i == 0:
                feats = model.features(image)
                levels = sorted(k.split("/")[1] for k in ref.files
                                if k.startswith("features/") and k != "features/input_size")
                for level in levels:
                    t, o = ref[f"features/{level}"], feats[level][0].numpy()
                    h, w = min(t.shape[0], o.shape[0]), min(t.shape[1], o.shape[1])
                    print(json.dumps({"arch": arch_name, "level": level, "shape_ours": list(o.shape),
                                      "shape_source": list(t.shape),
                                      "max_abs_diff": float(np.abs(t[:h, :w] - o[:h, :w]).max()),
                                      "max_abs": float(np.abs(t).max())}), flush=True)
            m, t_, r = match(theirs, ours)
            matched, total = matched + m, total + t_
            reasons += [dict(x, image=name) for x in r]
        print(json.dumps({"arch": arch_name, "images": len(meta["images"]), "reference": total,
                          "matched": matched, "share": matched / max(total, 1),
                          "unmatched": reasons[:10]}), flush=True)
        ours_s = statistics.median(seconds[1:] or seconds)
        theirs_s = statistics.median(meta["seconds"][1:] or meta["seconds"])
        print(json.dumps({"arch": arch_name, "source": source, "seconds_ours": ours_s, "seconds_source": theirs_s,
                          "ratio": ours_s / theirs_s, "torch": meta["torch"],
                          "tensorflow": tf.__version__}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
