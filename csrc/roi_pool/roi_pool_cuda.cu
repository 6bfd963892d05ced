// CUDA kernels of RoI max pooling (pixel model: roi_pool_geometry.h).
#include "common/cuda_launch.h"
#include "roi_pool/roi_pool_cuda.h"
#include "roi_pool/roi_pool_geometry.h"

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
    const int64_t c = idx % C;
    const int64_t pw = (idx / C) % PW;
    const int64_t ph = (idx / (C * PW)) % PH;
    const int64_t k = idx / (C * PW * PH);
    const T* roi = rois + 5 * k;
    const RoiPoolBin b = RoiPoolBinAt(roi, scale, ph, pw, H, W, PH, PW);
    if (b.empty()) {
      output[idx] = T(0);
      argmax[idx] = -1;
      continue;
    }
    const T* f = features + static_cast<int64_t>(roi[0]) * H * W * C + c;
    int64_t best = b.hstart * W + b.wstart;
    T best_v = f[best * C];
    for (int64_t h = b.hstart; h < b.hend; ++h) {
      for (int64_t w = b.wstart; w < b.wend; ++w) {
        const int64_t cell = h * W + w;
        const T v = f[cell * C];
        if (v > best_v) {
          best_v = v;
          best = cell;
        }
      }
    }
    output[idx] = best_v;
    argmax[idx] = static_cast<int32_t>(best);
  }
}

// One thread per feature element (n, h, w, c): sums grad over every
// (roi, bin) whose argmax is this cell, RoIs in index order.
template <typename T>
__global__ void RoiPoolBackwardKernel(const T* grad, const T* rois,
                                      const int32_t* argmax, int64_t total,
                                      int64_t K, int64_t H, int64_t W,
                                      int64_t C, int64_t PH, int64_t PW,
                                      float scale, T* grad_features) {
  DETECT_CUDA_LOOP(idx, total) {
    const int64_t c = idx % C;
    const int64_t w = (idx / C) % W;
    const int64_t h = (idx / (C * W)) % H;
    const int64_t n = idx / (C * W * H);
    const int32_t cell = static_cast<int32_t>(h * W + w);
    T sum = T(0);
    for (int64_t k = 0; k < K; ++k) {
      const T* roi = rois + 5 * k;
      if (static_cast<int64_t>(roi[0]) != n) continue;
      // The clipped extent of the whole RoI: skip RoIs that miss the cell.
      const RoiPoolBin first = RoiPoolBinAt(roi, scale, 0, 0, H, W, PH, PW);
      const RoiPoolBin last =
          RoiPoolBinAt(roi, scale, PH - 1, PW - 1, H, W, PH, PW);
      if (h < first.hstart || h >= last.hend || w < first.wstart ||
          w >= last.wend) {
        continue;
      }
      for (int64_t ph = 0; ph < PH; ++ph) {
        const RoiPoolBin rb = RoiPoolBinAt(roi, scale, ph, 0, H, W, PH, PW);
        if (h < rb.hstart || h >= rb.hend) continue;
        for (int64_t pw = 0; pw < PW; ++pw) {
          const RoiPoolBin cb = RoiPoolBinAt(roi, scale, 0, pw, H, W, PH, PW);
          if (w < cb.wstart || w >= cb.wend) continue;
          const int64_t o = ((k * PH + ph) * PW + pw) * C + c;
          if (argmax[o] == cell) sum += grad[o];
        }
      }
    }
    grad_features[idx] = sum;
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
