"""RPN proposal generation: decode, clip, drop small boxes, top-N, NMS, top-N."""
import tensorflow as tf

from detect.boxes import box_ops


def generate_proposals(anchors, objectness, deltas, image_height, image_width, *,
                       pre_nms_top_n, post_nms_top_n, nms_thresh=0.7, min_size=16):
    """Proposals of one image.

    Args:
      anchors: [A, 4]; objectness: [A] foreground logits or probabilities;
      deltas: [A, 4] predicted box deltas (unnormalized).
      image_height, image_width: the (resized) input image size.
      min_size: minimum proposal width and height, input pixels.

    Returns:
      proposals [P, 4] and their scores [P], P <= post_nms_top_n, best first.
    """
    boxes = box_ops.clip(box_ops.decode(anchors, deltas), image_height, image_width)
    keep = box_ops.keep_min_size(boxes, min_size)
    boxes = tf.boolean_mask(boxes, keep)
    scores = tf.boolean_mask(objectness, keep)
    k = tf.minimum(pre_nms_top_n, tf.shape(scores)[0])
    scores, top = tf.math.top_k(scores, k=k)
    boxes = tf.gather(boxes, top)
    # non_max_suppression takes any diagonal corner pair; IoU is the same.
    selected = tf.image.non_max_suppression(boxes, scores, post_nms_top_n, nms_thresh)
    return tf.gather(boxes, selected), tf.gather(scores, selected)
