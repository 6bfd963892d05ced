"""Anchors (Faster R-CNN): a reference set per feature-map cell, shifted over
the map.

``reference_anchors`` reproduces py-faster-rcnn's generate_anchors table
(ratio-major, base 16, whose centre is pixel 7.5 in its inclusive
coordinates) and returns it in continuous coordinates ([x1, y1, x2 + 1,
y2 + 1] of that table); for the defaults (base 16, ratios 0.5, 1, 2, scales
8, 16, 32) the first anchor is [-84, -40, 100, 56] (py-faster-rcnn:
[-84, -40, 99, 55]). ``corner_anchors`` makes the model zoos' FPN anchors
(ANCHOR.STYLE torchvision / detectron2), centred on the cell's corner;
torchvision shifts them by ``image_strides`` (the padded image's size over
the map's, in whole pixels), detectron2 by the level's stride.
"""
import numpy as np
import tensorflow as tf


def _whctrs(anchor):
    w = anchor[2] - anchor[0] + 1
    h = anchor[3] - anchor[1] + 1
    return w, h, anchor[0] + 0.5 * (w - 1), anchor[1] + 0.5 * (h - 1)


def _mkanchors(ws, hs, x_ctr, y_ctr):
    ws, hs = ws[:, None], hs[:, None]
    return np.hstack((x_ctr - 0.5 * (ws - 1), y_ctr - 0.5 * (hs - 1),
                      x_ctr + 0.5 * (ws - 1), y_ctr + 0.5 * (hs - 1)))


def reference_anchors(base_size=16, ratios=(0.5, 1.0, 2.0), scales=(8, 16, 32)):
    """[len(ratios) * len(scales), 4] float32 anchors at the cell (0, 0)."""
    base = np.array([1, 1, base_size, base_size], np.float64) - 1
    w, h, x_ctr, y_ctr = _whctrs(base)
    size = w * h
    ws = np.round(np.sqrt(size / np.asarray(ratios, np.float64)))
    hs = np.round(ws * np.asarray(ratios, np.float64))
    ratio_anchors = _mkanchors(ws, hs, x_ctr, y_ctr)
    out = []
    for a in ratio_anchors:
        w, h, x_ctr, y_ctr = _whctrs(a)
        out.append(_mkanchors(w * np.asarray(scales, np.float64), h * np.asarray(scales, np.float64),
                              x_ctr, y_ctr))
    table = np.vstack(out)
    return (table + np.array([0, 0, 1, 1])).astype(np.float32)


def grid_anchors(reference, feature_height, feature_width, stride):
    """All anchors of a feature map: [H * W * A, 4], cell-major (h, w, a).

    Args:
      reference: [A, 4] from ``reference_anchors``.
      feature_height, feature_width: int or scalar tensors.
      stride: input pixels per feature cell: one number for both axes, or
        a Python tuple or list (stride_y, stride_x) (``image_strides``).
    """
    ref = tf.constant(reference, tf.float32)
    if isinstance(stride, (tuple, list)):
        stride_y, stride_x = (tf.cast(s, tf.float32) for s in stride)
    else:
        stride_y = stride_x = tf.cast(stride, tf.float32)
    sx = tf.range(feature_width, dtype=tf.float32) * stride_x
    sy = tf.range(feature_height, dtype=tf.float32) * stride_y
    sx, sy = tf.meshgrid(sx, sy)
    shifts = tf.stack([sx, sy, sx, sy], axis=-1)  # [H, W, 4]
    anchors = shifts[:, :, None, :] + ref[None, None, :, :]
    return tf.reshape(anchors, [-1, 4])


def image_strides(image_height, image_width, feature_height, feature_width):
    """(stride_y, stride_x) = (image_height // feature_height, image_width //
    feature_width): torchvision's AnchorGenerator's strides, from the padded
    batch's size and the feature map's. They equal the level's stride
    wherever that stride divides the image's size; where it does not they
    are smaller:
    an 800-pixel-high input (25 rows at P5) has 13 rows at P6 and a P6
    stride of 800 // 13 = 61, not 64, in y. Ints or int32 scalar tensors."""
    return image_height // feature_height, image_width // feature_width


def corner_anchors(size, ratios, rounded):
    """[len(ratios), 4] float32 anchors of one size centred on the cell's
    corner (0, 0), as torchvision's AnchorGenerator (``rounded``: its base
    anchors are rounded to whole pixels) and detectron2's
    DefaultAnchorGenerator (offset 0, not rounded) make them for an FPN
    level. ratio = height / width; area = size^2.

    torchvision: h = size sqrt(r), w = size / sqrt(r); detectron2:
    w = sqrt(size^2 / r), h = r w. Both are [-w/2, -h/2, w/2, h/2].
    """
    out = []
    for r in ratios:
        if rounded:
            h_ratio = np.sqrt(np.float32(r))  # torchvision computes in float32
            w_ratio = np.float32(1) / h_ratio
            w, h = w_ratio * np.float32(size), h_ratio * np.float32(size)
            box = np.round(np.array([-w, -h, w, h], np.float32) / np.float32(2))
        else:
            w = np.sqrt(size * size / r)
            h = r * w
            box = np.array([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
        out.append(box)
    return np.array(out, np.float32)
