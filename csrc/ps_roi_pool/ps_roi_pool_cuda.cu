// CUDA kernels of position-sensitive RoI pooling (pixel model:
// ps_roi_pool_geometry.h).
#include "common/cuda_launch.h"
#include "ps_roi_pool/ps_roi_pool_cuda.h"
#include "ps_roi_pool/ps_roi_pool_elements.h"

namespace detect {
namespace cuda {
namespace {

// One thread per output element (k, i, j, c).
template <typename T>
__global__ void PsRoiPoolForwardKernel(const T* features, const T* rois,
                                       int64_t total, int64_t H, int64_t W,
                                       int64_t D, int64_t G, T scale,
                                       T* output) {
  DETECT_CUDA_LOOP(idx, total) {
    output[idx] = PsRoiPoolForwardAt(features, rois, idx, H, W, D, G, scale);
  }
}

// One thread per feature element (n, h, w, ch): a gather, deterministic.
template <typename T>
__global__ void PsRoiPoolBackwardKernel(const T* grad, const T* rois,
                                        int64_t total, int64_t K, int64_t H,
                                        int64_t W, int64_t D, int64_t G,
                                        T scale, T* grad_features) {
  DETECT_CUDA_LOOP(idx, total) {
    grad_features[idx] = PsRoiPoolGradAt(grad, rois, idx, K, H, W, D, G, scale);
  }
}

}  // namespace

template <typename T>
const char* PsRoiPoolForward(void* stream, const T* features, const T* rois,
                             int64_t K, int64_t H, int64_t W, int64_t D,
                             int64_t G, float spatial_scale, T* output) {
  const int64_t total = K * G * G * D;
  if (total == 0) return nullptr;
  PsRoiPoolForwardKernel<T><<<BlocksFor(total), kThreads, 0,
                              AsStream(stream)>>>(
      features, rois, total, H, W, D, G, static_cast<T>(spatial_scale),
      output);
  return LastError();
}

template <typename T>
const char* PsRoiPoolBackward(void* stream, const T* grad, const T* rois,
                              int64_t N, int64_t K, int64_t H, int64_t W,
                              int64_t D, int64_t G, float spatial_scale,
                              T* grad_features) {
  const int64_t total = N * H * W * D * G * G;
  if (total == 0) return nullptr;
  PsRoiPoolBackwardKernel<T><<<BlocksFor(total), kThreads, 0,
                               AsStream(stream)>>>(
      grad, rois, total, K, H, W, D, G, static_cast<T>(spatial_scale),
      grad_features);
  return LastError();
}

#define INSTANTIATE(T)                                                     \
  template const char* PsRoiPoolForward<T>(void*, const T*, const T*,      \
                                           int64_t, int64_t, int64_t,      \
                                           int64_t, int64_t, float, T*);   \
  template const char* PsRoiPoolBackward<T>(void*, const T*, const T*,     \
                                            int64_t, int64_t, int64_t,     \
                                            int64_t, int64_t, int64_t,     \
                                            float, T*);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace cuda
}  // namespace detect
