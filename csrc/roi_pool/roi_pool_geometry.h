// RoI max pooling (Fast R-CNN, Girshick 2015) pixel model, shared by the CPU
// and CUDA kernels.
//
// Caffe's roi_pooling_layer rules, kept bit for bit:
//   start = round(x1 * scale), end = round(x2 * scale)   C round: halves away
//                                                        from zero
//   width = max(end - start + 1, 1)                      inclusive end
//   bin   = width / PW                                   float32, always
//   cells [floor(p * bin), ceil((p + 1) * bin)) + start, clipped to [0, W]
// A bin whose clipped range is empty outputs 0 and has argmax -1 (no
// gradient). Ties go to the first cell in row-major order (strict >).
// The arithmetic is float32 for float and double inputs alike, so the
// float64 op (used for gradient checks) has exactly the float32 bins.
#ifndef DETECT_CSRC_ROI_POOL_ROI_POOL_GEOMETRY_H_
#define DETECT_CSRC_ROI_POOL_ROI_POOL_GEOMETRY_H_

#include "common/hostdevice.h"

namespace detect {

struct RoiPoolBin {
  int64_t hstart, hend, wstart, wend;  // half-open cell ranges, clipped
  DETECT_HD bool empty() const { return hend <= hstart || wend <= wstart; }
};

// roi points at (batch_index, x1, y1, x2, y2) in input-image pixels.
template <typename T>
DETECT_HD RoiPoolBin RoiPoolBinAt(const T* roi, float spatial_scale, int64_t ph,
                                  int64_t pw, int64_t height, int64_t width,
                                  int64_t pooled_height, int64_t pooled_width) {
  const int64_t start_w = ToInt64(Round(static_cast<float>(roi[1]) * spatial_scale));
  const int64_t start_h = ToInt64(Round(static_cast<float>(roi[2]) * spatial_scale));
  const int64_t end_w = ToInt64(Round(static_cast<float>(roi[3]) * spatial_scale));
  const int64_t end_h = ToInt64(Round(static_cast<float>(roi[4]) * spatial_scale));
  const int64_t roi_w = Max<int64_t>(end_w - start_w + 1, 1);
  const int64_t roi_h = Max<int64_t>(end_h - start_h + 1, 1);
  const float bin_h = static_cast<float>(roi_h) / static_cast<float>(pooled_height);
  const float bin_w = static_cast<float>(roi_w) / static_cast<float>(pooled_width);
  RoiPoolBin b;
  b.hstart = ToInt64(Floor(static_cast<float>(ph) * bin_h)) + start_h;
  b.wstart = ToInt64(Floor(static_cast<float>(pw) * bin_w)) + start_w;
  b.hend = ToInt64(Ceil(static_cast<float>(ph + 1) * bin_h)) + start_h;
  b.wend = ToInt64(Ceil(static_cast<float>(pw + 1) * bin_w)) + start_w;
  b.hstart = Min<int64_t>(Max<int64_t>(b.hstart, 0), height);
  b.hend = Min<int64_t>(Max<int64_t>(b.hend, 0), height);
  b.wstart = Min<int64_t>(Max<int64_t>(b.wstart, 0), width);
  b.wend = Min<int64_t>(Max<int64_t>(b.wend, 0), width);
  return b;
}

}  // namespace detect

#endif  // DETECT_CSRC_ROI_POOL_ROI_POOL_GEOMETRY_H_
