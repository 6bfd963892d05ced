// The CUDA kernels' per-element bodies (csrc/*/*_elements.h) run serially on
// the host, behind the same extern "C" entry points as harness.cu (the
// stream argument is ignored). The tests compare them with the NumPy
// references, so the GPU code's arithmetic is checked on machines without a
// GPU; only the launch and memory plumbing of the .cu files is left to a GPU.
#include "ps_roi_pool/ps_roi_pool_elements.h"
#include "roi_align/roi_align_elements.h"
#include "roi_pool/roi_pool_elements.h"

using namespace detect;  // NOLINT

#define DETECT_HOST_HARNESS(T, S)                                               \
  extern "C" const char* roi_pool_forward_##S(                                 \
      void*, const T* f, const T* r, int64_t K, int64_t H, int64_t W,          \
      int64_t C, int64_t PH, int64_t PW, float scale, T* out, int32_t* am) {   \
    for (int64_t i = 0; i < K * PH * PW * C; ++i)                              \
      RoiPoolForwardAt(f, r, i, H, W, C, PH, PW, scale, out, am);              \
    return nullptr;                                                             \
  }                                                                             \
  extern "C" const char* roi_pool_backward_##S(                                \
      void*, const T* g, const T* r, const int32_t* am, int64_t N, int64_t K,  \
      int64_t H, int64_t W, int64_t C, int64_t PH, int64_t PW, float scale,    \
      T* gf) {                                                                  \
    for (int64_t i = 0; i < N * H * W * C; ++i)                                \
      gf[i] = RoiPoolGradAt(g, r, am, i, K, H, W, C, PH, PW, scale);           \
    return nullptr;                                                             \
  }                                                                             \
  extern "C" const char* ps_roi_pool_forward_##S(                              \
      void*, const T* f, const T* r, int64_t K, int64_t H, int64_t W,          \
      int64_t D, int64_t G, float scale, T* out) {                              \
    for (int64_t i = 0; i < K * G * G * D; ++i)                                \
      out[i] = PsRoiPoolForwardAt(f, r, i, H, W, D, G, static_cast<T>(scale)); \
    return nullptr;                                                             \
  }                                                                             \
  extern "C" const char* ps_roi_pool_backward_##S(                             \
      void*, const T* g, const T* r, int64_t N, int64_t K, int64_t H,          \
      int64_t W, int64_t D, int64_t G, float scale, T* gf) {                    \
    for (int64_t i = 0; i < N * H * W * D * G * G; ++i)                        \
      gf[i] = PsRoiPoolGradAt(g, r, i, K, H, W, D, G, static_cast<T>(scale));  \
    return nullptr;                                                             \
  }                                                                             \
  extern "C" const char* roi_align_forward_##S(                                \
      void*, const T* f, const T* r, int64_t K, int64_t H, int64_t W,          \
      int64_t C, int64_t PH, int64_t PW, float scale, int64_t ratio,           \
      bool aligned, T* out) {                                                   \
    for (int64_t i = 0; i < K * PH * PW * C; ++i)                              \
      out[i] = RoiAlignForwardAt(f, r, i, H, W, C, PH, PW,                     \
                                 static_cast<T>(scale), ratio, aligned);        \
    return nullptr;                                                             \
  }                                                                             \
  extern "C" const char* roi_align_backward_##S(                               \
      void*, const T* g, const T* r, int64_t N, int64_t K, int64_t H,          \
      int64_t W, int64_t C, int64_t PH, int64_t PW, float scale,               \
      int64_t ratio, bool aligned, T* gf) {                                     \
    for (int64_t i = 0; i < N * H * W * C; ++i)                                \
      gf[i] = RoiAlignGradAt(g, r, i, K, H, W, C, PH, PW,                      \
                             static_cast<T>(scale), ratio, aligned);            \
    return nullptr;                                                             \
  }

DETECT_HOST_HARNESS(float, f32)
DETECT_HOST_HARNESS(double, f64)
