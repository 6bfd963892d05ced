"""Detections from head outputs, in-graph: decode, clip, per-class NMS,
optional box voting, rescaling to the original image's pixels, and pasting
Mask R-CNN's masks into the image.

The one place this happens: the detector's ``detect`` uses it, and through
it test_net.py, demo.py and the trainer's TensorBoard images.
"""
import tensorflow as tf

from detect.boxes import box_ops


class DetectionPostprocessor:
    """Args:
      bbox_stds: the box-target normalization the head was trained with.
      nms_thresh: per-class NMS IoU; score_thresh: lowest score kept.
      detections_per_image: D, the cap after NMS (and the output size).
      bbox_vote_iou: None, or box voting's IoU (Detectron's VOTE_TH).
      min_box_size: boxes narrower or lower than this (input pixels) are
        dropped before NMS (torchvision: 0.01).
    """

    def __init__(self, bbox_stds=(0.1, 0.1, 0.2, 0.2), nms_thresh=0.3, score_thresh=0.05,
                 detections_per_image=100, bbox_vote_iou=None, min_box_size=0.0):
        self.bbox_stds, self.min_box_size = tuple(bbox_stds), float(min_box_size)
        self.nms_thresh, self.score_thresh = nms_thresh, score_thresh
        self.detections_per_image, self.bbox_vote_iou = detections_per_image, bbox_vote_iou

    @classmethod
    def from_cfg(cls, cfg):
        t = cfg.TEST
        return cls(cfg.TRAIN.BBOX_STDS, t.NMS, t.SCORE_THRESH, t.DETECTIONS_PER_IMAGE,
                   t.BBOX_VOTE_IOU if t.BBOX_VOTE else None, t.MIN_BOX_SIZE)

    def __call__(self, proposals, class_logits, box_deltas, image_size):
        """Detections of one image, in the (resized) input image's pixels.

        Args:
          proposals: [R, 4]; class_logits: [R, C] (C with the background);
          box_deltas: [R, C, 4] class-specific or [R, 1, 4] agnostic;
          image_size: int32 [2] (height, width) of the input image.

        Returns:
          boxes [D, 4], scores [D], classes int32 [D] (1..C-1), and
          num_detections int32 []: the first num_detections rows are valid.
        """
        scores = tf.nn.softmax(class_logits)[:, 1:]
        c = tf.shape(class_logits)[1] - 1
        per_class = tf.shape(box_deltas)[1] > 1
        box_deltas = tf.cond(per_class, lambda: box_deltas[:, 1:],
                             lambda: tf.tile(box_deltas, [1, c, 1]))
        boxes = box_ops.decode(tf.tile(proposals[:, None], [1, c, 1]), box_deltas, self.bbox_stds)
        boxes = box_ops.clip(boxes, image_size[0], image_size[1])
        if self.min_box_size > 0:  # a zero score is under any threshold: NMS drops it
            small = tf.logical_or(boxes[..., 2] - boxes[..., 0] < self.min_box_size,
                                  boxes[..., 3] - boxes[..., 1] < self.min_box_size)
            scores = tf.where(small, tf.zeros_like(scores), scores)
        d = self.detections_per_image
        nms = tf.image.combined_non_max_suppression(boxes[None], scores[None], d, d, self.nms_thresh,
                                                    self.score_thresh, clip_boxes=False)
        kept, classes = nms.nmsed_boxes[0], tf.cast(nms.nmsed_classes[0], tf.int32)
        if self.bbox_vote_iou is not None:
            kept = box_ops.box_voting(kept, classes, boxes, scores, self.bbox_vote_iou)
        return kept, nms.nmsed_scores[0], classes + 1, nms.valid_detections[0]


def rescale_boxes(boxes, image_size, original_size):
    """Boxes [..., 4] in a resized image's pixels -> the original image's,
    clipped to it. image_size, original_size: [2] (height, width)."""
    scale_y = tf.cast(original_size[0], tf.float32) / tf.cast(image_size[0], tf.float32)
    scale_x = tf.cast(original_size[1], tf.float32) / tf.cast(image_size[1], tf.float32)
    boxes = boxes * tf.stack([scale_x, scale_y, scale_x, scale_y])
    return box_ops.clip(boxes, original_size[0], original_size[1])


def _paste_weights(lo, hi, size, extent):
    """[D, extent, size] bilinear weights of the M mask cells for each
    image row (or column) centre: cell u = (y + 0.5 - lo) M / (hi - lo) - 0.5,
    weight max(0, 1 - |u - i|); cells past the mask weigh 0."""
    centres = tf.range(extent, dtype=tf.float32) + 0.5
    span = tf.maximum(hi - lo, 1e-6)[:, None]
    u = (centres[None] - lo[:, None]) * size / span - 0.5  # [D, extent]
    cells = tf.range(size, dtype=tf.float32)
    return tf.maximum(1.0 - tf.abs(u[:, :, None] - cells[None, None]), 0.0)


def _paste_one_torchvision(mask, box, height, width, threshold):
    """torchvision's paste_mask_in_image (Detectron's): ``mask`` [M + 2, M + 2]
    (already padded by one cell), ``box`` int32 [4] (the box grown by
    (M + 2) / M, truncated to integers) -> uint8 [height, width]."""
    w = tf.maximum(box[2] - box[0] + 1, 1)
    h = tf.maximum(box[3] - box[1] + 1, 1)
    resized = tf.image.resize(mask[..., None], tf.stack([h, w]), method="bilinear")[..., 0]
    x0 = tf.clip_by_value(box[0], 0, width)
    y0 = tf.clip_by_value(box[1], 0, height)
    x1 = tf.maximum(tf.minimum(box[2] + 1, width), x0)
    y1 = tf.maximum(tf.minimum(box[3] + 1, height), y0)
    part = tf.slice(resized, tf.stack([y0 - box[1], x0 - box[0]]), tf.stack([y1 - y0, x1 - x0]))
    pasted = tf.pad(part, [[y0, height - y1], [x0, width - x1]])
    return tf.cast(pasted > threshold, tf.uint8)


def paste_masks_torchvision(masks, boxes, height, width, threshold=0.5):
    """torchvision's paste_masks_in_image (padding 1), thresholded: each
    M x M mask gets a one-cell zero border, its box is grown by (M + 2) / M
    about its centre and truncated to integer pixels, the mask is resized
    (bilinear, half-pixel centres) to the box's (x2 - x1 + 1) x (y2 - y1 + 1)
    pixels and put in place. A value > threshold is inside.

    Args and result as paste_masks'.
    """
    masks = tf.convert_to_tensor(masks, tf.float32)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    m = tf.cast(tf.shape(masks)[1], tf.float32)
    masks = tf.pad(masks, [[0, 0], [1, 1], [1, 1]])
    scale = (m + 2.0) / m
    half_w, half_h = (boxes[:, 2] - boxes[:, 0]) * 0.5 * scale, (boxes[:, 3] - boxes[:, 1]) * 0.5 * scale
    cx, cy = (boxes[:, 2] + boxes[:, 0]) * 0.5, (boxes[:, 3] + boxes[:, 1]) * 0.5
    grown = tf.cast(tf.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1), tf.int32)
    height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
    return tf.cond(tf.shape(masks)[0] > 0,
                   lambda: tf.map_fn(lambda a: _paste_one_torchvision(a[0], a[1], height, width, threshold),
                                     (masks, grown),
                                     fn_output_signature=tf.TensorSpec([None, None], tf.uint8)),
                   lambda: tf.zeros(tf.stack([0, height, width]), tf.uint8))


def paste_masks(masks, boxes, height, width, threshold=0.5, style="detectron2"):
    """Mask probabilities over boxes -> full-image binary masks.

    As detectron2's paste_masks_in_image: each image pixel centre is mapped
    into its box's M x M map and read bilinearly (0 outside the map), then
    thresholded. Bilinear reading is separable, so the paste is two
    matrix products per mask, all in-graph; masks are pasted one after
    another (tf.map_fn), so the float work space is a few H x W images,
    not D of them.

    Args:
      masks: [D, M, M] probabilities; boxes: [D, 4] x1 y1 x2 y2 in the
        target image's pixels; height, width: the image's size.
      threshold: a pasted value >= threshold is inside the mask (TEST.MASK_THRESH).
      style: TEST.MASK_PASTE; "torchvision" pastes as paste_masks_torchvision.

    Returns uint8 [D, height, width] of 0 / 1.
    """
    if style == "torchvision":
        return paste_masks_torchvision(masks, boxes, height, width, threshold)
    masks = tf.convert_to_tensor(masks, tf.float32)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    m = tf.cast(tf.shape(masks)[1], tf.float32)
    wy = _paste_weights(boxes[:, 1], boxes[:, 3], m, height)  # [D, H, M]
    wx = _paste_weights(boxes[:, 0], boxes[:, 2], m, width)  # [D, W, M]

    def paste_one(args):
        y, mask, x = args
        return tf.cast(tf.matmul(tf.matmul(y, mask), x, transpose_b=True) >= threshold, tf.uint8)
    parallel = None if tf.executing_eagerly() else 4  # eager map_fn runs one at a time anyway
    # map_fn cannot stack zero results of unknown shape: no detections -> [0, H, W]
    return tf.cond(tf.shape(masks)[0] > 0,
                   lambda: tf.map_fn(paste_one, (wy, masks, wx), parallel_iterations=parallel,
                                     fn_output_signature=tf.TensorSpec([None, None], tf.uint8)),
                   lambda: tf.zeros(tf.stack([0, height, width]), tf.uint8))
