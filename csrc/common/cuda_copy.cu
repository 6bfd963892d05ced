#include "common/cuda_copy.h"
#include "common/cuda_launch.h"

namespace detect {
namespace cuda {

const char* CopyHostToDevice(void* stream, void* dst, const void* src,
                             size_t bytes) {
  if (bytes == 0) return nullptr;
  const cudaError_t err = cudaMemcpyAsync(dst, src, bytes,
                                          cudaMemcpyHostToDevice,
                                          AsStream(stream));
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace cuda
}  // namespace detect
