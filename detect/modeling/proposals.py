"""RPN proposal generation, over one feature level or many (FPN).

Per level: decode the anchors' deltas, clip to the image, drop boxes smaller
than ``min_size``, keep the ``pre_nms_top_n`` best. Then the levels are
merged, one NMS runs over all of them, and the ``post_nms_top_n`` best are
the proposals. With a single level this is py-faster-rcnn's proposal layer.
``per_level_nms`` is torchvision's and detectron2's way instead: per level
the top-k by logit, then decode, clip and the size filter, NMS within each
level, and the ``post_nms_top_n`` best over all levels.
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


def level_candidates_top_k_first(anchors, logits, deltas, image_height, image_width, *,
                                 pre_nms_top_n, min_size, probabilities=True):
    """The model zoos' order (torchvision's and detectron2's RPN): the
    ``pre_nms_top_n`` best anchors by objectness logit, decoded, clipped, then
    those under ``min_size`` dropped. Returns boxes [N, 4] and objectness
    probabilities [N] (logits if not ``probabilities``), best first."""
    k = tf.minimum(pre_nms_top_n, tf.shape(logits)[0])
    logits, top = tf.math.top_k(logits, k=k)
    boxes = box_ops.decode(tf.gather(anchors, top), tf.gather(deltas, top))
    boxes = box_ops.clip(boxes, image_height, image_width)
    keep = box_ops.keep_min_size(boxes, min_size)
    scores = tf.boolean_mask(logits, keep)
    return tf.boolean_mask(boxes, keep), tf.sigmoid(scores) if probabilities else scores


def generate_proposals(anchors, objectness, deltas, image_height, image_width, *,
                       pre_nms_top_n, post_nms_top_n, nms_thresh=0.7, min_size=16,
                       per_level_nms=False, rank_by_logit=False):
    """Proposals of one image.

    Args:
      anchors, objectness, deltas: per level lists of [A_l, 4], [A_l],
        [A_l, 4] (or single tensors for one level).
      pre_nms_top_n: candidates kept per level before NMS.
      post_nms_top_n: proposals kept after NMS, over all levels.
      per_level_nms: the model zoos' way (RPN.PROPOSALS per_level):
        ``objectness`` are logits; per level the top-k first
        (level_candidates_top_k_first), then NMS within each level.
        Otherwise objectness may be logits or probabilities, and one NMS
        runs over the candidates of all levels.
      rank_by_logit: per_level_nms only: NMS and the final top-k rank by
        logit (detectron2) rather than by sigmoid probability (torchvision).
        They differ only among logits above ~16.6, whose float32 sigmoid is
        exactly 1; ranked by probability such ties go by level, then by
        logit within the level, as torchvision's sort leaves them in practice.

    Returns:
      proposals [P, 4] and their scores [P], P <= post_nms_top_n, best first.
    """
    if not isinstance(anchors, (list, tuple)):
        anchors, objectness, deltas = [anchors], [objectness], [deltas]
    if per_level_nms:
        # NMS of each level on its own coordinates (torchvision's batched_nms
        # on this many boxes), then the best post_nms_top_n of the union
        boxes, scores = [], []
        for a, o, d in zip(anchors, objectness, deltas):
            b, s = level_candidates_top_k_first(a, o, d, image_height, image_width,
                                                pre_nms_top_n=pre_nms_top_n, min_size=min_size,
                                                probabilities=not rank_by_logit)
            keep = tf.image.non_max_suppression(b, s, post_nms_top_n, nms_thresh)
            boxes.append(tf.gather(b, keep))
            scores.append(tf.gather(s, keep))
        boxes, scores = tf.concat(boxes, 0), tf.concat(scores, 0)
        scores, best = tf.math.top_k(scores, k=tf.minimum(post_nms_top_n, tf.shape(scores)[0]))
        return tf.gather(boxes, best), tf.sigmoid(scores) if rank_by_logit else scores
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
