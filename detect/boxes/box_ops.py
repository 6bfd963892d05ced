"""Box arithmetic in TensorFlow. Boxes are [..., 4] = [x1, y1, x2, y2] in
continuous pixel coordinates (width = x2 - x1); this is the only module that
converts to TensorFlow's normalized [y1, x1, y2, x2] (``to_tf_image_boxes``).
"""
import math
import numbers

import tensorflow as tf

# exp() of a predicted log-size is clipped here (py-faster-rcnn / detectron2)
MAX_LOG_SCALE = math.log(1000.0 / 16)


def widths_heights_centers(boxes):
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return w, h, boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h


def encode(boxes, targets, stds=(1.0, 1.0, 1.0, 1.0)):
    """Regression deltas (dx, dy, dw, dh) taking ``boxes`` onto ``targets``.

    Args:
      boxes, targets: [..., 4]; boxes must have positive size.
      stds: the deltas are divided by these (target normalization).
    """
    w, h, cx, cy = widths_heights_centers(boxes)
    tw, th, tcx, tcy = widths_heights_centers(targets)
    deltas = tf.stack([(tcx - cx) / w, (tcy - cy) / h, tf.math.log(tw / w), tf.math.log(th / h)],
                      axis=-1)
    return deltas / tf.constant(stds, deltas.dtype)


def decode(boxes, deltas, stds=(1.0, 1.0, 1.0, 1.0)):
    """Inverse of ``encode``: applies deltas [..., 4] to boxes [..., 4]."""
    deltas = deltas * tf.constant(stds, deltas.dtype)
    w, h, cx, cy = widths_heights_centers(boxes)
    dw = tf.minimum(deltas[..., 2], MAX_LOG_SCALE)
    dh = tf.minimum(deltas[..., 3], MAX_LOG_SCALE)
    pcx, pcy = deltas[..., 0] * w + cx, deltas[..., 1] * h + cy
    pw, ph = tf.exp(dw) * w, tf.exp(dh) * h
    return tf.stack([pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph], axis=-1)


def clip(boxes, height, width):
    """Boxes clipped to an image of height x width pixels."""
    h = tf.cast(height, boxes.dtype)
    w = tf.cast(width, boxes.dtype)
    x1 = tf.clip_by_value(boxes[..., 0], 0.0, w)
    y1 = tf.clip_by_value(boxes[..., 1], 0.0, h)
    x2 = tf.clip_by_value(boxes[..., 2], 0.0, w)
    y2 = tf.clip_by_value(boxes[..., 3], 0.0, h)
    return tf.stack([x1, y1, x2, y2], axis=-1)


def area(boxes):
    return tf.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * tf.maximum(boxes[..., 3] - boxes[..., 1], 0.0)


def intersection(a, b):
    """Intersection areas of boxes a [..., 4] and b [..., 4], broadcast."""
    x1 = tf.maximum(a[..., 0], b[..., 0])
    y1 = tf.maximum(a[..., 1], b[..., 1])
    x2 = tf.minimum(a[..., 2], b[..., 2])
    y2 = tf.minimum(a[..., 3], b[..., 3])
    return tf.maximum(x2 - x1, 0.0) * tf.maximum(y2 - y1, 0.0)


def pairwise_intersection(a, b):
    """[N, M] intersection areas of boxes a [N, 4] and b [M, 4]."""
    return intersection(a[:, None, :], b[None, :, :])


def pairwise_iou(a, b):
    """[N, M] IoU of boxes a [N, 4] with boxes b [M, 4]; 0 where both are empty."""
    inter = pairwise_intersection(a, b)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return tf.math.divide_no_nan(inter, union)


def pairwise_ioa(a, regions):
    """[N, M]: the fraction of each box a [N, 4] inside each region [M, 4]
    (intersection over a's area; how ignore regions are matched)."""
    return tf.math.divide_no_nan(pairwise_intersection(a, regions), area(a)[:, None])


def keep_min_size(boxes, min_size):
    """Bool [N]: boxes at least min_size wide and high; with min_size 0,
    boxes of positive width and height (detectron2's Boxes.nonempty: an
    anchor wholly outside the image clips to an empty box, which NMS never
    suppresses)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if isinstance(min_size, numbers.Real) and min_size <= 0:
        return tf.logical_and(w > 0, h > 0)
    return tf.logical_and(w >= min_size, h >= min_size)


def to_tf_image_boxes(boxes, height, width):
    """[x1, y1, x2, y2] pixels -> TensorFlow's normalized [y1, x1, y2, x2]
    (for tf.image.crop_and_resize, draw_bounding_boxes)."""
    h = tf.cast(height, boxes.dtype)
    w = tf.cast(width, boxes.dtype)
    return tf.stack([boxes[..., 1] / h, boxes[..., 0] / w, boxes[..., 3] / h, boxes[..., 2] / w],
                    axis=-1)


def box_voting(kept_boxes, kept_classes, boxes, scores, iou_threshold=0.8):
    """Box voting (Gidaris & Komodakis, ICCV 2015; Detectron's BBOX_VOTE):
    each detection kept by NMS becomes the score-weighted mean of all boxes
    of its class that overlap it by IoU >= iou_threshold (itself included).

    Args:
      kept_boxes: [D, 4]; kept_classes: int32 [D], 0-based columns of boxes.
      boxes: [N, C, 4] per-class boxes before NMS; scores: [N, C].

    Returns:
      voted boxes [D, 4] (scores are unchanged).
    """
    candidates = tf.gather(tf.transpose(boxes, [1, 0, 2]), kept_classes)  # [D, N, 4]
    weights = tf.gather(tf.transpose(scores), kept_classes)  # [D, N]
    inter = intersection(kept_boxes[:, None, :], candidates)
    iou = tf.math.divide_no_nan(inter, area(kept_boxes)[:, None] + area(candidates) - inter)
    weights = tf.where(iou >= iou_threshold, weights, 0.0)
    total = tf.reduce_sum(weights, axis=1, keepdims=True)
    voted = tf.reduce_sum(weights[..., None] * candidates, axis=1) / tf.maximum(total, 1e-12)
    return tf.where(total > 0, voted, kept_boxes)
