// Op interfaces of R-FCN position-sensitive RoI average pooling. Kernels:
// ps_roi_pool_kernels.cc (CPU) and ps_roi_pool_gpu.cc (CUDA).
#include "common/roi_shapes.h"
#include "tensorflow/core/framework/op.h"

namespace detect {

REGISTER_OP("DetectPsRoiPool")
    .Input("features: T")  // [N, H, W, output_dim * group_size^2]
    .Input("rois: T")      // [K, 5] = (batch_index, x1, y1, x2, y2), pixels
    .Output("output: T")   // [K, group_size, group_size, output_dim]
    .Attr("output_dim: int")
    .Attr("group_size: int")
    .Attr("spatial_scale: float")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      int64_t output_dim, group_size;
      TF_RETURN_IF_ERROR(c->GetAttr("output_dim", &output_dim));
      TF_RETURN_IF_ERROR(c->GetAttr("group_size", &group_size));
      const DimensionHandle g = DimFromAttr(c, group_size);
      return SetPooledShape(c, g, g, DimFromAttr(c, output_dim));
    });

// Gradient of DetectPsRoiPool's output with respect to its features. Only
// the shape of `features` is read.
REGISTER_OP("DetectPsRoiPoolGrad")
    .Input("features: T")
    .Input("rois: T")
    .Input("grad: T")  // [K, group_size, group_size, output_dim]
    .Output("grad_features: T")  // [N, H, W, output_dim * group_size^2]
    .Attr("output_dim: int")
    .Attr("group_size: int")
    .Attr("spatial_scale: float")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      return tf::OkStatus();
    });

}  // namespace detect
