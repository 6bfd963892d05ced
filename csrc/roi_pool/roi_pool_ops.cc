// Op interfaces of Fast R-CNN RoI max pooling. Kernels: roi_pool_kernels.cc
// (CPU) and roi_pool_gpu.cc (CUDA).
#include "common/roi_shapes.h"
#include "tensorflow/core/framework/op.h"

namespace detect {

REGISTER_OP("DetectRoiPool")
    .Input("features: T")  // [N, H, W, C]
    .Input("rois: T")      // [K, 5] = (batch_index, x1, y1, x2, y2), pixels
    .Output("output: T")   // [K, pooled_height, pooled_width, C]
    .Output("argmax: int32")  // same shape: h * W + w of the max, -1 if empty
    .Attr("pooled_height: int")
    .Attr("pooled_width: int")
    .Attr("spatial_scale: float")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      int64_t ph, pw;
      TF_RETURN_IF_ERROR(c->GetAttr("pooled_height", &ph));
      TF_RETURN_IF_ERROR(c->GetAttr("pooled_width", &pw));
      const DimensionHandle channels = DimIfRank(c, 0, 4, 3);
      const DimensionHandle h = DimFromAttr(c, ph), w = DimFromAttr(c, pw);
      TF_RETURN_IF_ERROR(SetPooledShape(c, h, w, channels, 0));
      return SetPooledShape(c, h, w, channels, 1);
    });

// Gradient of DetectRoiPool's output with respect to its features. Only the
// shape of `features` is read.
REGISTER_OP("DetectRoiPoolGrad")
    .Input("features: T")
    .Input("rois: T")
    .Input("argmax: int32")
    .Input("grad: T")  // [K, pooled_height, pooled_width, C]
    .Output("grad_features: T")  // [N, H, W, C]
    .Attr("pooled_height: int")
    .Attr("pooled_width: int")
    .Attr("spatial_scale: float")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      return tf::OkStatus();
    });

}  // namespace detect
