// One output (forward) or one feature-gradient element (backward) of
// RoIAlign: the bodies of the CUDA kernels in roi_align_cuda.cu, host/device
// so that tests can run them on the CPU (tools/cuda_check/host_elements.cc).
#ifndef DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_ELEMENTS_H_
#define DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_ELEMENTS_H_

#include "roi_align/roi_align_geometry.h"

namespace detect {

// Output element idx of [K, PH, PW, C] (c fastest).
template <typename T>
DETECT_HD T RoiAlignForwardAt(const T* features, const T* rois, int64_t idx,
                              int64_t H, int64_t W, int64_t C, int64_t PH,
                              int64_t PW, T scale, int64_t sampling_ratio,
                              bool aligned) {
  const int64_t c = idx % C;
  const int64_t pw = (idx / C) % PW;
  const int64_t ph = (idx / (C * PW)) % PH;
  const int64_t k = idx / (C * PW * PH);
  const T* roi = rois + 5 * k;
  const RoiAlignBox<T> box =
      RoiAlignBoxOf(roi, scale, PH, PW, sampling_ratio, aligned);
  const T* f = features + static_cast<int64_t>(roi[0]) * H * W * C + c;
  int64_t iy0, iy1, ix0, ix1;
  RoiAlignSampleRange(box.start_h, box.bin_h, box.grid_h, ph, H, &iy0, &iy1);
  RoiAlignSampleRange(box.start_w, box.bin_w, box.grid_w, pw, W, &ix0, &ix1);
  T sum = T(0);
  for (int64_t iy = iy0; iy < iy1; ++iy) {
    const AxisWeights<T> ay = BilinearAxis(
        RoiAlignSample(box.start_h, box.bin_h, box.grid_h, ph, iy), H);
    for (int64_t ix = ix0; ix < ix1; ++ix) {
      const AxisWeights<T> ax = BilinearAxis(
          RoiAlignSample(box.start_w, box.bin_w, box.grid_w, pw, ix), W);
      sum += ay.w_lo * ax.w_lo * f[(ay.lo * W + ax.lo) * C] +
             ay.w_lo * ax.w_hi * f[(ay.lo * W + ax.hi) * C] +
             ay.w_hi * ax.w_lo * f[(ay.hi * W + ax.lo) * C] +
             ay.w_hi * ax.w_hi * f[(ay.hi * W + ax.hi) * C];
    }
  }
  return sum * box.inv_count;
}

// Feature-gradient element idx of [N, H, W, C]. For each RoI of image n in
// index order, it adds grad * weight / count over the bins whose samples
// touch the cell: the transpose of the forward, summed in a fixed order.
template <typename T>
DETECT_HD T RoiAlignGradAt(const T* grad, const T* rois, int64_t idx,
                           int64_t K, int64_t H, int64_t W, int64_t C,
                           int64_t PH, int64_t PW, T scale,
                           int64_t sampling_ratio, bool aligned) {
  const int64_t c = idx % C;
  const int64_t w = (idx / C) % W;
  const int64_t h = (idx / (C * W)) % H;
  const int64_t n = idx / (C * W * H);
  T sum = T(0);
  for (int64_t k = 0; k < K; ++k) {
    const T* roi = rois + 5 * k;
    if (static_cast<int64_t>(roi[0]) != n) continue;
    const RoiAlignBox<T> box =
        RoiAlignBoxOf(roi, scale, PH, PW, sampling_ratio, aligned);
    if (box.grid_h == 0 || box.grid_w == 0) continue;
    if (!RoiAlignAxisMayTouch(box.start_h, box.bin_h, box.grid_h, PH, h) ||
        !RoiAlignAxisMayTouch(box.start_w, box.bin_w, box.grid_w, PW, w)) {
      continue;
    }
    // The weights are separable: cell (h, w) gets, from bin (ph, pw),
    // (sum over iy of its row weight) * (sum over ix of its column weight).
    for (int64_t ph = 0; ph < PH; ++ph) {
      const T wy =
          RoiAlignAxisWeight(box.start_h, box.bin_h, box.grid_h, ph, H, h);
      if (wy == T(0)) continue;
      for (int64_t pw = 0; pw < PW; ++pw) {
        const T wx =
            RoiAlignAxisWeight(box.start_w, box.bin_w, box.grid_w, pw, W, w);
        if (wx == T(0)) continue;
        sum += grad[((k * PH + ph) * PW + pw) * C + c] * wy * wx *
               box.inv_count;
      }
    }
  }
  return sum;
}

}  // namespace detect

#endif  // DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_ELEMENTS_H_
