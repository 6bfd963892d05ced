// CUDA kernels of RoI max pooling (pixel model: roi_pool_geometry.h).
#include "common/cuda_launch.h"
#include "roi_pool/roi_pool_cuda.h"
#include "roi_pool/roi_pool_elements.h"

namespace detect {
namespace cuda {
namespace {

// One thread per output element (k, ph, pw, c); c fastest, so neighbouring
// threads read neighbouring channels of the same cell.
template <typename T>
__global__ void RoiPoolForwardKernel(const T* features, const T* rois,
                                     int64_t total, int64_t H, int64_t W,
                                     int64_t C, int64_t PH, int64_t PW,
                                     float scale, T* output, int32_t* argmax) {
  DETECT_CUDA_LOOP(idx, total) {
    RoiPoolForwardAt(features, rois, idx, H, W, C, PH, PW, scale, output,
                     argmax);
  }
}

// One thread per feature element (n, h, w, c): a gather, deterministic.
template <typename T>
__global__ void RoiPoolBackwardKernel(const T* grad, const T* rois,
                                      const int32_t* argmax, int64_t total,
                                      int64_t K, int64_t H, int64_t W,
                                      int64_t C, int64_t PH, int64_t PW,
                                      float scale, T* grad_features) {
  DETECT_CUDA_LOOP(idx, total) {
    grad_features[idx] =
        RoiPoolGradAt(grad, rois, argmax, idx, K, H, W, C, PH, PW, scale);
  }
}

}  // namespace

template <typename T>
const char* RoiPoolForward(void* stream, const T* features, const T* rois,
                           int64_t K, int64_t H, int64_t W, int64_t C,
                           int64_t PH, int64_t PW, float spatial_scale,
                           T* output, int32_t* argmax) {
  const int64_t total = K * PH * PW * C;
  if (total == 0) return nullptr;
  RoiPoolForwardKernel<T><<<BlocksFor(total), kThreads, 0, AsStream(stream)>>>(
      features, rois, total, H, W, C, PH, PW, spatial_scale, output, argmax);
  return LastError();
}

template <typename T>
const char* RoiPoolBackward(void* stream, const T* grad, const T* rois,
                            const int32_t* argmax, int64_t N, int64_t K,
                            int64_t H, int64_t W, int64_t C, int64_t PH,
                            int64_t PW, float spatial_scale,
                            T* grad_features) {
  const int64_t total = N * H * W * C;
  if (total == 0) return nullptr;
  RoiPoolBackwardKernel<T><<<BlocksFor(total), kThreads, 0, AsStream(stream)>>>(
      grad, rois, argmax, total, K, H, W, C, PH, PW, spatial_scale,
      grad_features);
  return LastError();
}

#define INSTANTIATE(T)                                                      \
  template const char* RoiPoolForward<T>(void*, const T*, const T*, int64_t, \
                                         int64_t, int64_t, int64_t, int64_t, \
                                         int64_t, float, T*, int32_t*);      \
  template const char* RoiPoolBackward<T>(                                   \
      void*, const T*, const T*, const int32_t*, int64_t, int64_t, int64_t,  \
      int64_t, int64_t, int64_t, int64_t, float, T*);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace cuda
}  // namespace detect
