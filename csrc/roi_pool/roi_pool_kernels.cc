// CPU kernels of RoI max pooling (pixel model: roi_pool_geometry.h).
#include <algorithm>

#include "common/cpu_simd.h"
#include "roi_pool/roi_pool_geometry.h"
#include "roi_pool/roi_pool_op.h"

namespace detect {

template <typename T>
struct RoiPoolForward<CpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiPoolAttrs& a,
                        const tf::Tensor& features, const tf::Tensor& rois,
                        tf::Tensor* output, tf::Tensor* argmax) {
    const int64_t H = features.dim_size(1), W = features.dim_size(2),
                  C = features.dim_size(3);
    const int64_t PH = a.pooled_height, PW = a.pooled_width;
    const T* f = features.flat<T>().data();
    const T* r = rois.flat<T>().data();
    T* out = output->flat<T>().data();
    int32_t* arg = argmax->flat<int32_t>().data();
    const int64_t bins = rois.dim_size(0) * PH * PW;
    // Each unit is one (roi, ph, pw) bin over all channels.
    CpuParallelFor(ctx, bins, C * 8 * (H * W / (PH * PW) + 1), [&](int64_t b0,
                                                                int64_t b1) {
      for (int64_t bin = b0; bin < b1; ++bin) {
        const int64_t pw = bin % PW, ph = (bin / PW) % PH, k = bin / (PW * PH);
        const T* roi = r + 5 * k;
        const RoiPoolBin g = RoiPoolBinAt(roi, a.spatial_scale, ph, pw, H, W, PH, PW);
        T* o = out + bin * C;
        int32_t* am = arg + bin * C;
        if (g.empty()) {
          std::fill(o, o + C, T(0));
          std::fill(am, am + C, -1);
          continue;
        }
        const T* fn = f + static_cast<int64_t>(roi[0]) * H * W * C;
        // The first cell seeds the maximum; later cells must be strictly
        // greater, so ties go to the first cell in row-major order.
        const int32_t first = static_cast<int32_t>(g.hstart * W + g.wstart);
        std::copy(fn + first * C, fn + first * C + C, o);
        std::fill(am, am + C, first);
        for (int64_t h = g.hstart; h < g.hend; ++h) {
          for (int64_t w = g.wstart; w < g.wend; ++w) {
            const int32_t cell = static_cast<int32_t>(h * W + w);
            simd::MaxArgmax(C, fn + cell * C, cell, o, am);
          }
        }
      }
    });
    return tf::OkStatus();
  }
};

template <typename T>
struct RoiPoolBackward<CpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const RoiPoolAttrs& a,
                        const tf::Tensor& rois, const tf::Tensor& argmax,
                        const tf::Tensor& grad, tf::Tensor* grad_features) {
    const int64_t H = grad_features->dim_size(1),
                  W = grad_features->dim_size(2),
                  C = grad_features->dim_size(3);
    const int64_t K = rois.dim_size(0), PHW = a.pooled_height * a.pooled_width;
    const T* r = rois.flat<T>().data();
    const int32_t* arg = argmax.flat<int32_t>().data();
    const T* g = grad.flat<T>().data();
    T* gf = grad_features->flat<T>().data();
    std::fill(gf, gf + grad_features->NumElements(), T(0));
    const ChannelBlocks blocks(ctx, C);
    // argmax may come from a caller rather than the forward op: any value
    // outside [0, H * W) is skipped, never dereferenced.
    const int64_t cells = H * W;
    CpuParallelFor(ctx, blocks.count, K * PHW * blocks.size * 4,
                   [&](int64_t b0, int64_t b1) {
      const int64_t c0 = b0 * blocks.size, c1 = std::min(C, b1 * blocks.size);
      for (int64_t k = 0; k < K; ++k) {
        T* gn = gf + static_cast<int64_t>(r[5 * k]) * cells * C;
        for (int64_t p = 0; p < PHW; ++p) {
          const int64_t base = (k * PHW + p) * C;
          for (int64_t c = c0; c < c1; ++c) {
            const int32_t cell = arg[base + c];
            if (cell >= 0 && cell < cells) gn[cell * C + c] += g[base + c];
          }
        }
      }
    });
    return tf::OkStatus();
  }
};

#define REGISTER_CPU(T)                                                   \
  REGISTER_KERNEL_BUILDER(                                                \
      Name("DetectRoiPool").Device(tf::DEVICE_CPU).TypeConstraint<T>("T"), \
      RoiPoolOp<CpuTag, T>);                                              \
  REGISTER_KERNEL_BUILDER(Name("DetectRoiPoolGrad")                       \
                              .Device(tf::DEVICE_CPU)                     \
                              .TypeConstraint<T>("T"),                    \
                          RoiPoolGradOp<CpuTag, T>);
REGISTER_CPU(float)
REGISTER_CPU(double)
#undef REGISTER_CPU

}  // namespace detect
