"""RoI sampling for the Fast R-CNN / R-FCN heads (proposal targets), per image.

The ground-truth boxes are added to the proposals (as in py-faster-rcnn), so
early in training every object has at least one foreground RoI. A RoI is
foreground when its IoU with a ground-truth object is >= fg_thresh (label =
that object's class), background when its max IoU is in [bg_thresh_lo,
bg_thresh_hi) (label 0); RoIs inside an ignore region by more than half are
never background. At most fg_fraction * batch_size foreground RoIs are kept,
and background RoIs fill the rest, chosen at random (seeded); fewer are
returned when there are not enough. Box targets are ``box_ops.encode``
deltas divided by bbox_stds.
"""
import tensorflow as tf

from detect.boxes import box_ops
from detect.targets.sampling import random_subset, sub_seed


def sample_rois(proposals, gt_boxes, gt_classes, gt_crowd, seed, *, batch_size=128,
                fg_fraction=0.25, fg_thresh=0.5, bg_thresh_hi=0.5, bg_thresh_lo=0.0,
                bbox_stds=(0.1, 0.1, 0.2, 0.2)):
    """Sampled RoIs of one image.

    Args:
      proposals: [P, 4] RPN proposals (input pixels).
      gt_boxes: [G, 4]; gt_classes: int32 [G]; gt_crowd: bool [G].
      seed: int32 [2].

    Returns:
      rois [R, 4], labels int32 [R] (0 = background), box targets [R, 4]
      (zeros for background), and matches int32 [R]: the index in gt_boxes
      of each foreground RoI's object (-1 for background, e.g. for mask
      targets); R <= batch_size, foreground first.
    """
    proposals = tf.convert_to_tensor(proposals, tf.float32)
    gt_boxes = tf.convert_to_tensor(gt_boxes, tf.float32)
    gt_classes = tf.convert_to_tensor(gt_classes, tf.int32)
    gt_crowd = tf.convert_to_tensor(gt_crowd, tf.bool)
    keep = tf.logical_not(gt_crowd)
    object_index = tf.cast(tf.where(keep)[:, 0], tf.int32)  # objects -> gt_boxes rows
    objects = tf.boolean_mask(gt_boxes, keep)
    object_classes = tf.boolean_mask(gt_classes, keep)
    crowds = tf.boolean_mask(gt_boxes, gt_crowd)
    rois = tf.concat([proposals, objects], axis=0)
    has_gt = tf.shape(objects)[0] > 0
    iou = box_ops.pairwise_iou(rois, objects)
    n = tf.shape(rois)[:1]
    max_iou = tf.cond(has_gt, lambda: tf.reduce_max(iou, axis=1), lambda: tf.zeros(n))
    argmax = tf.cond(has_gt, lambda: tf.argmax(iou, axis=1, output_type=tf.int32),
                     lambda: tf.zeros(n, tf.int32))
    fg = max_iou >= fg_thresh
    bg = (max_iou < bg_thresh_hi) & (max_iou >= bg_thresh_lo)
    in_crowd = tf.reduce_any(box_ops.pairwise_ioa(rois, crowds) > 0.5, axis=1)
    bg = bg & tf.logical_not(in_crowd) & tf.logical_not(fg)
    fg = random_subset(fg, int(fg_fraction * batch_size), sub_seed(seed, 3))
    num_fg = tf.reduce_sum(tf.cast(fg, tf.int32))
    bg = random_subset(bg, batch_size - num_fg, sub_seed(seed, 4))
    fg_idx = tf.where(fg)[:, 0]
    bg_idx = tf.where(bg)[:, 0]
    idx = tf.concat([fg_idx, bg_idx], axis=0)
    sampled = tf.gather(rois, idx)
    labels = tf.concat([tf.gather(object_classes, tf.gather(argmax, fg_idx)),
                        tf.zeros(tf.shape(bg_idx), tf.int32)], axis=0)
    fg_objects = tf.gather(argmax, fg_idx)
    matched = tf.gather(objects, fg_objects)
    fg_targets = box_ops.encode(tf.gather(rois, fg_idx), matched, bbox_stds)
    targets = tf.concat([fg_targets, tf.zeros([tf.shape(bg_idx)[0], 4])], axis=0)
    matches = tf.concat([tf.gather(object_index, fg_objects),
                         -tf.ones(tf.shape(bg_idx), tf.int32)], axis=0)
    return sampled, labels, targets, matches
