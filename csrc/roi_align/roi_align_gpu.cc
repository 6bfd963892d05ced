// GPU kernels of RoIAlign: validation in roi_align_op.h on the host, then
// the launchers of roi_align_cuda.cu.
#include "common/gpu_util.h"
#include "roi_align/roi_align_cuda.h"
#include "roi_align/roi_align_op.h"

namespace detect {

template <typename T>
struct RoiAlignForward<GpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiAlignAttrs& a,
                        const tf::Tensor& features, const tf::Tensor& rois,
                        tf::Tensor* output) {
    tf::Tensor rois_d;
    TF_RETURN_IF_ERROR(RoisToDevice<T>(ctx, rois, &rois_d));
    return CudaStatus(
        cuda::RoiAlignForward<T>(
            GpuStream(ctx), features.flat<T>().data(), rois_d.flat<T>().data(),
            rois.dim_size(0), features.dim_size(1), features.dim_size(2),
            features.dim_size(3), a.pooled_height, a.pooled_width,
            a.spatial_scale, a.sampling_ratio, a.aligned,
            output->flat<T>().data()),
        "roi_align forward");
  }
};

template <typename T>
struct RoiAlignBackward<GpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiAlignAttrs& a,
                        const tf::Tensor& rois, const tf::Tensor& grad,
                        tf::Tensor* grad_features) {
    tf::Tensor rois_d;
    TF_RETURN_IF_ERROR(RoisToDevice<T>(ctx, rois, &rois_d));
    return CudaStatus(
        cuda::RoiAlignBackward<T>(
            GpuStream(ctx), grad.flat<T>().data(), rois_d.flat<T>().data(),
            grad_features->dim_size(0), rois.dim_size(0),
            grad_features->dim_size(1), grad_features->dim_size(2),
            grad_features->dim_size(3), a.pooled_height, a.pooled_width,
            a.spatial_scale, a.sampling_ratio, a.aligned,
            grad_features->flat<T>().data()),
        "roi_align backward");
  }
};

#define REGISTER_GPU(T)                                         \
  REGISTER_KERNEL_BUILDER(Name("DetectRoiAlign")                \
                              .Device(tf::DEVICE_GPU)           \
                              .TypeConstraint<T>("T")           \
                              .HostMemory("rois"),              \
                          RoiAlignOp<GpuTag, T>);               \
  REGISTER_KERNEL_BUILDER(Name("DetectRoiAlignGrad")            \
                              .Device(tf::DEVICE_GPU)           \
                              .TypeConstraint<T>("T")           \
                              .HostMemory("rois"),              \
                          RoiAlignGradOp<GpuTag, T>);
REGISTER_GPU(float)
REGISTER_GPU(double)
#undef REGISTER_GPU

}  // namespace detect
