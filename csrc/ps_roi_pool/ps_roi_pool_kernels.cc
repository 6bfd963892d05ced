// CPU kernels of position-sensitive RoI pooling (pixel model:
// ps_roi_pool_geometry.h).
#include <algorithm>

#include "ps_roi_pool/ps_roi_pool_geometry.h"
#include "ps_roi_pool/ps_roi_pool_op.h"

namespace detect {

template <typename T>
struct PsRoiPoolForward<CpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const PsRoiPoolAttrs& a,
                        const tf::Tensor& features, const tf::Tensor& rois,
                        tf::Tensor* output) {
    const int64_t H = features.dim_size(1), W = features.dim_size(2),
                  C = features.dim_size(3);
    const int64_t G = a.group_size, D = a.output_dim;
    const T scale = static_cast<T>(a.spatial_scale);
    const T* f = features.flat<T>().data();
    const T* r = rois.flat<T>().data();
    T* out = output->flat<T>().data();
    // Each unit is one (roi, i, j) bin over all output_dim channels.
    CpuParallelFor(ctx, rois.dim_size(0) * G * G, D * 8 * (H * W / (G * G) + 1),
                   [&](int64_t b0, int64_t b1) {
      for (int64_t bin = b0; bin < b1; ++bin) {
        const int64_t j = bin % G, i = (bin / G) % G, k = bin / (G * G);
        const T* roi = r + 5 * k;
        const PsRoiPoolBin b = PsRoiPoolBinAt(roi, scale, i, j, G, H, W);
        T* o = out + bin * D;
        std::fill(o, o + D, T(0));
        if (b.empty()) continue;
        // Channel c of this bin reads input channel (c * G + i) * G + j.
        const T* fn = f + static_cast<int64_t>(roi[0]) * H * W * C +
                      PsRoiPoolChannel(0, i, j, G);
        for (int64_t h = b.hstart; h < b.hend; ++h) {
          for (int64_t w = b.wstart; w < b.wend; ++w) {
            const T* v = fn + (h * W + w) * C;
            for (int64_t c = 0; c < D; ++c) o[c] += v[c * G * G];
          }
        }
        const T inv_area = T(1) / static_cast<T>(b.area());
        for (int64_t c = 0; c < D; ++c) o[c] *= inv_area;
      }
    });
    return tf::OkStatus();
  }
};

template <typename T>
struct PsRoiPoolBackward<CpuTag, T> {
  tf::Status operator()(tf::OpKernelContext* ctx, const PsRoiPoolAttrs& a,
                        const tf::Tensor& rois, const tf::Tensor& grad,
                        tf::Tensor* grad_features) {
    const int64_t H = grad_features->dim_size(1),
                  W = grad_features->dim_size(2),
                  C = grad_features->dim_size(3);
    const int64_t K = rois.dim_size(0), G = a.group_size, D = a.output_dim;
    const T scale = static_cast<T>(a.spatial_scale);
    const T* r = rois.flat<T>().data();
    const T* g = grad.flat<T>().data();
    T* gf = grad_features->flat<T>().data();
    std::fill(gf, gf + grad_features->NumElements(), T(0));
    // Workers own blocks of output channels c, hence the disjoint input
    // channels (c * G + i) * G + j: deterministic without atomics.
    const ChannelBlocks blocks(ctx, D);
    CpuParallelFor(ctx, blocks.count, K * G * G * blocks.size * 16,
                   [&](int64_t b0, int64_t b1) {
      const int64_t c0 = b0 * blocks.size, c1 = std::min(D, b1 * blocks.size);
      for (int64_t k = 0; k < K; ++k) {
        const T* roi = r + 5 * k;
        T* gn = gf + static_cast<int64_t>(roi[0]) * H * W * C;
        for (int64_t i = 0; i < G; ++i) {
          for (int64_t j = 0; j < G; ++j) {
            const PsRoiPoolBin b = PsRoiPoolBinAt(roi, scale, i, j, G, H, W);
            if (b.empty()) continue;
            const T inv_area = T(1) / static_cast<T>(b.area());
            const T* go = g + ((k * G + i) * G + j) * D;
            const int64_t ch0 = PsRoiPoolChannel(0, i, j, G);
            for (int64_t h = b.hstart; h < b.hend; ++h) {
              for (int64_t w = b.wstart; w < b.wend; ++w) {
                T* dst = gn + (h * W + w) * C + ch0;
                for (int64_t c = c0; c < c1; ++c) {
                  dst[c * G * G] += go[c] * inv_area;
                }
              }
            }
          }
        }
      }
    });
    return tf::OkStatus();
  }
};

#define REGISTER_CPU(T)                                  \
  REGISTER_KERNEL_BUILDER(Name("DetectPsRoiPool")        \
                              .Device(tf::DEVICE_CPU)    \
                              .TypeConstraint<T>("T"),   \
                          PsRoiPoolOp<CpuTag, T>);       \
  REGISTER_KERNEL_BUILDER(Name("DetectPsRoiPoolGrad")    \
                              .Device(tf::DEVICE_CPU)    \
                              .TypeConstraint<T>("T"),   \
                          PsRoiPoolGradOp<CpuTag, T>);
REGISTER_CPU(float)
REGISTER_CPU(double)
#undef REGISTER_CPU

}  // namespace detect
