// Channel loops of the CPU kernels, compiled twice: for AVX2 + FMA and for
// the baseline x86-64 ISA, picked at load time by the CPU (GCC
// target_clones). NHWC puts channels last, so every loop here is contiguous.
#ifndef DETECT_CSRC_COMMON_CPU_SIMD_H_
#define DETECT_CSRC_COMMON_CPU_SIMD_H_

#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define DETECT_MULTIVERSION __attribute__((target_clones("arch=haswell", "default")))
#else
#define DETECT_MULTIVERSION
#endif

namespace detect {
namespace simd {

// Plain overloads (no templates: target_clones does not apply to them).
#define DETECT_SIMD_KERNELS(T)                                                 \
  /* acc[c] += w1 p1[c] + w2 p2[c] + w3 p3[c] + w4 p4[c] */                    \
  DETECT_MULTIVERSION inline void Bilinear(                                    \
      int64_t n, T w1, const T* __restrict p1, T w2, const T* __restrict p2,   \
      T w3, const T* __restrict p3, T w4, const T* __restrict p4,              \
      T* __restrict acc) {                                                     \
    for (int64_t c = 0; c < n; ++c) {                                          \
      acc[c] += w1 * p1[c] + w2 * p2[c] + w3 * p3[c] + w4 * p4[c];            \
    }                                                                          \
  }                                                                            \
  /* y[c] += w x[c] */                                                         \
  DETECT_MULTIVERSION inline void Axpy(int64_t n, T w, const T* __restrict x,  \
                                       T* __restrict y) {                      \
    for (int64_t c = 0; c < n; ++c) y[c] += w * x[c];                          \
  }                                                                            \
  /* out[c] = s acc[c] */                                                      \
  DETECT_MULTIVERSION inline void Scale(int64_t n, T s,                        \
                                        const T* __restrict acc,               \
                                        T* __restrict out) {                   \
    for (int64_t c = 0; c < n; ++c) out[c] = s * acc[c];                       \
  }                                                                            \
  /* Running max with its cell: strict '>', so ties keep the earlier cell. */  \
  DETECT_MULTIVERSION inline void MaxArgmax(int64_t n, const T* __restrict v,  \
                                            int32_t cell, T* __restrict best,  \
                                            int32_t* __restrict arg) {         \
    /* A select through an integer mask, which GCC vectorizes even for SSE2 */ \
    for (int64_t c = 0; c < n; ++c) {                                          \
      const T b = best[c], x = v[c];                                           \
      const int32_t take = -static_cast<int32_t>(x > b);                       \
      best[c] = x > b ? x : b;                                                 \
      arg[c] = (arg[c] & ~take) | (cell & take);                               \
    }                                                                          \
  }
DETECT_SIMD_KERNELS(float)
DETECT_SIMD_KERNELS(double)
#undef DETECT_SIMD_KERNELS

}  // namespace simd
}  // namespace detect

#endif  // DETECT_CSRC_COMMON_CPU_SIMD_H_
