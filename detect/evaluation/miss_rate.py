"""Pedestrian log-average miss rate (MR^-2), CityPersons benchmark protocol.

For each setup, ground truth outside its height / visibility range becomes
an ignore region, like the dataset's own ignore regions and crowds.
Detections outside the height range widened by 1.25 are dropped. Matching
at IoU 0.5, highest score first: regular ground truth first (IoU), then
ignore regions (intersection over the detection's area); a detection on an
ignore region counts neither way. Over all images, the miss rate
1 - recall is read at 9 false-positives-per-image points log-spaced in
[1e-2, 1] (the last operating point at or below each), and MR^-2 is their
geometric mean. Where even the first detection exceeds an FPPI point, the
miss rate there is 1 (the reference script wraps to its last point there).
A miss rate of 0 counts as 1e-10, as in the Caltech toolbox (the reference
script takes log(0) and reports 0). Apart from these two corner cases the
figures equal the CityPersons script's (eval_MR_multisetup.py), given the
ground-truth boxes as annotated (records.py keeps them so).
"""
import numpy as np

from detect.evaluation.results import by_image_and_class

INF = 1e10
SETUPS = {  # name: ((min height, max height), (min visibility, max visibility))
    "Reasonable": ((50, INF), (0.65, INF)),
    "Reasonable_small": ((50, 75), (0.65, INF)),
    "Heavy": ((50, INF), (0.2, 0.65)),
    "All": ((20, INF), (0.2, INF)),
}
FPPI_POINTS = np.logspace(-2.0, 0.0, 9)
EXPAND = 1.25
MAX_DETS = 1000


def _overlaps(dets, gts, ignore):
    """[D, G]: IoU with regular ground truth, IoA with ignore regions."""
    if not len(dets) or not len(gts):
        return np.zeros((len(dets), len(gts)))
    ix = np.minimum(dets[:, None, 2], gts[None, :, 2]) - np.maximum(dets[:, None, 0], gts[None, :, 0])
    iy = np.minimum(dets[:, None, 3], gts[None, :, 3]) - np.maximum(dets[:, None, 1], gts[None, :, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area_d = (dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])
    area_g = (gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1])
    union = np.where(ignore[None, :], area_d[:, None], area_d[:, None] + area_g[None, :] - inter)
    return inter / np.maximum(union, np.finfo(float).eps)


def match_image(det_scores, det_boxes, gt_boxes, gt_ignore, iou_threshold=0.5):
    """Per detection (sorted by score): 1 true positive, 0 false positive,
    -1 ignored. Returns (scores sorted, labels)."""
    order = np.argsort(-det_scores, kind="mergesort")[:MAX_DETS]
    det_scores, det_boxes = det_scores[order], det_boxes[order]
    g_order = np.argsort(gt_ignore, kind="mergesort")  # regular first
    gt_boxes, gt_ignore = gt_boxes[g_order], gt_ignore[g_order]
    ov = _overlaps(det_boxes, gt_boxes, gt_ignore)
    matched = np.zeros(len(gt_boxes), bool)
    labels = np.zeros(len(det_boxes), int)
    for d in range(len(det_boxes)):
        best, best_g, regular = min(iou_threshold, 1 - 1e-10), -1, False
        for g in range(len(gt_boxes)):
            if matched[g]:
                continue
            if regular and gt_ignore[g]:
                break
            if ov[d, g] < best:
                continue
            best, best_g, regular = ov[d, g], g, not gt_ignore[g]
        if best_g < 0:
            labels[d] = 0
        elif gt_ignore[best_g]:
            labels[d] = -1
        else:
            labels[d], matched[best_g] = 1, True
    return det_scores, labels


def log_average_miss_rate(scores, labels, num_gt, num_images):
    """MR^-2 and the (fppi, miss rate) curve from pooled matches."""
    keep = labels >= 0
    order = np.argsort(-scores[keep], kind="mergesort")
    lab = labels[keep][order]
    tp, fp = np.cumsum(lab == 1), np.cumsum(lab == 0)
    recall = tp / max(num_gt, 1)
    fppi = fp / max(num_images, 1)
    at = np.zeros(len(FPPI_POINTS))
    idx = np.searchsorted(fppi, FPPI_POINTS, side="right") - 1
    for i, j in enumerate(idx):
        at[i] = recall[j] if j >= 0 else 0.0
    miss = np.maximum(1 - at, 1e-10)
    return float(np.exp(np.mean(np.log(miss)))), fppi, 1 - recall


def evaluate_miss_rate(dataset, results, class_id=1, setups=tuple(SETUPS), category_to_class=None):
    """{setup name: MR^-2} for the pedestrian class ``class_id``.

    Ground-truth boxes are used as annotated (also where they cross the image
    border), as the benchmark's script does. A setup without ground truth
    gives NaN (the script prints -1 there); a dataset without any person
    that is not an ignore region raises ValueError.
    """
    if not any(np.any((r["classes"] == class_id) & ~r["crowd"] & ~r["difficult"])
               for r in dataset.records):
        what = dataset.class_names[class_id] if 0 < class_id < dataset.num_classes else class_id
        raise ValueError(f"{dataset.name}: no ground-truth {what!r} "
                         f"(other than ignore regions) in {len(dataset.records)} images, so the "
                         "miss rate is undefined. Check the annotation file and its categories")
    detections = by_image_and_class(results, category_to_class)
    out = {}
    for name in setups:
        (h_lo, h_hi), (v_lo, v_hi) = SETUPS[name]
        all_scores, all_labels, num_gt = [], [], 0
        for r in dataset.records:
            m = r["classes"] == class_id
            boxes = r["boxes"][m].astype(float)
            heights = r.get("heights", r["boxes"][:, 3] - r["boxes"][:, 1])[m]
            vis = r.get("vis_ratios", np.ones(len(r["boxes"])))[m]
            ignore = (r["crowd"][m] | r["difficult"][m] | (heights < h_lo) | (heights > h_hi)
                      | (vis < v_lo) | (vis > v_hi))
            # Ignore regions of any class (e.g. crowd annotations) stay ignore regions.
            extra = r["crowd"] & ~m
            boxes = np.concatenate([boxes, r["boxes"][extra].astype(float)])
            ignore = np.concatenate([ignore, np.ones(int(extra.sum()), bool)])
            num_gt += int((~ignore).sum())
            scores, dboxes = detections.get((r["image_id"], class_id), (np.zeros(0), np.zeros((0, 4))))
            top = np.argsort(-scores, kind="mergesort")[:MAX_DETS]  # cap before the height filter
            scores, dboxes = scores[top], dboxes[top]
            dh = dboxes[:, 3] - dboxes[:, 1]
            keep = (dh >= h_lo / EXPAND) & (dh < h_hi * EXPAND)
            s, lab = match_image(scores[keep], dboxes[keep], boxes, ignore)
            all_scores.append(s)
            all_labels.append(lab)
        scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
        labels = np.concatenate(all_labels) if all_labels else np.zeros(0, int)
        out[name] = (log_average_miss_rate(scores, labels, num_gt, len(dataset.records))[0]
                     if num_gt else float("nan"))
    return out
