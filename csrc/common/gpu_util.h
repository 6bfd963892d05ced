// g++-side glue for the GPU kernels: the op's CUDA stream, the device copy of
// the validated host RoIs, and launcher errors as Status. Compiled only into
// _ops_gpu.so, with EIGEN_USE_GPU and TensorFlow's bundled CUDA headers.
#ifndef DETECT_CSRC_COMMON_GPU_UTIL_H_
#define DETECT_CSRC_COMMON_GPU_UTIL_H_

#define EIGEN_USE_GPU
#include "common/cuda_copy.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace detect {

namespace tf = ::tensorflow;

inline void* GpuStream(tf::OpKernelContext* ctx) {
  return reinterpret_cast<void*>(
      ctx->eigen_device<Eigen::GpuDevice>().stream());
}

inline tf::Status CudaStatus(const char* err, const char* what) {
  if (err == nullptr) return tf::OkStatus();
  return tf::errors::Internal(what, " failed on the GPU: ", err);
}

// The RoI inputs are HostMemory so that roi_checks.h can read them; this
// makes the device copy the kernels read.
template <typename T>
tf::Status RoisToDevice(tf::OpKernelContext* ctx, const tf::Tensor& rois,
                        tf::Tensor* rois_device) {
  TF_RETURN_IF_ERROR(ctx->allocate_temp(tf::DataTypeToEnum<T>::value,
                                        rois.shape(), rois_device));
  return CudaStatus(cuda::CopyHostToDevice(GpuStream(ctx),
                                           rois_device->data(), rois.data(),
                                           rois.TotalBytes()),
                    "copying rois to the GPU");
}

}  // namespace detect

#endif  // DETECT_CSRC_COMMON_GPU_UTIL_H_
