"""Do imported torchvision and detectron2 weights give their source's
detections, stage by stage, for objects of every size?

For each architecture, benchmarks/zoo_parity_torch.py (run with
--torch-python: a virtual environment with torch and torchvision, and
detectron2 for its architectures) builds the source's model with random
weights made to behave like a trained detector's (its docstring gives the
spreads: box deltas of std 1, class scores that follow the features, the
coarse FPN levels amplified so that large objects are found), saves the
weights as the zoo publishes them, its detections on the real images and,
for the first --stage-images images, every stage. This side imports the
file with tools/import_weights.py's code, feeds the source's own
intermediate results to each of our stages and compares. JSON lines:

  {"arch", "image", "stage": "features", "level", "rel_diff"}
  {"arch", "image", "stage": "proposals", "count_ours", "count_source", "share_twin"}
      share of the source's proposals with one of ours at IoU >= 0.99
  {"arch", "image", "stage": "levels", "rois", "share_equal"}
      the level each source proposal is pooled from (ours: the pooler's)
  {"arch", "image", "stage": "pooled", "level", "rois", "rel_diff"}
      pooled box features of the source's proposals, max abs diff / max abs
  {"arch", "image", "stage": "box_head", "max_prob_diff", "max_box_diff_px", "by_level"}
      class probabilities and decoded boxes on the source's proposals (per
      level also box_rel: the largest difference over the proposal's side)
  {"arch", "image", "stage": "mask_head", "max_prob_diff"}
      mask probabilities on the source's detections
  {"arch", "image", "stage": "paste", "min_mask_iou", "share_identical"}
      the source's mask probabilities pasted by us on its final boxes
  {"arch", "images", "reference", "matched", "share", "by_level", "by_size", "goal_met",
   "unmatched_by_reason", "unmatched"}
      final detections (score >= 0.5) found among ours: same class, box
      IoU >= 0.95, score within 0.05, mask IoU >= 0.9; by the FPN level
      torchvision's LevelMapper gives the box in the resized input (P2..P5)
      and by COCO size of its box area in the image (small < 32^2 <=
      medium < 96^2 <= large); goal_met: >= 99% at every level with >= 20;
      why the rest failed, by the nearest box of ours: "no box" (IoU < 0.95),
      "class", "score", "taken" (matched to another) or "mask" (IoU < 0.9)
  {"arch", "stage": "source_float64", "reference", "matched", "by_level"}
      with --float64: the source's float32 detections found among its own
      float64 ones by the same rule: how far rounding alone moves them
  {"arch", "seconds_ours", "seconds_source", "ratio"}
      median seconds per image (image to detections, masks pasted), the
      first image left out, both measured in this run

--break makes a deliberately broken copy of our model, to show which
check catches what. Two are the bugs this benchmark found (fixed
2026-12-07): anchor_strides (torchvision's P6 anchors placed 64 pixels
apart where its AnchorGenerator steps 800 // 13 = 61) and empty_proposals
(anchors wholly outside the image kept as empty proposals, which detectron2
drops). A break lasts the whole process: name one --arch with it
(anchor_strides touches torchvision's models only, empty_proposals
detectron2's).

    /path/to/torch-venv/bin/pip install torch torchvision
    python benchmarks/zoo_parity.py --torch-python /path/to/torch-venv/bin/python \\
        --images ../shared/data/coco_mini/train2017 --num 12
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
BREAKS = ("anchor_strides", "empty_proposals", "levels", "aligned", "sampling", "box_decode",
          "mask_paste")
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
    """(hit per ref detection >= min_score, in score order of keep; the
    unmatched ones' nearest box). A hit: one of ours not used yet of the
    same class, box IoU >= 0.95, score within 0.05, mask IoU >= 0.9."""
    keep = np.where(ref["scores"] >= min_score)[0]
    used, hits, reasons = set(), [], []
    iou = box_iou(ref["boxes"][keep], ours["boxes"]) if len(ours["boxes"]) else np.zeros((len(keep), 0))
    for row, i in enumerate(keep):
        ok = [j for j in np.argsort(-iou[row]) if j not in used and iou[row, j] >= 0.95
              and ours["classes"][j] == ref["labels"][i]
              and abs(ours["scores"][j] - ref["scores"][i]) <= 0.05]
        if ok and "masks" in ref:
            ok = [j for j in ok if mask_iou(ref["masks"][i], ours["masks"][j]) >= 0.9]
        hits.append(bool(ok))
        if ok:
            used.add(ok[0])
        else:
            best = int(np.argmax(iou[row])) if iou.shape[1] else -1
            why = {"score": float(ref["scores"][i]), "class": int(ref["labels"][i]),
                   "box": [round(float(v), 1) for v in ref["boxes"][i]],
                   "best_iou": float(iou[row, best]) if best >= 0 else 0.0}
            if best >= 0:
                why.update(best_class=int(ours["classes"][best]), best_score=float(ours["scores"][best]),
                           best_used=best in used)
                if "masks" in ref:
                    why["best_mask_iou"] = float(mask_iou(ref["masks"][i], ours["masks"][best]))
            why["reason"] = ("no box" if why["best_iou"] < 0.95 else
                             "class" if why.get("best_class") != why["class"] else
                             "score" if abs(why["best_score"] - why["score"]) > 0.05 else
                             "taken" if why["best_used"] else "mask")
            reasons.append(why)
    return hits, reasons


def level_of(boxes):
    """torchvision's LevelMapper level (2..5) of boxes [N, 4] in input pixels."""
    size = np.sqrt(np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None))
    with np.errstate(divide="ignore"):
        return np.clip(np.floor(4 + np.log2(size / 224) + 1e-6), 2, 5).astype(int)


def size_of(boxes):
    """COCO's small / medium / large of boxes [N, 4] in image pixels."""
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    return np.where(area < 32 ** 2, "small", np.where(area < 96 ** 2, "medium", "large"))


def run_torch(python, arch, images, out, num, stage_images, float64):
    if python is not None:
        subprocess.run([python, os.path.join(HERE, "zoo_parity_torch.py"), "--arch", arch, "--images",
                        images, "--out", out, "--num", str(num), "--stage-images", str(stage_images)]
                       + (["--float64"] if float64 else []), check=True)
    ref = np.load(os.path.join(out, f"{arch}_torchvision.npz"))
    with open(os.path.join(out, f"{arch}_torchvision.json")) as f:
        meta = json.load(f)
    return ref, meta


def break_model(model, cfg, how):
    """A deliberately broken copy of one stage (--break)."""
    import tensorflow as tf

    heads = model.roi_heads
    poolers = [heads.pooler] + ([heads.mask_pooler] if heads.has_masks else [])
    if how == "anchor_strides":  # the level's stride, not image size // map size
        model.rpn.strides_from_image = False
    elif how == "empty_proposals":  # RPN.MIN_SIZE 0 keeping boxes clipped to zero height
        from detect.boxes import box_ops
        box_ops.keep_min_size = lambda b, m: tf.logical_and(b[:, 2] - b[:, 0] >= m, b[:, 3] - b[:, 1] >= m)
    elif how == "levels":
        for p in poolers:
            p.canonical_size *= 0.75
    elif how == "aligned":
        for p in poolers:
            p.aligned = not p.aligned
    elif how == "sampling":
        heads.pooler.sampling_ratio = 0 if heads.pooler.sampling_ratio > 0 else 2
    elif how == "box_decode":
        s = model.postprocessor.bbox_stds
        model.postprocessor.bbox_stds = (s[0], s[1], s[2] * 1.1, s[3] * 1.1)
    elif how == "mask_paste":
        cfg.TEST.MASK_PASTE = "detectron2" if cfg.TEST.MASK_PASTE == "torchvision" else "torchvision"


def rel_diff(ours, theirs):
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-12)) if theirs.size else 0.0


def compare_stages(arch_name, model, cfg, image, size, ref, name, emit, original=None):
    """Feed the source's intermediate results of one image to each of our
    stages (see the module's docstring)."""
    import tensorflow as tf

    from detect.boxes import box_ops
    from detect.modeling.poolers import assign_levels

    st = {k.split("/")[-1]: ref[k] for k in ref.files if k.startswith(f"stages/{name}/")}
    line = lambda stage, **kv: emit(dict({"arch": arch_name, "image": name, "stage": stage}, **kv))
    if tuple(st["input_size"]) != tuple(size.numpy()):
        line("input_size", ours=size.numpy().tolist(), source=st["input_size"].tolist())
    feats = model.features(image)
    ours = model.rpn.proposals(model.rpn(feats, tf.shape(image)[1:3]), 0, size, training=False).numpy()
    theirs = st["proposals"]
    iou = box_iou(theirs, ours) if len(ours) and len(theirs) else np.zeros((len(theirs), 1))
    line("proposals", count_ours=len(ours), count_source=len(theirs),
         share_twin=float((iou.max(1) >= 0.99).mean()) if len(theirs) else 1.0)

    heads = model.roi_heads
    pooler = heads.pooler
    rois = tf.concat([tf.zeros([len(theirs), 1]), tf.constant(theirs, tf.float32)], 1)
    if len(pooler.names) > 1:
        levels = assign_levels(rois[:, 1:], pooler.level_numbers[0], pooler.level_numbers[-1],
                               pooler.canonical_size, pooler.canonical_level, pooler.level_mapping)
        levels = levels.numpy()
    else:
        levels = np.full(len(theirs), pooler.level_numbers[0])
    line("levels", rois=len(theirs), share_equal=float((levels == st["levels"]).mean()),
         source_counts={int(k): int((st["levels"] == k).sum()) for k in np.unique(st["levels"])})
    index = st["pooled_index"]
    pooled = pooler(feats, tf.gather(rois, index)).numpy()
    for k in np.unique(st["levels"][index]):
        sel = st["levels"][index] == k
        line("pooled", level=int(k), rois=int(sel.sum()), rel_diff=rel_diff(pooled[sel], st["pooled"][sel]))

    logits, deltas = heads(feats, rois)
    probs = tf.nn.softmax(logits).numpy()
    c = probs.shape[1]
    boxes = box_ops.decode(tf.tile(tf.constant(theirs, tf.float32)[:, None], [1, c - 1, 1]),
                           deltas[:, 1:] if deltas.shape[1] > 1 else tf.tile(deltas, [1, c - 1, 1]),
                           model.postprocessor.bbox_stds).numpy()
    src_boxes = st["boxes"][:, 1:]
    side = np.maximum(np.maximum(theirs[:, 2] - theirs[:, 0], theirs[:, 3] - theirs[:, 1]), 1e-6)
    by_level = {}
    for k in np.unique(st["levels"]):
        sel = st["levels"] == k
        by_level[f"p{k}"] = {"prob": float(np.abs(probs[sel] - st["class_probs"][sel]).max()),
                             "box_px": float(np.abs(boxes[sel] - src_boxes[sel]).max()),
                             "box_rel": float((np.abs(boxes[sel] - src_boxes[sel]).max((1, 2))
                                               / side[sel]).max())}
    line("box_head", rois=len(theirs), max_prob_diff=float(np.abs(probs - st["class_probs"]).max()),
         max_box_diff_px=float(np.abs(boxes - src_boxes).max()), by_level=by_level)

    if "det_masks" in st and len(st["det_boxes"]):
        det = tf.constant(st["det_boxes"], tf.float32)
        det_rois = tf.concat([tf.zeros([len(det), 1]), det], 1)
        m = tf.sigmoid(heads.mask_logits(feats, det_rois, tf.constant(st["det_labels"], tf.int32))).numpy()
        line("mask_head", detections=len(det), max_prob_diff=float(np.abs(m - st["det_masks"]).max()))
        if original is not None:  # the source's mask probabilities and final boxes, pasted by us
            from detect.modeling.postprocess import paste_masks
            h, w = original
            theirs = np.unpackbits(ref[f"{name}/masks"], axis=-1, count=w).astype(bool)
            ours = paste_masks(st["det_masks"], ref[f"{name}/boxes"], h, w, cfg.TEST.MASK_THRESH,
                               cfg.TEST.MASK_PASTE).numpy().astype(bool)
            ious = np.array([mask_iou(a, b) for a, b in zip(ours, theirs)])
            line("paste", detections=len(ious), min_mask_iou=float(ious.min()),
                 share_identical=float(np.mean([(a == b).all() for a, b in zip(ours, theirs)])))


def count(matched_by, total_by, keys, hits):
    for k, hit in zip(keys, hits):
        total_by[k] = total_by.get(k, 0) + 1
        matched_by[k] = matched_by.get(k, 0) + int(hit)


def shares(matched_by, total_by):
    return {k: {"reference": total_by[k], "matched": matched_by[k],
                "share": round(matched_by[k] / total_by[k], 4)} for k in sorted(total_by)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--torch-python", help="python of a venv with torch, torchvision (and detectron2); "
                   "leave out to reuse the source's files already in --work")
    p.add_argument("--images", default=os.path.join(HERE, "..", "..", "shared", "data", "coco_mini",
                                                    "train2017"))
    p.add_argument("--num", type=int, default=12)
    p.add_argument("--stage-images", type=int, default=2, help="images compared stage by stage")
    p.add_argument("--arch", choices=sorted(ARCHS), action="append",
                   help="default: the torchvision ones (detectron2's need detectron2 in that venv)")
    p.add_argument("--work", help="folder for the files (default: a temporary one)")
    p.add_argument("--float64", action="store_true",
                   help="also run the source in float64 and match it against itself")
    p.add_argument("--break", dest="break_", choices=BREAKS,
                   help="break one stage of our model on purpose: the checks must show it")
    a = p.parse_args()
    if a.torch_python is None and a.work is None:
        p.error("--torch-python, or --work holding an earlier run's source files")

    from detect.tf_env import set_defaults
    set_defaults()
    import tensorflow as tf
    from PIL import Image

    from detect.cli.import_weights import import_model
    from detect.engine.checkpoint import load_model
    from detect.modeling.postprocess import paste_masks
    from detect.predictor import prepare
    from detect.weights.zoo import ARCHITECTURES

    emit = lambda d: print(json.dumps(d), flush=True)
    work = a.work or tempfile.mkdtemp(prefix="zoo_parity_")
    for arch_name in a.arch or [n for n, s in ARCHS.items() if s == "torchvision"]:
        ref, meta = run_torch(a.torch_python, arch_name, a.images, work, a.num, a.stage_images, a.float64)
        source = ARCHS[arch_name]
        arch = ARCHITECTURES[(source, arch_name)]
        run = os.path.join(work, f"run_{arch_name}")
        weights = os.path.join(work, f"{arch_name}.{'pth' if source == 'torchvision' else 'pkl'}")
        import_model(arch, weights, run, overwrite=True)
        cfg, model, _ = load_model(run)
        if a.break_:
            break_model(model, cfg, a.break_)
        detect = tf.function(model.detect, reduce_retracing=True)
        paste = tf.function(paste_masks, reduce_retracing=True)
        seconds, reasons = [], []
        matched_by, total_by, matched64, total64 = {}, {}, {}, {}
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
            if i == 0 and "features/input_size" in ref.files:
                feats = model.features(image)
                for level in sorted(k.split("/")[1] for k in ref.files
                                    if k.startswith("features/") and k != "features/input_size"):
                    t, o = ref[f"features/{level}"], feats[level][0].numpy()
                    h, w = min(t.shape[0], o.shape[0]), min(t.shape[1], o.shape[1])
                    emit({"arch": arch_name, "image": name, "stage": "features", "level": level,
                          "shape_ours": list(o.shape), "shape_source": list(t.shape),
                          "rel_diff": rel_diff(o[:h, :w], t[:h, :w])})
            if f"stages/{name}/proposals" in ref.files:
                compare_stages(arch_name, model, cfg, image, size[0], ref, name, emit, rgb.shape[:2])
            hits, r = match(theirs, ours)
            keep = theirs["scores"] >= 0.5
            scale = size[0].numpy() / np.array(rgb.shape[:2], np.float64)  # (y, x) input / image
            in_input = theirs["boxes"][keep] * np.array([scale[1], scale[0], scale[1], scale[0]])
            count(matched_by, total_by, [f"p{k}" for k in level_of(in_input)], hits)
            count(matched_by, total_by, size_of(theirs["boxes"][keep]), hits)
            reasons += [dict(x, image=name) for x in r]
            if f"float64/{name}/boxes" in ref.files:  # the source against itself in float64
                f64 = {"boxes": ref[f"float64/{name}/boxes"], "scores": ref[f"float64/{name}/scores"],
                       "classes": ref[f"float64/{name}/labels"]}
                if f"float64/{name}/masks" in ref.files:
                    f64["masks"] = np.unpackbits(ref[f"float64/{name}/masks"], axis=-1,
                                                 count=rgb.shape[1]).astype(bool)
                hits64, _ = match(theirs, f64)
                count(matched64, total64, [f"p{k}" for k in level_of(in_input)], hits64)
        matched = sum(v for k, v in matched_by.items() if k.startswith("p"))
        total = sum(v for k, v in total_by.items() if k.startswith("p"))
        levels = shares({k: v for k, v in matched_by.items() if k.startswith("p")},
                        {k: v for k, v in total_by.items() if k.startswith("p")})
        emit({"arch": arch_name, "break": a.break_, "images": len(meta["images"]), "reference": total,
              "matched": matched, "share": round(matched / max(total, 1), 4), "by_level": levels,
              "by_size": shares({k: v for k, v in matched_by.items() if not k.startswith("p")},
                                {k: v for k, v in total_by.items() if not k.startswith("p")}),
              "goal_met": all(v["share"] >= 0.99 for v in levels.values() if v["reference"] >= 20),
              "unmatched_by_reason": {k: sum(r["reason"] == k for r in reasons)
                                      for k in sorted({r["reason"] for r in reasons})},
              "unmatched": reasons[:5]})
        if total64:
            emit({"arch": arch_name, "stage": "source_float64", "reference": sum(total64.values()),
                  "matched": sum(matched64.values()), "by_level": shares(matched64, total64)})
        ours_s = statistics.median(seconds[1:] or seconds)
        theirs_s = statistics.median(meta["seconds"][1:] or meta["seconds"])
        emit({"arch": arch_name, "source": source, "seconds_ours": round(ours_s, 3),
              "seconds_source": round(theirs_s, 3), "ratio": round(ours_s / theirs_s, 3),
              "torch": meta["torch"], "tensorflow": tf.__version__})


if __name__ == "__main__":
    sys.exit(main())
