"""Mask R-CNN's mask targets: each foreground RoI's object mask, cropped to
the RoI and resampled to M x M (28 x 28), then thresholded at 0.5.

The object masks arrive cropped to their ground-truth boxes at S x S
(datasets/pipeline.py, MODEL.MASK_GT_SIZE), not as full-image bitmaps. A RoI
is mapped into its object's crop, x' = (x - gx1) * S / (gx2 - gx1) (and so
for y), and RoIAligned there with our op (aligned=True, adaptive sampling),
so a target cell is the mean of the crop over that cell of the RoI. Where
the RoI reaches past the object's box the target is 0 (the mask lies in its
box), except within one crop cell (1/S of the box) of it, where RoIAlign
extends the crop's edge.
"""
import tensorflow as tf

from detect.ops import roi_align


def mask_targets(rois, gt_boxes, gt_masks, matches, size=28, threshold=0.5):
    """Binary targets of foreground RoIs.

    Args:
      rois: [F, 4] foreground RoIs, x1 y1 x2 y2 in input pixels.
      gt_boxes: [G, 4] the objects' boxes (input pixels); gt_masks: float
        [G, S, S] their masks cropped to those boxes.
      matches: int32 [F], the object row of each RoI (proposal_targets).
      size: M, target cells per side.

    Returns float32 [F, M, M] of 0 / 1.
    """
    gt_masks = tf.convert_to_tensor(gt_masks, tf.float32)
    boxes = tf.gather(tf.convert_to_tensor(gt_boxes, tf.float32), matches)
    rois = tf.convert_to_tensor(rois, tf.float32)
    crop = tf.cast(tf.shape(gt_masks)[1], tf.float32)
    scale_x = crop / tf.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    scale_y = crop / tf.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    in_crop = tf.stack([tf.cast(matches, tf.float32),
                        (rois[:, 0] - boxes[:, 0]) * scale_x, (rois[:, 1] - boxes[:, 1]) * scale_y,
                        (rois[:, 2] - boxes[:, 0]) * scale_x, (rois[:, 3] - boxes[:, 1]) * scale_y],
                       axis=1)
    resampled = roi_align(gt_masks[..., None], in_crop, size, spatial_scale=1.0, sampling_ratio=0,
                          aligned=True)[..., 0]
    return tf.stop_gradient(tf.cast(resampled >= threshold, tf.float32))
