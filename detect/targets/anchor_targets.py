"""RPN anchor targets (Faster R-CNN, Ren et al. 2015), per image.

Labels: 1 foreground, 0 background, -1 not sampled / ignored.
  * anchors crossing the image edge by more than ``straddle_thresh`` pixels
    are ignored (a negative threshold keeps every anchor);
  * foreground: IoU >= positive_overlap with a ground-truth box, and for each
    ground-truth box the anchors of highest IoU with it (so every box gets
    one);
  * background: max IoU < negative_overlap, and not inside an ignore region
    (crowd) by more than half of its area;
  * then at most fg_fraction * batch_size foreground and batch_size in all
    are kept, chosen at random (seeded).
Box targets are the deltas of ``box_ops.encode`` (no normalization) from
each anchor to its best ground-truth box.
"""
import tensorflow as tf

from detect.boxes import box_ops
from detect.targets.sampling import random_subset, sub_seed


def anchor_targets(anchors, gt_boxes, gt_crowd, image_height, image_width, seed, *,
                   positive_overlap=0.7, negative_overlap=0.3, fg_fraction=0.5, batch_size=256,
                   straddle_thresh=0):
    """Labels [A] int32 and box targets [A, 4] float32 for anchors [A, 4].

    Args:
      gt_boxes: [G, 4] boxes of one image (x1, y1, x2, y2, input pixels).
      gt_crowd: bool [G]: ignore regions (never foreground).
      seed: int32 [2], the stateless sampling seed.
    """
    anchors = tf.convert_to_tensor(anchors, tf.float32)
    gt_boxes = tf.convert_to_tensor(gt_boxes, tf.float32)
    gt_crowd = tf.convert_to_tensor(gt_crowd, tf.bool)
    h = tf.cast(image_height, tf.float32)
    w = tf.cast(image_width, tf.float32)
    if straddle_thresh >= 0:
        t = float(straddle_thresh)
        inside = ((anchors[:, 0] >= -t) & (anchors[:, 1] >= -t)
                  & (anchors[:, 2] <= w + t) & (anchors[:, 3] <= h + t))
    else:
        inside = tf.ones(tf.shape(anchors)[:1], tf.bool)
    objects = tf.boolean_mask(gt_boxes, tf.logical_not(gt_crowd))
    crowds = tf.boolean_mask(gt_boxes, gt_crowd)
    iou = box_ops.pairwise_iou(anchors, objects)  # [A, G']
    num_objects = tf.shape(objects)[0]
    has_gt = num_objects > 0
    max_iou = tf.cond(has_gt, lambda: tf.reduce_max(iou, axis=1),
                      lambda: tf.zeros(tf.shape(anchors)[:1]))
    argmax = tf.cond(has_gt, lambda: tf.argmax(iou, axis=1, output_type=tf.int32),
                     lambda: tf.zeros(tf.shape(anchors)[:1], tf.int32))
    # For each gt, the inside anchors that reach its highest IoU (if > 0).
    iou_inside = tf.where(inside[:, None], iou, -1.0)
    gt_best = tf.reduce_max(iou_inside, axis=0)  # [G']
    is_gt_best = tf.reduce_any((iou_inside == gt_best[None, :]) & (gt_best[None, :] > 0), axis=1)
    fg = inside & ((max_iou >= positive_overlap) | is_gt_best)
    bg = inside & (max_iou < negative_overlap) & tf.logical_not(fg)
    # background anchors mostly inside an ignore region are not sampled
    in_crowd = tf.reduce_any(box_ops.pairwise_ioa(anchors, crowds) > 0.5, axis=1)
    bg = bg & tf.logical_not(in_crowd)
    max_fg = int(fg_fraction * batch_size)
    fg = random_subset(fg, max_fg, sub_seed(seed, 1))
    num_bg = batch_size - tf.reduce_sum(tf.cast(fg, tf.int32))
    bg = random_subset(bg, num_bg, sub_seed(seed, 2))
    labels = tf.where(fg, 1, tf.where(bg, 0, -1))
    matched = tf.cond(has_gt, lambda: tf.gather(objects, argmax), lambda: anchors)
    safe_anchors = tf.where(fg[:, None], anchors, tf.constant([[0.0, 0.0, 1.0, 1.0]]))
    safe_matched = tf.where(fg[:, None], matched, tf.constant([[0.0, 0.0, 1.0, 1.0]]))
    targets = box_ops.encode(safe_anchors, safe_matched)
    return tf.cast(labels, tf.int32), tf.where(fg[:, None], targets, 0.0)
