"""TensorFlow RoI ops compiled from csrc/: roi_pool, ps_roi_pool, roi_align.

Conventions: features NHWC; rois [K, 5] = (batch_index, x1, y1, x2, y2) in
input-image pixels; ``spatial_scale`` maps pixels to feature cells. Each op
has CPU and (when built) CUDA kernels for float32 and float64, and a
registered gradient with respect to the features.
"""

from detect.ops._loader import BUILD_INFO, GPU_KERNELS, OpsNotBuiltError
from detect.ops.ps_roi_pool import ps_roi_pool
from detect.ops.roi_align import roi_align
from detect.ops.roi_pool import roi_pool

OP_NAMES = ("DetectRoiPool", "DetectRoiPoolGrad", "DetectPsRoiPool",
            "DetectPsRoiPoolGrad", "DetectRoiAlign", "DetectRoiAlignGrad")


def registered_kernels():
    """{op name: sorted device types with a kernel}, e.g. ['CPU', 'GPU']."""
    from tensorflow.python.framework import kernels

    return {name: sorted({k.device_type for k in kernels.get_registered_kernels_for_op(name).kernel})
            for name in OP_NAMES}


__all__ = ["roi_pool", "ps_roi_pool", "roi_align", "registered_kernels",
           "GPU_KERNELS", "BUILD_INFO", "OpsNotBuiltError"]
