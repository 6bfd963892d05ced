"""RoI max pooling (Fast R-CNN), with Caffe's pixel model.

Rules (see csrc/roi_pool/roi_pool_geometry.h): RoI corners are scaled to the
feature map and rounded with C ``round`` (halves away from zero), the end is
inclusive, bins are ``[floor(p * bin), ceil((p + 1) * bin))`` in float32,
ties go to the first cell in row-major order, and an empty bin gives 0.
"""
import tensorflow as tf

from detect.ops._common import pair, prepare
from detect.ops._loader import LIB


def roi_pool(features, rois, pooled_size=(7, 7), spatial_scale=1.0 / 16, name=None):
    """Max-pools each RoI into a fixed grid of bins.

    Args:
      features: [N, H, W, C] float32/float64 (float16/bfloat16 run in float32).
      rois: [K, 5] = (batch_index, x1, y1, x2, y2) in input-image pixels;
        cast to the dtype of ``features``.
      pooled_size: int or (pooled_height, pooled_width), each >= 1.
      spatial_scale: feature cells per input pixel (1/16 for a stride-16 map).

    Returns:
      [K, pooled_height, pooled_width, C], the dtype of ``features``.

    Raises:
      tf.errors.InvalidArgumentError: bad shapes, batch indices outside
        [0, N), non-finite RoIs, sizes < 1 or spatial_scale <= 0.
    """
    ph, pw = pair(pooled_size, "pooled_size")
    with tf.name_scope(name or "roi_pool"):
        features, rois, out_dtype = prepare(features, rois)
        output, _ = LIB.detect_roi_pool(features, rois, pooled_height=ph,
                                        pooled_width=pw, spatial_scale=spatial_scale)
        return tf.cast(output, out_dtype)


@tf.RegisterGradient("DetectRoiPool")
def _roi_pool_grad(op, grad, _unused_argmax_grad):
    """d output / d features through the argmax of each bin; none for rois."""
    grad_features = LIB.detect_roi_pool_grad(
        op.inputs[0], op.inputs[1], op.outputs[1], grad,
        pooled_height=op.get_attr("pooled_height"),
        pooled_width=op.get_attr("pooled_width"),
        spatial_scale=op.get_attr("spatial_scale"))
    return [grad_features, None]
