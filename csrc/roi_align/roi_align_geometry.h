// RoIAlign (Mask R-CNN, He et al. 2017) pixel model, shared by the CPU and
// CUDA kernels. With aligned=true it is detectron2's ROIAlignV2.
//
//   x' = x * scale - 0.5 * aligned                 no rounding anywhere
//   size = x2' - x1'; clamped to >= 1 only when not aligned
//   bin  = size / pooled
//   grid = sampling_ratio, or ceil(size / pooled) when sampling_ratio <= 0
//   sample (p, i) at  x1' + p * bin + (i + 0.5) * bin / grid
//   output = sum of bilinear samples / max(grid_h * grid_w, 1)
// sampling_ratio is at most kMaxSamplingRatio (the op rejects more); the
// adaptive grid is clamped to 2^40 per side (ToInt64), and the count is
// taken in T, so it cannot overflow.
// Bilinear interpolation, per axis (the weights are separable):
//   a sample at y < -1 or y > H gives 0 (it still counts in the divisor);
//   y <= 0 clamps to 0; a sample at or past row H - 1 snaps to row H - 1.
// The arithmetic is in T (float or double).
#ifndef DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_GEOMETRY_H_
#define DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_GEOMETRY_H_

#include "common/hostdevice.h"

namespace detect {

// The largest explicit sampling_ratio (samples per bin side): 4096 samples
// per bin. The adaptive grid (sampling_ratio <= 0) needs no such limit: its
// samples are about one cell apart, so only those near the map are visited.
constexpr int64_t kMaxSamplingRatio = 64;

template <typename T>
struct RoiAlignBox {
  T start_h, start_w;  // top-left corner in feature-map cells
  T bin_h, bin_w;      // bin size in cells
  int64_t grid_h, grid_w;  // samples per bin along each axis (may be 0)
  T inv_count;             // 1 / max(grid_h * grid_w, 1)
};

// roi points at (batch_index, x1, y1, x2, y2) in input-image pixels.
template <typename T>
DETECT_HD RoiAlignBox<T> RoiAlignBoxOf(const T* roi, T spatial_scale,
                                       int64_t pooled_height,
                                       int64_t pooled_width,
                                       int64_t sampling_ratio, bool aligned) {
  const T offset = aligned ? T(0.5) : T(0);
  RoiAlignBox<T> r;
  r.start_w = roi[1] * spatial_scale - offset;
  r.start_h = roi[2] * spatial_scale - offset;
  T roi_w = roi[3] * spatial_scale - offset - r.start_w;
  T roi_h = roi[4] * spatial_scale - offset - r.start_h;
  if (!aligned) {
    roi_w = Max<T>(roi_w, T(1));
    roi_h = Max<T>(roi_h, T(1));
  }
  r.bin_h = roi_h / static_cast<T>(pooled_height);
  r.bin_w = roi_w / static_cast<T>(pooled_width);
  r.grid_h = sampling_ratio > 0 ? sampling_ratio : ToInt64(Ceil(r.bin_h));
  r.grid_w = sampling_ratio > 0 ? sampling_ratio : ToInt64(Ceil(r.bin_w));
  r.grid_h = Max<int64_t>(r.grid_h, 0);
  r.grid_w = Max<int64_t>(r.grid_w, 0);
  // grid_h * grid_w can pass 2^63 (two 2^40 adaptive grids): multiply in T.
  const T count = static_cast<T>(r.grid_h) * static_cast<T>(r.grid_w);
  r.inv_count = r.grid_h > 0 && r.grid_w > 0 ? T(1) / count : T(1);
  return r;
}

// Coordinate of sample i (of grid) in bin p along one axis.
template <typename T>
DETECT_HD T RoiAlignSample(T start, T bin, int64_t grid, int64_t p, int64_t i) {
  return start + static_cast<T>(p) * bin +
         (static_cast<T>(i) + T(0.5)) * bin / static_cast<T>(grid);
}

// The samples i in [lo, hi) of bin p that can land in [-1, n]; the others
// read 0, so skipping them changes nothing. This bounds the work of a huge
// RoI (a diverged proposal) with an adaptive grid to about the map size
// instead of the RoI size. The range is widened by two samples plus the
// rounding error of a sample's coordinate in T (RoiAlignSample), in samples;
// BilinearAxis still decides every sample exactly. That error grows with
// the RoI (~1e-7 * |coordinate| in float32), so for absurd RoIs (float32
// coordinates beyond ~1e7 map sizes) the widening is capped at n + 2 samples
// per side: samples whose exact position is farther off the map are skipped
// even where rounding in T would put them on it, and the work stays
// O(n / step + n) per bin for every dtype.
template <typename T>
DETECT_HD void RoiAlignSampleRange(T start, T bin, int64_t grid, int64_t p,
                                   int64_t n, int64_t* lo, int64_t* hi) {
  *lo = 0;
  *hi = grid;
  if (!(bin > T(0)) || grid <= 4) return;
  const double step = static_cast<double>(bin) / static_cast<double>(grid);
  const double first = static_cast<double>(start) +
                       static_cast<double>(p) * static_cast<double>(bin) +
                       0.5 * step;
  const double eps = sizeof(T) == 4 ? 1e-6 : 1e-14;
  const double rounding =
      eps * (fabs(first) + static_cast<double>(grid) * step) / step;
  const double slack = 2.0 + fmin(rounding, static_cast<double>(n) + 2.0);
  const double a = (-1.0 - first) / step - slack;
  const double b = (static_cast<double>(n) - first) / step + slack;
  const int64_t l = a <= 0.0 ? 0 : ToInt64(floor(a));
  const int64_t h = b >= static_cast<double>(grid) ? grid : ToInt64(ceil(b)) + 1;
  *lo = Min<int64_t>(l, grid);
  *hi = Max<int64_t>(Min<int64_t>(h, grid), *lo);
}

// Whether any sample of the RoI along one axis (all `pooled` bins) can read
// cell `cell`: a cheap filter for gathers, never false for a cell that a
// sample reads. The samples span [first, last] up to the rounding error of
// RoiAlignSample in T; a sample at v reads cells floor(v) and floor(v) + 1
// at most (after clamping into the map).
template <typename T>
DETECT_HD bool RoiAlignAxisMayTouch(T start, T bin, int64_t grid,
                                    int64_t pooled, int64_t cell) {
  if (grid <= 0) return false;
  const double s = static_cast<double>(start), b = static_cast<double>(bin);
  const double step = b / static_cast<double>(grid);
  const double first = s + 0.5 * step;
  const double last = s + static_cast<double>(pooled) * b - 0.5 * step;
  const double eps = sizeof(T) == 4 ? 1e-6 : 1e-14;
  const double err =
      1.0 + eps * (fabs(s) + fabs(b) * static_cast<double>(pooled));
  const double c = static_cast<double>(cell);
  return c >= floor(fmin(first, last) - err) &&
         c <= ceil(fmax(first, last) + err);
}

// One axis of the bilinear weights of a sample at coordinate v on an axis of
// n cells: the sample reads cells lo and hi with weights w_lo and w_hi. An
// out-of-range sample (v < -1 or v > n) gets both weights 0.
template <typename T>
struct AxisWeights {
  int64_t lo, hi;
  T w_lo, w_hi;
};

template <typename T>
DETECT_HD AxisWeights<T> BilinearAxis(T v, int64_t n) {
  AxisWeights<T> a;
  if (v < T(-1) || v > static_cast<T>(n)) {
    a.lo = a.hi = 0;
    a.w_lo = a.w_hi = T(0);
    return a;
  }
  if (v <= T(0)) v = T(0);
  a.lo = static_cast<int64_t>(v);
  if (a.lo >= n - 1) {
    a.lo = a.hi = n - 1;
    v = static_cast<T>(a.lo);
  } else {
    a.hi = a.lo + 1;
  }
  a.w_hi = v - static_cast<T>(a.lo);
  a.w_lo = T(1) - a.w_hi;
  return a;
}

// Total weight that a sample with axis weights a puts on cell `cell`.
template <typename T>
DETECT_HD T AxisWeightAt(const AxisWeights<T>& a, int64_t cell) {
  return (a.lo == cell ? a.w_lo : T(0)) + (a.hi == cell ? a.w_hi : T(0));
}

// Total weight that the samples of bin p put on cell `cell` of an axis of n
// cells (the transpose of one axis of the forward, used by gathers).
template <typename T>
DETECT_HD T RoiAlignAxisWeight(T start, T bin, int64_t grid, int64_t p,
                               int64_t n, int64_t cell) {
  int64_t i0, i1;
  RoiAlignSampleRange(start, bin, grid, p, n, &i0, &i1);
  T sum = T(0);
  for (int64_t i = i0; i < i1; ++i) {
    sum += AxisWeightAt(BilinearAxis(RoiAlignSample(start, bin, grid, p, i), n),
                        cell);
  }
  return sum;
}

}  // namespace detect

#endif  // DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_GEOMETRY_H_
