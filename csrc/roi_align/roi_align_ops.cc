// Op interfaces of Mask R-CNN RoIAlign. Kernels: roi_align_kernels.cc (CPU)
// and roi_align_gpu.cc (CUDA).
#include "common/roi_shapes.h"
#include "tensorflow/core/framework/op.h"

namespace detect {

REGISTER_OP("DetectRoiAlign")
    .Input("features: T")  // [N, H, W, C]
    .Input("rois: T")      // [K, 5] = (batch_index, x1, y1, x2, y2), pixels
    .Output("output: T")   // [K, pooled_height, pooled_width, C]
    .Attr("pooled_height: int")
    .Attr("pooled_width: int")
    .Attr("spatial_scale: float")
    .Attr("sampling_ratio: int")  // <= 0: adaptive, ceil(roi size / bins)
    .Attr("aligned: bool")        // true: half-pixel shift (ROIAlignV2)
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      int64_t ph, pw;
      TF_RETURN_IF_ERROR(c->GetAttr("pooled_height", &ph));
      TF_RETURN_IF_ERROR(c->GetAttr("pooled_width", &pw));
      return SetPooledShape(c, DimFromAttr(c, ph), DimFromAttr(c, pw),
                            DimIfRank(c, 0, 4, 3));
    });

// Gradient of DetectRoiAlign's output with respect to its features. Only
// the shape of `features` is read.
REGISTER_OP("DetectRoiAlignGrad")
    .Input("features: T")
    .Input("rois: T")
    .Input("grad: T")  // [K, pooled_height, pooled_width, C]
    .Output("grad_features: T")  // [N, H, W, C]
    .Attr("pooled_height: int")
    .Attr("pooled_width: int")
    .Attr("spatial_scale: float")
    .Attr("sampling_ratio: int")
    .Attr("aligned: bool")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      return tf::OkStatus();
    });

}  // namespace detect
