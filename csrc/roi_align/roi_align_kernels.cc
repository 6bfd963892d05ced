// CPU kernels of RoIAlign (pixel model: roi_align_geometry.h). The bilinear
// weights of a sample are computed once and shared by all channels, which
// are contiguous in NHWC.
#include <algorithm>
#include <vector>

#include "common/cpu_simd.h"
#include "roi_align/roi_align_geometry.h"
#include "roi_align/roi_align_op.h"

namespace detect {

template <typename T>
struct RoiAlignForward<CpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiAlignAttrs& a,
                        const tf::Tensor& features, const tf::Tensor& rois,
                        tf::Tensor* output) {
    const int64_t H = features.dim_size(1), W = features.dim_size(2),
                  C = features.dim_size(3);
    const int64_t PH = a.pooled_height, PW = a.pooled_width;
    const T scale = static_cast<T>(a.spatial_scale);
    const T* f = features.flat<T>().data();
    const T* r = rois.flat<T>().data();
    T* out = output->flat<T>().data();
    const int64_t samples = a.sampling_ratio > 0
                                ? a.sampling_ratio * a.sampling_ratio
                                : 4;
    // Each unit is one (roi, ph, pw) bin over all channels.
    CpuParallelFor(ctx, rois.dim_size(0) * PH * PW, C * samples * 8,
                   [&](int64_t b0, int64_t b1) {
      // The sum stays in this L1-sized buffer; the output is written once.
      std::vector<T> acc(C);
      for (int64_t bin = b0; bin < b1; ++bin) {
        const int64_t pw = bin % PW, ph = (bin / PW) % PH, k = bin / (PW * PH);
        const T* roi = r + 5 * k;
        const RoiAlignBox<T> box =
            RoiAlignBoxOf(roi, scale, PH, PW, a.sampling_ratio, a.aligned);
        const T* fn = f + static_cast<int64_t>(roi[0]) * H * W * C;
        std::fill(acc.begin(), acc.end(), T(0));
        int64_t iy0, iy1, ix0, ix1;
        RoiAlignSampleRange(box.start_h, box.bin_h, box.grid_h, ph, H, &iy0, &iy1);
        RoiAlignSampleRange(box.start_w, box.bin_w, box.grid_w, pw, W, &ix0, &ix1);
        for (int64_t iy = iy0; iy < iy1; ++iy) {
          const AxisWeights<T> ay = BilinearAxis(
              RoiAlignSample(box.start_h, box.bin_h, box.grid_h, ph, iy), H);
          for (int64_t ix = ix0; ix < ix1; ++ix) {
            const AxisWeights<T> ax = BilinearAxis(
                RoiAlignSample(box.start_w, box.bin_w, box.grid_w, pw, ix), W);
            const T w1 = ay.w_lo * ax.w_lo, w2 = ay.w_lo * ax.w_hi,
                    w3 = ay.w_hi * ax.w_lo, w4 = ay.w_hi * ax.w_hi;
            if (w1 == T(0) && w2 == T(0) && w3 == T(0) && w4 == T(0)) continue;
            const T* p1 = fn + (ay.lo * W + ax.lo) * C;
            const T* p2 = fn + (ay.lo * W + ax.hi) * C;
            const T* p3 = fn + (ay.hi * W + ax.lo) * C;
            const T* p4 = fn + (ay.hi * W + ax.hi) * C;
            simd::Bilinear(C, w1, p1, w2, p2, w3, p3, w4, p4, acc.data());
          }
        }
        simd::Scale(C, box.inv_count, acc.data(), out + bin * C);
      }
    });
    return tf::OkStatus();
  }
};

template <typename T>
struct RoiAlignBackward<CpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiAlignAttrs& a,
                        const tf::Tensor& rois, const tf::Tensor& grad,
                        tf::Tensor* grad_features) {
    const int64_t H = grad_features->dim_size(1),
                  W = grad_features->dim_size(2),
                  C = grad_features->dim_size(3);
    const int64_t K = rois.dim_size(0), PH = a.pooled_height,
                  PW = a.pooled_width;
    const T scale = static_cast<T>(a.spatial_scale);
    const T* r = rois.flat<T>().data();
    const T* g = grad.flat<T>().data();
    T* gf = grad_features->flat<T>().data();
    std::fill(gf, gf + grad_features->NumElements(), T(0));
    const int64_t samples = a.sampling_ratio > 0
                                ? a.sampling_ratio * a.sampling_ratio
                                : 4;
    const ChannelBlocks blocks(ctx, C);
    CpuParallelFor(ctx, blocks.count, K * PH * PW * samples * blocks.size * 8,
                   [&](int64_t b0, int64_t b1) {
      const int64_t c0 = b0 * blocks.size, c1 = std::min(C, b1 * blocks.size);
      for (int64_t k = 0; k < K; ++k) {
        const T* roi = r + 5 * k;
        const RoiAlignBox<T> box =
            RoiAlignBoxOf(roi, scale, PH, PW, a.sampling_ratio, a.aligned);
        T* gn = gf + static_cast<int64_t>(roi[0]) * H * W * C;
        for (int64_t ph = 0; ph < PH; ++ph) {
          int64_t iy0, iy1;
          RoiAlignSampleRange(box.start_h, box.bin_h, box.grid_h, ph, H, &iy0, &iy1);
          for (int64_t iy = iy0; iy < iy1; ++iy) {
            const AxisWeights<T> ay = BilinearAxis(
                RoiAlignSample(box.start_h, box.bin_h, box.grid_h, ph, iy), H);
            if (ay.w_lo == T(0) && ay.w_hi == T(0)) continue;
            for (int64_t pw = 0; pw < PW; ++pw) {
              const T* go = g + ((k * PH + ph) * PW + pw) * C;
              int64_t ix0, ix1;
              RoiAlignSampleRange(box.start_w, box.bin_w, box.grid_w, pw, W, &ix0, &ix1);
              for (int64_t ix = ix0; ix < ix1; ++ix) {
                const AxisWeights<T> ax = BilinearAxis(
                    RoiAlignSample(box.start_w, box.bin_w, box.grid_w, pw, ix),
                    W);
                if (ax.w_lo == T(0) && ax.w_hi == T(0)) continue;
                const T w1 = ay.w_lo * ax.w_lo * box.inv_count,
                        w2 = ay.w_lo * ax.w_hi * box.inv_count,
                        w3 = ay.w_hi * ax.w_lo * box.inv_count,
                        w4 = ay.w_hi * ax.w_hi * box.inv_count;
                T* p1 = gn + (ay.lo * W + ax.lo) * C;
                T* p2 = gn + (ay.lo * W + ax.hi) * C;
                T* p3 = gn + (ay.hi * W + ax.lo) * C;
                T* p4 = gn + (ay.hi * W + ax.hi) * C;
                simd::Axpy(c1 - c0, w1, go + c0, p1 + c0);
                simd::Axpy(c1 - c0, w2, go + c0, p2 + c0);
                simd::Axpy(c1 - c0, w3, go + c0, p3 + c0);
                simd::Axpy(c1 - c0, w4, go + c0, p4 + c0);
              }
            }
          }
        }
      }
    });
    return tf::OkStatus();
  }
};

#define REGISTER_CPU(T)                                 \
  REGISTER_KERNEL_BUILDER(Name("DetectRoiAlign")        \
                              .Device(tf::DEVICE_CPU)   \
                              .TypeConstraint<T>("T"),  \
                          RoiAlignOp<CpuTag, T>);       \
  REGISTER_KERNEL_BUILDER(Name("DetectRoiAlignGrad")    \
                              .Device(tf::DEVICE_CPU)   \
                              .TypeConstraint<T>("T"),  \
                          RoiAlignGradOp<CpuTag, T>);
REGISTER_CPU(float)
REGISTER_CPU(double)
#undef REGISTER_CPU

}  // namespace detect
