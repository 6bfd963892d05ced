"""Position-sensitive RoI average pooling (R-FCN), with R-FCN's pixel model.

Rules (see csrc/ps_roi_pool/ps_roi_pool_geometry.h): corners are rounded in
image pixels, ``start = round(x1) * scale``, ``end = (round(x2) + 1) * scale``,
size at least 0.1 cell, bin edges ``floor`` / ``ceil`` clipped to the map,
mean over the bin (0 when empty). Output channel ``c`` at bin ``(i, j)`` reads
input channel ``(c * group_size + i) * group_size + j``.
"""
import tensorflow as tf

from detect.ops._common import prepare
from detect.ops._loader import LIB


def ps_roi_pool(features, rois, output_dim, group_size=7, spatial_scale=1.0 / 16, name=None):
    """Average-pools bin (i, j) of each RoI from its own group of channels.

    Args:
      features: [N, H, W, output_dim * group_size**2] float32/float64
        (float16/bfloat16 run in float32).
      rois: [K, 5] = (batch_index, x1, y1, x2, y2) in input-image pixels.
      output_dim: channels per bin, e.g. num_classes + 1 for R-FCN scores.
      group_size: k, the bins per side (k x k position-sensitive maps).
      spatial_scale: feature cells per input pixel.

    Returns:
      [K, group_size, group_size, output_dim], the dtype of ``features``.

    Raises:
      tf.errors.InvalidArgumentError: channels != output_dim * group_size**2,
        bad shapes or RoIs, sizes < 1 or spatial_scale <= 0.
    """
    with tf.name_scope(name or "ps_roi_pool"):
        features, rois, out_dtype = prepare(features, rois)
        output = LIB.detect_ps_roi_pool(features, rois, output_dim=int(output_dim),
                                        group_size=int(group_size),
                                        spatial_scale=spatial_scale)
        return tf.cast(output, out_dtype)


@tf.RegisterGradient("DetectPsRoiPool")
def _ps_roi_pool_grad(op, grad):
    """d output / d features (each bin spreads its mean); none for rois."""
    grad_features = LIB.detect_ps_roi_pool_grad(
        op.inputs[0], op.inputs[1], grad,
        output_dim=op.get_attr("output_dim"),
        group_size=op.get_attr("group_size"),
        spatial_scale=op.get_attr("spatial_scale"))
    return [grad_features, None]
