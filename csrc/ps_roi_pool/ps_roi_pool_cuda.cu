// CUDA kernels of position-sensitive RoI pooling (pixel model:
// ps_roi_pool_geometry.h).
#include "common/cuda_launch.h"
#include "ps_roi_pool/ps_roi_pool_cuda.h"
#include "ps_roi_pool/ps_roi_pool_geometry.h"

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
    const int64_t c = idx % D;
    const int64_t j = (idx / D) % G;
    const int64_t i = (idx / (D * G)) % G;
    const int64_t k = idx / (D * G * G);
    const T* roi = rois + 5 * k;
    const PsRoiPoolBin b = PsRoiPoolBinAt(roi, scale, i, j, G, H, W);
    if (b.empty()) {
      output[idx] = T(0);
      continue;
    }
    const int64_t C = D * G * G;
    const T* f = features + static_cast<int64_t>(roi[0]) * H * W * C +
                 PsRoiPoolChannel(c, i, j, G);
    T sum = T(0);
    for (int64_t h = b.hstart; h < b.hend; ++h) {
      for (int64_t w = b.wstart; w < b.wend; ++w) sum += f[(h * W + w) * C];
    }
    output[idx] = sum / static_cast<T>(b.area());
  }
}

// One thread per feature element (n, h, w, ch): ch belongs to exactly one
// (c, i, j); sums grad[k, i, j, c] / area over the RoIs whose bin (i, j)
// holds the cell, in RoI order.
template <typename T>
__global__ void PsRoiPoolBackwardKernel(const T* grad, const T* rois,
                                        int64_t total, int64_t K, int64_t H,
                                        int64_t W, int64_t D, int64_t G,
                                        T scale, T* grad_features) {
  DETECT_CUDA_LOOP(idx, total) {
    const int64_t C = D * G * G;
    const int64_t ch = idx % C;
    const int64_t w = (idx / C) % W;
    const int64_t h = (idx / (C * W)) % H;
    const int64_t n = idx / (C * W * H);
    const int64_t j = ch % G, i = (ch / G) % G, c = ch / (G * G);
    T sum = T(0);
    for (int64_t k = 0; k < K; ++k) {
      const T* roi = rois + 5 * k;
      if (static_cast<int64_t>(roi[0]) != n) continue;
      const PsRoiPoolBin b = PsRoiPoolBinAt(roi, scale, i, j, G, H, W);
      if (h < b.hstart || h >= b.hend || w < b.wstart || w >= b.wend) continue;
      sum += grad[((k * G + i) * G + j) * D + c] / static_cast<T>(b.area());
    }
    grad_features[idx] = sum;
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
