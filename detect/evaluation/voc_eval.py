"""PASCAL VOC average precision, as the devkit (and py-faster-rcnn's
voc_eval) define it: a detection is a true positive when its IoU with an
unmatched ground-truth box of its class is > 0.5; "difficult" objects are
neither true nor false positives and do not count in the recall.

Records hold continuous coordinates ([xmin - 1, ymin - 1, xmax, ymax] of the
XML), so the devkit's inclusive-pixel "+ 1" widths are plain differences.
"""
import numpy as np

from detect.evaluation.results import by_image_and_class


def voc_ap(recall, precision, use_07_metric=False):
    """AP from a precision/recall curve.

    use_07_metric: VOC2007's 11-point interpolation (mean of the max precision
    at recall >= 0, 0.1, ..., 1); otherwise VOC2010+'s area under the
    monotone precision envelope.
    """
    recall, precision = np.asarray(recall, float), np.asarray(precision, float)
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = precision[recall >= t].max() if np.any(recall >= t) else 0.0
            ap += p / 11.0
        return float(ap)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _iou(box, boxes):
    ix = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    iy = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    union = (box[2] - box[0]) * (box[3] - box[1]) + \
        (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return inter / np.maximum(union, np.finfo(float).eps)


def voc_eval_class(records, detections, class_id, iou_threshold=0.5, use_07_metric=False):
    """(recall, precision, AP) of one class.

    Args:
      records: dataset records (see detect/datasets/records.py).
      detections: {(image_id, class_id): (scores, boxes x1 y1 x2 y2)}.
    """
    gt, npos = {}, 0
    for r in records:
        m = r["classes"] == class_id
        ignore = r["difficult"][m] | r["crowd"][m]
        gt[r["image_id"]] = (r["boxes"][m].astype(float), ignore, np.zeros(int(m.sum()), bool))
        npos += int((~ignore).sum())
    dets = [(s, image_id, b) for (image_id, c), (scores, boxes) in detections.items()
            if c == class_id and image_id in gt for s, b in zip(scores, boxes)]
    order = sorted(range(len(dets)), key=lambda i: -dets[i][0])  # stable
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    for d, i in enumerate(order):
        _, image_id, box = dets[i]
        gt_boxes, ignore, used = gt[image_id]
        if len(gt_boxes):
            ious = _iou(box, gt_boxes)
            j = int(np.argmax(ious))
            if ious[j] > iou_threshold:
                if not ignore[j]:
                    if not used[j]:
                        tp[d], used[j] = 1, True
                    else:
                        fp[d] = 1
                continue
        fp[d] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / max(npos, 1) if npos else np.zeros_like(tp)
    precision = tp / np.maximum(tp + fp, np.finfo(float).eps)
    return recall, precision, voc_ap(recall, precision, use_07_metric)


def evaluate_voc(dataset, results, use_07_metric=True, iou_threshold=0.5, category_to_class=None):
    """{"AP": {class name: AP}, "mAP": mean over classes with ground truth}.

    Raises ValueError when no class has ground truth (no AP to average)."""
    detections = by_image_and_class(results, category_to_class)
    aps = {}
    for class_id, name in enumerate(dataset.class_names[1:], start=1):
        has_gt = any(np.any((r["classes"] == class_id) & ~r["difficult"] & ~r["crowd"])
                     for r in dataset.records)
        if not has_gt:
            continue
        _, _, aps[name] = voc_eval_class(dataset.records, detections, class_id, iou_threshold,
                                         use_07_metric)
    if not aps:
        raise ValueError(f"{dataset.name}: no ground-truth object (other than difficult or crowd "
                         f"ones) in {len(dataset.records)} images, so AP is undefined. Check "
                         "the annotation file and its class names")
    return {"AP": aps, "mAP": float(np.mean(list(aps.values()))),
            "metric": "VOC07 11-point" if use_07_metric else "VOC area"}
