// GPU kernels of RoI max pooling: validation in roi_pool_op.h on the host,
// then the CUDA launchers of roi_pool_cuda.cu.
#include "common/gpu_util.h"
#include "roi_pool/roi_pool_cuda.h"
#include "roi_pool/roi_pool_op.h"

namespace detect {

template <typename T>
struct RoiPoolForward<GpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiPoolAttrs& a,
                        const tf::Tensor& features, const tf::Tensor& rois,
                        tf::Tensor* output, tf::Tensor* argmax) {
    tf::Tensor rois_d;
    TF_RETURN_IF_ERROR(RoisToDevice<T>(ctx, rois, &rois_d));
    return CudaStatus(
        cuda::RoiPoolForward<T>(
            GpuStream(ctx), features.flat<T>().data(), rois_d.flat<T>().data(),
            rois.dim_size(0), features.dim_size(1), features.dim_size(2),
            features.dim_size(3), a.pooled_height, a.pooled_width,
            a.spatial_scale, output->flat<T>().data(),
            argmax->flat<int32_t>().data()),
        "roi_pool forward");
  }
};

template <typename T>
struct RoiPoolBackward<GpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiPoolAttrs& a,
                        const tf::Tensor& rois, const tf::Tensor& argmax,
                        const tf::Tensor& grad, tf::Tensor* grad_features) {
    tf::Tensor rois_d;
    TF_RETURN_IF_ERROR(RoisToDevice<T>(ctx, rois, &rois_d));
    return CudaStatus(
        cuda::RoiPoolBackward<T>(
            GpuStream(ctx), grad.flat<T>().data(), rois_d.flat<T>().data(),
            argmax.flat<int32_t>().data(), grad_features->dim_size(0),
            rois.dim_size(0), grad_features->dim_size(1),
            grad_features->dim_size(2), grad_features->dim_size(3),
            a.pooled_height, a.pooled_width, a.spatial_scale,
            grad_features->flat<T>().data()),
        "roi_pool backward");
  }
};

#define REGISTER_GPU(T)                                         \
  REGISTER_KERNEL_BUILDER(Name("DetectRoiPool")                 \
                              .Device(tf::DEVICE_GPU)           \
                              .TypeConstraint<T>("T")           \
                              .HostMemory("rois"),              \
                          RoiPoolOp<GpuTag, T>);                \
  REGISTER_KERNEL_BUILDER(Name("DetectRoiPoolGrad")             \
                              .Device(tf::DEVICE_GPU)           \
                              .TypeConstraint<T>("T")           \
                              .HostMemory("rois"),              \
                          RoiPoolGradOp<GpuTag, T>);
REGISTER_GPU(float)
REGISTER_GPU(double)
#undef REGISTER_GPU

}  // namespace detect
