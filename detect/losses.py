"""Detection losses, outside the model; each returns a scalar.

Names as the trainer logs them: rpn_cls, rpn_box, rcnn_cls, rcnn_box, mask.
"""
import tensorflow as tf


def smooth_l1(pred, target, sigma=1.0):
    """Elementwise smooth L1 (Fast R-CNN) with the py-faster-rcnn sigma:
    0.5 (sigma x)^2 where |x| < 1 / sigma^2, else |x| - 0.5 / sigma^2."""
    s2 = sigma * sigma
    x = tf.abs(pred - target)
    return tf.where(x < 1.0 / s2, 0.5 * s2 * x * x, x - 0.5 / s2)


def rpn_losses(objectness_logits, deltas, labels, targets, sigma=3.0):
    """RPN losses of anchors labelled 1 / 0 / -1 (ignored).

    Args:
      objectness_logits: [A] foreground logits; deltas, targets: [A, 4].

    Returns:
      {"rpn_cls": binary cross-entropy mean over sampled anchors,
       "rpn_box": smooth L1 summed over foreground anchors / sampled count}.
    """
    sampled = labels >= 0
    count = tf.maximum(tf.reduce_sum(tf.cast(sampled, tf.float32)), 1.0)
    ce = tf.nn.sigmoid_cross_entropy_with_logits(tf.cast(labels > 0, tf.float32), objectness_logits)
    cls = tf.reduce_sum(tf.where(sampled, ce, 0.0)) / count
    box = tf.reduce_sum(tf.where((labels > 0)[:, None], smooth_l1(deltas, targets, sigma), 0.0))
    return {"rpn_cls": cls, "rpn_box": box / count}


def rcnn_losses(class_logits, box_deltas, labels, targets, sigma=1.0):
    """Head losses over sampled RoIs.

    Args:
      class_logits: [R, C] (C includes the background).
      box_deltas: [R, C, 4] class-specific deltas (or [R, 1, 4] agnostic).
      labels: int32 [R]; targets: [R, 4] (normalized deltas).

    Returns:
      {"rcnn_cls": softmax cross-entropy mean, "rcnn_box": smooth L1 of the
       labelled class's deltas, summed over foreground RoIs / R}.
    """
    count = tf.maximum(tf.cast(tf.shape(labels)[0], tf.float32), 1.0)
    cls = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, class_logits)) / count
    per_class = tf.shape(box_deltas)[1] > 1
    index = tf.where(per_class, labels, tf.zeros_like(labels))
    chosen = tf.gather(box_deltas, index, axis=1, batch_dims=1)  # [R, 4]
    box = tf.reduce_sum(tf.where((labels > 0)[:, None], smooth_l1(chosen, targets, sigma), 0.0))
    return {"rcnn_cls": cls, "rcnn_box": box / count}


def mask_loss(mask_logits, targets):
    """Mask R-CNN's mask loss: binary cross-entropy averaged over the pixels
    of every foreground RoI (0 when there is none).

    Args:
      mask_logits: [F, M, M], each RoI's map of its ground-truth class.
      targets: [F, M, M] of 0 / 1 (targets/mask_targets.py).
    """
    ce = tf.nn.sigmoid_cross_entropy_with_logits(targets, mask_logits)
    count = tf.maximum(tf.cast(tf.size(ce), tf.float32), 1.0)
    return {"mask": tf.reduce_sum(ce) / count}
