// Position-sensitive RoI average pooling (R-FCN, Dai et al. 2016) pixel
// model, shared by the CPU and CUDA kernels.
//
// R-FCN's original psroi_pooling_layer rules:
//   corners rounded in image pixels (C round), then
//   start = round(x1) * scale, end = (round(x2) + 1) * scale
//   size  = max(end - start, 0.1)                  at least 0.1 cell
//   bin   = size / group_size
//   edges floor(start + p * bin), ceil(start + (p + 1) * bin), clipped to
//   [0, W]; the output is the mean over the bin, 0 for an empty bin.
// Channels: output channel c at bin (i, j) reads input channel
//   (c * group_size + i) * group_size + j.
// The arithmetic is in T (float or double).
#ifndef DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_GEOMETRY_H_
#define DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_GEOMETRY_H_

#include "common/hostdevice.h"

namespace detect {

struct PsRoiPoolBin {
  int64_t hstart, hend, wstart, wend;  // half-open cell ranges, clipped
  DETECT_HD bool empty() const { return hend <= hstart || wend <= wstart; }
  DETECT_HD int64_t area() const { return (hend - hstart) * (wend - wstart); }
};

// roi points at (batch_index, x1, y1, x2, y2) in input-image pixels.
template <typename T>
DETECT_HD PsRoiPoolBin PsRoiPoolBinAt(const T* roi, T spatial_scale, int64_t i,
                                      int64_t j, int64_t group_size,
                                      int64_t height, int64_t width) {
  const T start_w = Round(roi[1]) * spatial_scale;
  const T start_h = Round(roi[2]) * spatial_scale;
  const T end_w = (Round(roi[3]) + T(1)) * spatial_scale;
  const T end_h = (Round(roi[4]) + T(1)) * spatial_scale;
  const T roi_w = Max<T>(end_w - start_w, T(0.1));
  const T roi_h = Max<T>(end_h - start_h, T(0.1));
  const T bin_h = roi_h / static_cast<T>(group_size);
  const T bin_w = roi_w / static_cast<T>(group_size);
  PsRoiPoolBin b;
  b.hstart = ToInt64(Floor(static_cast<T>(i) * bin_h + start_h));
  b.wstart = ToInt64(Floor(static_cast<T>(j) * bin_w + start_w));
  b.hend = ToInt64(Ceil(static_cast<T>(i + 1) * bin_h + start_h));
  b.wend = ToInt64(Ceil(static_cast<T>(j + 1) * bin_w + start_w));
  b.hstart = Min<int64_t>(Max<int64_t>(b.hstart, 0), height);
  b.hend = Min<int64_t>(Max<int64_t>(b.hend, 0), height);
  b.wstart = Min<int64_t>(Max<int64_t>(b.wstart, 0), width);
  b.wend = Min<int64_t>(Max<int64_t>(b.wend, 0), width);
  return b;
}

// Input channel read by output channel c at bin (i, j).
DETECT_HD int64_t PsRoiPoolChannel(int64_t c, int64_t i, int64_t j,
                                   int64_t group_size) {
  return (c * group_size + i) * group_size + j;
}

}  // namespace detect

#endif  // DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_GEOMETRY_H_
