"""RPN proposal generation, over one feature level or many (FPN).

Per level: decode the anchors' deltas, clip to the image, drop boxes smaller
than ``min_size``, keep the ``pre_nms_top_n`` best. Then the levels are
merged, one NMS runs over all of them, and the ``post_nms_top_n`` best are
the proposals. With a single level this is py-faster-rcnn's proposal layer.
"""
import tensorflow as tf

from detect.boxes import box_ops


def level_candidates(anchors, objectness, deltas, image_height, image_width, *, pre_nms_top_n,
                     min_size=16):
    """The best decoded boxes of one level.

    Args:
      anchors: [A, 4]; objectness: [A] foreground logits or probabilities;
      deltas: [A, 4] predicted box deltas (unnormalized).
      image_height, image_width: the (resized) input image size.
      min_size: minimum box width and height, input pixels.

    Returns:
      boxes [N, 4] and scores [N], N <= pre_nms_top_n, best first.
    """
    boxes = box_ops.clip(box_ops.decode(anchors, deltas), image_height, image_width)
    keep = box_ops.keep_min_size(boxes, min_size)
    boxes = tf.boolean_mask(boxes, keep)
    scores = tf.boolean_mask(objectness, keep)
    k = tf.minimum(pre_nms_top_n, tf.shape(scores)[0])
    scores, top = tf.math.top_k(scores, k=k)
    return tf.gather(boxes, top), scores


def generate_proposals(anchors, objectness, deltas, image_height, image_width, *,
                       pre_nms_top_n, post_nms_top_n, nms_thresh=0.7, min_size=16):
    """Proposals of one image.

    Args:
      anchors, objectness, deltas: per level lists of [A_l, 4], [A_l],
        [A_l, 4] (or single tensors for one level).
      pre_nms_top_n: candidates kept per level before NMS.
      post_nms_top_n: proposals kept after NMS, over all levels.

    Returns:
      proposals [P, 4] and their scores [P], P <= post_nms_top_n, best first.
    """
    if not isinstance(anchors, (list, tuple)):
        anchors, objectness, deltas = [anchors], [objectness], [deltas]
    boxes, scores = [], []
    for a, o, d in zip(anchors, objectness, deltas):
        b, s = level_candidates(a, o, d, image_height, image_width, pre_nms_top_n=pre_nms_top_n,
                                min_size=min_size)
        boxes.append(b)
        scores.append(s)
    boxes = tf.concat(boxes, 0) if len(boxes) > 1 else boxes[0]
    scores = tf.concat(scores, 0) if len(scores) > 1 else scores[0]
    # non_max_suppression takes any diagonal corner pair; IoU is the same.
    selected = tf.image.non_max_suppression(boxes, scores, post_nms_top_n, nms_thresh)
    return tf.gather(boxes, selected), tf.gather(scores, selected)
