// OpKernels of RoIAlign, templated on the device. Validation and allocation
// live here once; the CPU and GPU files supply the RoiAlignForward /
// RoiAlignBackward functors.
#ifndef DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_OP_H_
#define DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_OP_H_

#include "common/devices.h"
#include "common/roi_checks.h"
#include "roi_align/roi_align_geometry.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace detect {

struct RoiAlignAttrs {
  int64_t pooled_height = 0, pooled_width = 0, sampling_ratio = 0;
  float spatial_scale = 0;
  bool aligned = true;

  explicit RoiAlignAttrs(tf::OpKernelConstruction* ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pooled_height", &pooled_height));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pooled_width", &pooled_width));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("spatial_scale", &spatial_scale));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("sampling_ratio", &sampling_ratio));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("aligned", &aligned));
    OP_REQUIRES_OK(ctx, CheckPositive("pooled_height", pooled_height));
    OP_REQUIRES_OK(ctx, CheckPositive("pooled_width", pooled_width));
    OP_REQUIRES_OK(ctx, CheckSpatialScale(spatial_scale));
    OP_REQUIRES(ctx, sampling_ratio <= kMaxSamplingRatio,
                tf::errors::InvalidArgument(
                    "sampling_ratio must be <= ", kMaxSamplingRatio,
                    " samples per bin side (<= 0 picks ceil(roi size / bins) "
                    "adaptively), got ",
                    sampling_ratio));
  }
};

template <typename Device, typename T>
struct RoiAlignForward {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiAlignAttrs& attrs,
                        const tf::Tensor& features, const tf::Tensor& rois,
                        tf::Tensor* output);
};

template <typename Device, typename T>
struct RoiAlignBackward {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiAlignAttrs& attrs,
                        const tf::Tensor& rois, const tf::Tensor& grad,
                        tf::Tensor* grad_features);
};

template <typename Device, typename T>
class RoiAlignOp : public tf::OpKernel {
 public:
  explicit RoiAlignOp(tf::OpKernelConstruction* ctx)
      : tf::OpKernel(ctx), attrs_(ctx) {}

  void Compute(tf::OpKernelContext* ctx) override {
    const tf::Tensor& features = ctx->input(0);
    const tf::Tensor& rois = ctx->input(1);
    tf::TensorShape shape;
    OP_REQUIRES_OK(ctx, CheckPooledInputs<T>(features, rois, attrs_.pooled_height,
                                             attrs_.pooled_width, &shape));
    tf::Tensor* output = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, shape, &output));
    if (shape.num_elements() == 0) return;
    OP_REQUIRES_OK(ctx, RoiAlignForward<Device, T>()(ctx, attrs_, features,
                                                     rois, output));
  }

 private:
  RoiAlignAttrs attrs_;
};

template <typename Device, typename T>
class RoiAlignGradOp : public tf::OpKernel {
 public:
  explicit RoiAlignGradOp(tf::OpKernelConstruction* ctx)
      : tf::OpKernel(ctx), attrs_(ctx) {}

  void Compute(tf::OpKernelContext* ctx) override {
    const tf::Tensor& features = ctx->input(0);
    const tf::Tensor& rois = ctx->input(1);
    const tf::Tensor& grad = ctx->input(2);
    tf::TensorShape shape;
    OP_REQUIRES_OK(ctx, CheckPooledInputs<T>(features, rois, attrs_.pooled_height,
                                             attrs_.pooled_width, &shape));
    OP_REQUIRES_OK(ctx, CheckSameShape("grad", grad, shape));
    tf::Tensor* grad_features = nullptr;
    OP_REQUIRES_OK(ctx,
                   ctx->allocate_output(0, features.shape(), &grad_features));
    if (features.NumElements() == 0) return;
    OP_REQUIRES_OK(ctx, RoiAlignBackward<Device, T>()(ctx, attrs_, rois, grad,
                                                      grad_features));
  }

 private:
  RoiAlignAttrs attrs_;
};

}  // namespace detect

#endif  // DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_OP_H_
