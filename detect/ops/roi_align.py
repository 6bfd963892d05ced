"""RoIAlign (Mask R-CNN); ``aligned=True`` is detectron2's ROIAlignV2.

Rules (see csrc/roi_align/roi_align_geometry.h): ``x' = x * scale - 0.5 *
aligned`` with no rounding; the RoI size is clamped to >= 1 cell only when
not aligned; each bin averages a grid of bilinear samples (``sampling_ratio``
per side, or ``ceil(roi_size / bins)`` when <= 0); a sample beyond one cell
outside the map reads 0 but still counts in the average.
"""
import tensorflow as tf

from detect.ops._common import pair, prepare
from detect.ops._loader import LIB


def roi_align(features, rois, output_size=(14, 14), spatial_scale=1.0 / 16,
              sampling_ratio=2, aligned=True, name=None):
    """Bilinearly samples and averages each RoI into a fixed grid of bins.

    Args:
      features: [N, H, W, C] float32/float64 (float16/bfloat16 run in float32).
      rois: [K, 5] = (batch_index, x1, y1, x2, y2) in input-image pixels.
      output_size: int or (out_height, out_width), each >= 1.
      spatial_scale: feature cells per input pixel.
      sampling_ratio: samples per bin side, at most 64; <= 0 picks
        ceil(roi_size / bins). Samples far off the map are skipped, so even a
        diverged, huge RoI costs about the map size.
      aligned: True shifts by -0.5 cell (pixel centres; ROIAlignV2), False is
        the original Mask R-CNN layer.

    Returns:
      [K, out_height, out_width, C], the dtype of ``features``.

    Raises:
      tf.errors.InvalidArgumentError: bad shapes or RoIs, sizes < 1,
        spatial_scale <= 0 or sampling_ratio > 64.
    """
    oh, ow = pair(output_size, "output_size")
    with tf.name_scope(name or "roi_align"):
        features, rois, out_dtype = prepare(features, rois)
        output = LIB.detect_roi_align(features, rois, pooled_height=oh, pooled_width=ow,
                                      spatial_scale=spatial_scale,
                                      sampling_ratio=int(sampling_ratio),
                                      aligned=bool(aligned))
        return tf.cast(output, out_dtype)


@tf.RegisterGradient("DetectRoiAlign")
def _roi_align_grad(op, grad):
    """d output / d features (bilinear weights transposed); none for rois."""
    grad_features = LIB.detect_roi_align_grad(
        op.inputs[0], op.inputs[1], grad,
        pooled_height=op.get_attr("pooled_height"),
        pooled_width=op.get_attr("pooled_width"),
        spatial_scale=op.get_attr("spatial_scale"),
        sampling_ratio=op.get_attr("sampling_ratio"),
        aligned=op.get_attr("aligned"))
    return [grad_features, None]
