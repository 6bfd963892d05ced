// extern "C" entry points over the CUDA launchers, so the kernels can be
// checked and timed without TensorFlow (e.g. from PyTorch or CuPy through
// ctypes). Built by check_cuda_kernels.py together with csrc/*/*_cuda.cu.
#include "ps_roi_pool/ps_roi_pool_cuda.h"
#include "roi_align/roi_align_cuda.h"
#include "roi_pool/roi_pool_cuda.h"

using detect::cuda::PsRoiPoolBackward;
using detect::cuda::PsRoiPoolForward;
using detect::cuda::RoiAlignBackward;
using detect::cuda::RoiAlignForward;
using detect::cuda::RoiPoolBackward;
using detect::cuda::RoiPoolForward;

#define DETECT_HARNESS(T, S)                                                  \
  extern "C" const char* roi_pool_forward_##S(                               \
      void* s, const T* f, const T* r, int64_t K, int64_t H, int64_t W,      \
      int64_t C, int64_t PH, int64_t PW, float scale, T* out, int32_t* am) { \
    return RoiPoolForward<T>(s, f, r, K, H, W, C, PH, PW, scale, out, am);   \
  }                                                                           \
  extern "C" const char* roi_pool_backward_##S(                              \
      void* s, const T* g, const T* r, const int32_t* am, int64_t N,         \
      int64_t K, int64_t H, int64_t W, int64_t C, int64_t PH, int64_t PW,    \
      float scale, T* gf) {                                                   \
    return RoiPoolBackward<T>(s, g, r, am, N, K, H, W, C, PH, PW, scale, gf); \
  }                                                                           \
  extern "C" const char* ps_roi_pool_forward_##S(                            \
      void* s, const T* f, const T* r, int64_t K, int64_t H, int64_t W,      \
      int64_t D, int64_t G, float scale, T* out) {                            \
    return PsRoiPoolForward<T>(s, f, r, K, H, W, D, G, scale, out);          \
  }                                                                           \
  extern "C" const char* ps_roi_pool_backward_##S(                           \
      void* s, const T* g, const T* r, int64_t N, int64_t K, int64_t H,      \
      int64_t W, int64_t D, int64_t G, float scale, T* gf) {                  \
    return PsRoiPoolBackward<T>(s, g, r, N, K, H, W, D, G, scale, gf);       \
  }                                                                           \
  extern "C" const char* roi_align_forward_##S(                              \
      void* s, const T* f, const T* r, int64_t K, int64_t H, int64_t W,      \
      int64_t C, int64_t PH, int64_t PW, float scale, int64_t ratio,         \
      bool aligned, T* out) {                                                 \
    return RoiAlignForward<T>(s, f, r, K, H, W, C, PH, PW, scale, ratio,     \
                              aligned, out);                                  \
  }                                                                           \
  extern "C" const char* roi_align_backward_##S(                             \
      void* s, const T* g, const T* r, int64_t N, int64_t K, int64_t H,      \
      int64_t W, int64_t C, int64_t PH, int64_t PW, float scale,             \
      int64_t ratio, bool aligned, T* gf) {                                   \
    return RoiAlignBackward<T>(s, g, r, N, K, H, W, C, PH, PW, scale, ratio, \
                               aligned, gf);                                  \
  }

DETECT_HARNESS(float, f32)
DETECT_HARNESS(double, f64)
