// Helpers shared by the CPU (g++) and CUDA (nvcc) sides of every RoI op.
//
// The geometry of each op (which feature cells a bin reads, with which
// weights) lives in an inline DETECT_HD function in the op's *_geometry.h,
// so the CPU kernel that the tests check and the CUDA kernel run the same
// arithmetic. Nothing here includes TensorFlow, Eigen or CUDA headers.
#ifndef DETECT_CSRC_COMMON_HOSTDEVICE_H_
#define DETECT_CSRC_COMMON_HOSTDEVICE_H_

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define DETECT_HD __host__ __device__ __forceinline__
#else
#define DETECT_HD inline
#endif

namespace detect {

// Typed math so float stays float on both compilers (no silent promotion).
DETECT_HD float Floor(float v) { return floorf(v); }
DETECT_HD double Floor(double v) { return floor(v); }
DETECT_HD float Ceil(float v) { return ceilf(v); }
DETECT_HD double Ceil(double v) { return ceil(v); }
// C round(): halves away from zero (Caffe's rule), unlike tf.round / rint.
DETECT_HD float Round(float v) { return roundf(v); }
DETECT_HD double Round(double v) { return round(v); }

template <typename T>
DETECT_HD T Min(T a, T b) { return a < b ? a : b; }
template <typename T>
DETECT_HD T Max(T a, T b) { return a > b ? a : b; }

// Converts a (possibly huge) floating value to int64 without undefined
// behaviour: the value is clamped to +-2^40 first. RoI coordinates are
// validated as finite before any kernel runs; clamping only matters for
// absurd magnitudes, which then behave like RoIs far outside the map.
template <typename T>
DETECT_HD int64_t ToInt64(T v) {
  const T lim = static_cast<T>(1099511627776.0);  // 2^40
  v = v < -lim ? -lim : (v > lim ? lim : v);
  return static_cast<int64_t>(v);
}

}  // namespace detect

#endif  // DETECT_CSRC_COMMON_HOSTDEVICE_H_
