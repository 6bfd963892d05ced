// OpKernels of position-sensitive RoI pooling, templated on the device.
// Validation and allocation live here once; the CPU and GPU files supply
// the PsRoiPoolForward / PsRoiPoolBackward functors.
#ifndef DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_OP_H_
#define DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_OP_H_

#include "common/devices.h"
#include "common/roi_checks.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace detect {

struct PsRoiPoolAttrs {
  int64_t output_dim = 0, group_size = 0;
  float spatial_scale = 0;

  explicit PsRoiPoolAttrs(tf::OpKernelConstruction* ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("output_dim", &output_dim));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("group_size", &group_size));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("spatial_scale", &spatial_scale));
    OP_REQUIRES_OK(ctx, CheckPositive("output_dim", output_dim));
    OP_REQUIRES_OK(ctx, CheckPositive("group_size", group_size));
    OP_REQUIRES_OK(ctx, CheckSpatialScale(spatial_scale));
  }

  // Output shape [K, group_size, group_size, output_dim], after checking
  // that features carry output_dim * group_size^2 channels.
  tf::Status OutputShape(const tf::Tensor& features, const tf::Tensor& rois,
                         tf::TensorShape* shape) const {
    TF_RETURN_IF_ERROR(CheckFeatures(features));
    const int64_t want = output_dim * group_size * group_size;
    if (features.dim_size(3) != want) {
      return tf::errors::InvalidArgument(
          "features have ", features.dim_size(3),
          " channels, but ps_roi_pool needs output_dim * group_size^2 = ",
          output_dim, " * ", group_size, "^2 = ", want);
    }
    *shape = tf::TensorShape(
        {rois.dims() > 0 ? rois.dim_size(0) : 0, group_size, group_size,
         output_dim});
    return tf::OkStatus();
  }
};

template <typename Device, typename T>
struct PsRoiPoolForward {
  tf::Status operator()(tf::OpKernelContext* ctx, const PsRoiPoolAttrs& attrs,
                        const tf::Tensor& features, const tf::Tensor& rois,
                        tf::Tensor* output);
};

template <typename Device, typename T>
struct PsRoiPoolBackward {
  tf::Status operator()(tf::OpKernelContext* ctx, const PsRoiPoolAttrs& attrs,
                        const tf::Tensor& rois, const tf::Tensor& grad,
                        tf::Tensor* grad_features);
};

template <typename Device, typename T>
class PsRoiPoolOp : public tf::OpKernel {
 public:
  explicit PsRoiPoolOp(tf::OpKernelConstruction* ctx)
      : tf::OpKernel(ctx), attrs_(ctx) {}

  void Compute(tf::OpKernelContext* ctx) override {
    const tf::Tensor& features = ctx->input(0);
    const tf::Tensor& rois = ctx->input(1);
    tf::TensorShape shape;
    OP_REQUIRES_OK(ctx, attrs_.OutputShape(features, rois, &shape));
    OP_REQUIRES_OK(ctx, CheckRois<T>(rois, features.dim_size(0)));
    tf::Tensor* output = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, shape, &output));
    if (shape.num_elements() == 0) return;
    OP_REQUIRES_OK(ctx, PsRoiPoolForward<Device, T>()(ctx, attrs_, features,
                                                      rois, output));
  }

 private:
  PsRoiPoolAttrs attrs_;
};

template <typename Device, typename T>
class PsRoiPoolGradOp : public tf::OpKernel {
 public:
  explicit PsRoiPoolGradOp(tf::OpKernelConstruction* ctx)
      : tf::OpKernel(ctx), attrs_(ctx) {}

  void Compute(tf::OpKernelContext* ctx) override {
    const tf::Tensor& features = ctx->input(0);
    const tf::Tensor& rois = ctx->input(1);
    const tf::Tensor& grad = ctx->input(2);
    tf::TensorShape shape;
    OP_REQUIRES_OK(ctx, attrs_.OutputShape(features, rois, &shape));
    OP_REQUIRES_OK(ctx, CheckRois<T>(rois, features.dim_size(0)));
    OP_REQUIRES_OK(ctx, CheckSameShape("grad", grad, shape));
    tf::Tensor* grad_features = nullptr;
    OP_REQUIRES_OK(ctx,
                   ctx->allocate_output(0, features.shape(), &grad_features));
    if (features.NumElements() == 0) return;
    OP_REQUIRES_OK(ctx, PsRoiPoolBackward<Device, T>()(ctx, attrs_, rois, grad,
                                                       grad_features));
  }

 private:
  PsRoiPoolAttrs attrs_;
};

}  // namespace detect

#endif  // DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_OP_H_
