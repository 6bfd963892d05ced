// One output (forward) or one feature-gradient element (backward) of RoI max
// pooling: the bodies of the CUDA kernels in roi_pool_cuda.cu, host/device
// so that tests can run them on the CPU (tools/cuda_check/host_elements.cc).
#ifndef DETECT_CSRC_ROI_POOL_ROI_POOL_ELEMENTS_H_
#define DETECT_CSRC_ROI_POOL_ROI_POOL_ELEMENTS_H_

#include "roi_pool/roi_pool_geometry.h"

namespace detect {

// Output element idx of [K, PH, PW, C] (c fastest): the max and its cell.
template <typename T>
DETECT_HD void RoiPoolForwardAt(const T* features, const T* rois, int64_t idx,
                                int64_t H, int64_t W, int64_t C, int64_t PH,
                                int64_t PW, float scale, T* output,
                                int32_t* argmax) {
  const int64_t c = idx % C;
  const int64_t pw = (idx / C) % PW;
  const int64_t ph = (idx / (C * PW)) % PH;
  const int64_t k = idx / (C * PW * PH);
  const T* roi = rois + 5 * k;
  const RoiPoolBin b = RoiPoolBinAt(roi, scale, ph, pw, H, W, PH, PW);
  if (b.empty()) {
    output[idx] = T(0);
    argmax[idx] = -1;
    return;
  }
  const T* f = features + static_cast<int64_t>(roi[0]) * H * W * C + c;
  int64_t best = b.hstart * W + b.wstart;
  T best_v = f[best * C];
  for (int64_t h = b.hstart; h < b.hend; ++h) {
    for (int64_t w = b.wstart; w < b.wend; ++w) {
      const int64_t cell = h * W + w;
      const T v = f[cell * C];
      if (v > best_v) {  // strict: ties keep the first cell
        best_v = v;
        best = cell;
      }
    }
  }
  output[idx] = best_v;
  argmax[idx] = static_cast<int32_t>(best);
}

// Feature-gradient element idx of [N, H, W, C]: the sum of grad over every
// (roi, bin) whose argmax is this cell, RoIs in index order.
template <typename T>
DETECT_HD T RoiPoolGradAt(const T* grad, const T* rois, const int32_t* argmax,
                          int64_t idx, int64_t K, int64_t H, int64_t W,
                          int64_t C, int64_t PH, int64_t PW, float scale) {
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
    const RoiPoolBin last = RoiPoolBinAt(roi, scale, PH - 1, PW - 1, H, W, PH, PW);
    if (h < first.hstart || h >= last.hend || w < first.wstart || w >= last.wend) {
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
  return sum;
}

}  // namespace detect

#endif  // DETECT_CSRC_ROI_POOL_ROI_POOL_ELEMENTS_H_
