// CUDA kernels of RoIAlign (pixel model: roi_align_geometry.h).
#include "common/cuda_launch.h"
#include "roi_align/roi_align_cuda.h"
#include "roi_align/roi_align_elements.h"

namespace detect {
namespace cuda {
namespace {

// One thread per output element (k, ph, pw, c); c fastest for coalescing.
template <typename T>
__global__ void RoiAlignForwardKernel(const T* features, const T* rois,
                                      int64_t total, int64_t H, int64_t W,
                                      int64_t C, int64_t PH, int64_t PW,
                                      T scale, int64_t sampling_ratio,
                                      bool aligned, T* output) {
  DETECT_CUDA_LOOP(idx, total) {
    output[idx] = RoiAlignForwardAt(features, rois, idx, H, W, C, PH, PW,
                                    scale, sampling_ratio, aligned);
  }
}

// One thread per feature element (n, h, w, c): a gather, deterministic.
template <typename T>
__global__ void RoiAlignBackwardKernel(const T* grad, const T* rois,
                                       int64_t total, int64_t K, int64_t H,
                                       int64_t W, int64_t C, int64_t PH,
                                       int64_t PW, T scale,
                                       int64_t sampling_ratio, bool aligned,
                                       T* grad_features) {
  DETECT_CUDA_LOOP(idx, total) {
    grad_features[idx] = RoiAlignGradAt(grad, rois, idx, K, H, W, C, PH, PW,
                                        scale, sampling_ratio, aligned);
  }
}

}  // namespace

template <typename T>
const char* RoiAlignForward(void* stream, const T* features, const T* rois,
                            int64_t K, int64_t H, int64_t W, int64_t C,
                            int64_t PH, int64_t PW, float spatial_scale,
                            int64_t sampling_ratio, bool aligned, T* output) {
  const int64_t total = K * PH * PW * C;
  if (total == 0) return nullptr;
  RoiAlignForwardKernel<T><<<BlocksFor(total), kThreads, 0,
                             AsStream(stream)>>>(
      features, rois, total, H, W, C, PH, PW, static_cast<T>(spatial_scale),
      sampling_ratio, aligned, output);
  return LastError();
}

template <typename T>
const char* RoiAlignBackward(void* stream, const T* grad, const T* rois,
                             int64_t N, int64_t K, int64_t H, int64_t W,
                             int64_t C, int64_t PH, int64_t PW,
                             float spatial_scale, int64_t sampling_ratio,
                             bool aligned, T* grad_features) {
  const int64_t total = N * H * W * C;
  if (total == 0) return nullptr;
  RoiAlignBackwardKernel<T><<<BlocksFor(total), kThreads, 0,
                              AsStream(stream)>>>(
      grad, rois, total, K, H, W, C, PH, PW, static_cast<T>(spatial_scale),
      sampling_ratio, aligned, grad_features);
  return LastError();
}

#define INSTANTIATE(T)                                                       \
  template const char* RoiAlignForward<T>(void*, const T*, const T*,         \
                                          int64_t, int64_t, int64_t, int64_t, \
                                          int64_t, int64_t, float, int64_t,  \
                                          bool, T*);                         \
  template const char* RoiAlignBackward<T>(                                  \
      void*, const T*, const T*, int64_t, int64_t, int64_t, int64_t,         \
      int64_t, int64_t, int64_t, float, int64_t, bool, T*);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace cuda
}  // namespace detect
