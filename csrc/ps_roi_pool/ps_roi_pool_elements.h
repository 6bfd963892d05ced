// One output (forward) or one feature-gradient element (backward) of
// position-sensitive RoI pooling: the bodies of the CUDA kernels in
// ps_roi_pool_cuda.cu, host/device so that tests can run them on the CPU.
#ifndef DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_ELEMENTS_H_
#define DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_ELEMENTS_H_

#include "ps_roi_pool/ps_roi_pool_geometry.h"

namespace detect {

// Output element idx of [K, G, G, D] (c fastest).
template <typename T>
DETECT_HD T PsRoiPoolForwardAt(const T* features, const T* rois, int64_t idx,
                               int64_t H, int64_t W, int64_t D, int64_t G,
                               T scale) {
  const int64_t c = idx % D;
  const int64_t j = (idx / D) % G;
  const int64_t i = (idx / (D * G)) % G;
  const int64_t k = idx / (D * G * G);
  const T* roi = rois + 5 * k;
  const PsRoiPoolBin b = PsRoiPoolBinAt(roi, scale, i, j, G, H, W);
  if (b.empty()) return T(0);
  const int64_t C = D * G * G;
  const T* f = features + static_cast<int64_t>(roi[0]) * H * W * C +
               PsRoiPoolChannel(c, i, j, G);
  T sum = T(0);
  for (int64_t h = b.hstart; h < b.hend; ++h) {
    for (int64_t w = b.wstart; w < b.wend; ++w) sum += f[(h * W + w) * C];
  }
  return sum / static_cast<T>(b.area());
}

// Feature-gradient element idx of [N, H, W, D * G * G]: channel ch belongs
// to exactly one (c, i, j); sums grad[k, i, j, c] / area over the RoIs whose
// bin (i, j) holds the cell, in RoI order.
template <typename T>
DETECT_HD T PsRoiPoolGradAt(const T* grad, const T* rois, int64_t idx,
                            int64_t K, int64_t H, int64_t W, int64_t D,
                            int64_t G, T scale) {
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
  return sum;
}

}  // namespace detect

#endif  // DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_ELEMENTS_H_
