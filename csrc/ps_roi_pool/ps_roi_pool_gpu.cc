// GPU kernels of position-sensitive RoI pooling: validation in
// ps_roi_pool_op.h on the host, then the launchers of ps_roi_pool_cuda.cu.
#include "common/gpu_util.h"
#include "ps_roi_pool/ps_roi_pool_cuda.h"
#include "ps_roi_pool/ps_roi_pool_op.h"

namespace detect {

template <typename T>
struct PsRoiPoolForward<GpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const PsRoiPoolAttrs& a,
                        const tf::Tensor& features, const tf::Tensor& rois,
                        tf::Tensor* output) {
    tf::Tensor rois_d;
    TF_RETURN_IF_ERROR(RoisToDevice<T>(ctx, rois, &rois_d));
    return CudaStatus(
        cuda::PsRoiPoolForward<T>(
            GpuStream(ctx), features.flat<T>().data(), rois_d.flat<T>().data(),
            rois.dim_size(0), features.dim_size(1), features.dim_size(2),
            a.output_dim, a.group_size, a.spatial_scale,
            output->flat<T>().data()),
        "ps_roi_pool forward");
  }
};

template <typename T>
struct PsRoiPoolBackward<GpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const PsRoiPoolAttrs& a,
                        const tf::Tensor& rois, const tf::Tensor& grad,
                        tf::Tensor* grad_features) {
    tf::Tensor rois_d;
    TF_RETURN_IF_ERROR(RoisToDevice<T>(ctx, rois, &rois_d));
    return CudaStatus(
        cuda::PsRoiPoolBackward<T>(
            GpuStream(ctx), grad.flat<T>().data(), rois_d.flat<T>().data(),
            grad_features->dim_size(0), rois.dim_size(0),
            grad_features->dim_size(1), grad_features->dim_size(2),
            a.output_dim, a.group_size, a.spatial_scale,
            grad_features->flat<T>().data()),
        "ps_roi_pool backward");
  }
};

#define REGISTER_GPU(T)                                         \
  REGISTER_KERNEL_BUILDER(Name("DetectPsRoiPool")               \
                              .Device(tf::DEVICE_GPU)           \
                              .TypeConstraint<T>("T")           \
                              .HostMemory("rois"),              \
                          PsRoiPoolOp<GpuTag, T>);              \
  REGISTER_KERNEL_BUILDER(Name("DetectPsRoiPoolGrad")           \
                              .Device(tf::DEVICE_GPU)           \
                              .TypeConstraint<T>("T")           \
                              .HostMemory("rois"),              \
                          PsRoiPoolGradOp<GpuTag, T>);
REGISTER_GPU(float)
REGISTER_GPU(double)
#undef REGISTER_GPU

}  // namespace detect
