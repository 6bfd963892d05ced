// nvcc-only helpers for the *_cuda.cu launchers: grid-stride loops and the
// launch shape. No TensorFlow, Eigen or CUDA-runtime types cross into the
// g++ side; launchers return nullptr or a static CUDA error string.
#ifndef DETECT_CSRC_COMMON_CUDA_LAUNCH_H_
#define DETECT_CSRC_COMMON_CUDA_LAUNCH_H_

#include <cuda_runtime.h>
#include <stdint.h>

namespace detect {
namespace cuda {

constexpr int kThreads = 256;

// Enough blocks to cover n with kThreads each, capped; kernels use
// grid-stride loops so any cap is correct.
inline int BlocksFor(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65535 * 8 ? (blocks < 1 ? 1 : blocks)
                                             : 65535 * 8);
}

inline cudaStream_t AsStream(void* stream) {
  return reinterpret_cast<cudaStream_t>(stream);
}

// nullptr when the last launch succeeded, else CUDA's message.
inline const char* LastError() {
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace cuda
}  // namespace detect

#define DETECT_CUDA_LOOP(i, n)                                        \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) +    \
                   threadIdx.x;                                        \
       i < (n); i += static_cast<int64_t>(blockDim.x) * gridDim.x)

#endif  // DETECT_CSRC_COMMON_CUDA_LAUNCH_H_
