// OpKernels of RoI max pooling, templated on the device. Validation and
// output allocation live here once; the CPU and GPU files supply the
// RoiPoolForward / RoiPoolBackward functors and register the kernels.
#ifndef DETECT_CSRC_ROI_POOL_ROI_POOL_OP_H_
#define DETECT_CSRC_ROI_POOL_ROI_POOL_OP_H_

#include "common/devices.h"
#include "common/roi_checks.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace detect {

struct RoiPoolAttrs {
  int64_t pooled_height = 0, pooled_width = 0;
  float spatial_scale = 0;

  explicit RoiPoolAttrs(tf::OpKernelConstruction* ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pooled_height", &pooled_height));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pooled_width", &pooled_width));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("spatial_scale", &spatial_scale));
    OP_REQUIRES_OK(ctx, CheckPositive("pooled_height", pooled_height));
    OP_REQUIRES_OK(ctx, CheckPositive("pooled_width", pooled_width));
    OP_REQUIRES_OK(ctx, CheckSpatialScale(spatial_scale));
  }
};

// Fills output [K, PH, PW, C] and argmax; `rois` is on the host, valid.
template <typename Device, typename T>
struct RoiPoolForward {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiPoolAttrs& attrs,
                        const tf::Tensor& features, const tf::Tensor& rois,
                        tf::Tensor* output, tf::Tensor* argmax);
};

// Writes grad_features [N, H, W, C] (all of it) from grad and argmax.
template <typename Device, typename T>
struct RoiPoolBackward {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiPoolAttrs& attrs,
                        const tf::Tensor& rois, const tf::Tensor& argmax,
                        const tf::Tensor& grad, tf::Tensor* grad_features);
};

template <typename Device, typename T>
class RoiPoolOp : public tf::OpKernel {
 public:
  explicit RoiPoolOp(tf::OpKernelConstruction* ctx)
      : tf::OpKernel(ctx), attrs_(ctx) {}

  void Compute(tf::OpKernelContext* ctx) override {
    const tf::Tensor& features = ctx->input(0);
    const tf::Tensor& rois = ctx->input(1);
    tf::TensorShape shape;
    OP_REQUIRES_OK(ctx, CheckPooledInputs<T>(features, rois, attrs_.pooled_height,
                                             attrs_.pooled_width, &shape));
    tf::Tensor *output = nullptr, *argmax = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, shape, &output));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, shape, &argmax));
    if (shape.num_elements() == 0) return;
    OP_REQUIRES_OK(ctx, RoiPoolForward<Device, T>()(ctx, attrs_, features,
                                                    rois, output, argmax));
  }

 private:
  RoiPoolAttrs attrs_;
};

template <typename Device, typename T>
class RoiPoolGradOp : public tf::OpKernel {
 public:
  explicit RoiPoolGradOp(tf::OpKernelConstruction* ctx)
      : tf::OpKernel(ctx), attrs_(ctx) {}

  void Compute(tf::OpKernelContext* ctx) override {
    const tf::Tensor& features = ctx->input(0);
    const tf::Tensor& rois = ctx->input(1);
    const tf::Tensor& argmax = ctx->input(2);
    const tf::Tensor& grad = ctx->input(3);
    tf::TensorShape shape;
    OP_REQUIRES_OK(ctx, CheckPooledInputs<T>(features, rois, attrs_.pooled_height,
                                             attrs_.pooled_width, &shape));
    OP_REQUIRES_OK(ctx, CheckSameShape("grad", grad, shape));
    OP_REQUIRES_OK(ctx, CheckSameShape("argmax", argmax, shape));
    tf::Tensor* grad_features = nullptr;
    OP_REQUIRES_OK(ctx,
                   ctx->allocate_output(0, features.shape(), &grad_features));
    if (features.NumElements() == 0) return;
    OP_REQUIRES_OK(ctx, RoiPoolBackward<Device, T>()(ctx, attrs_, rois, argmax,
                                                     grad, grad_features));
  }

 private:
  RoiPoolAttrs attrs_;
};

}  // namespace detect

#endif  // DETECT_CSRC_ROI_POOL_ROI_POOL_OP_H_
