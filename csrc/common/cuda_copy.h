// Host-to-device copy for the validated RoIs (defined in cuda_copy.cu).
#ifndef DETECT_CSRC_COMMON_CUDA_COPY_H_
#define DETECT_CSRC_COMMON_CUDA_COPY_H_

#include <stddef.h>

namespace detect {
namespace cuda {

// Queues a copy of `bytes` from pageable host memory on `stream`; returns
// once the source may be freed. nullptr on success, else CUDA's message.
const char* CopyHostToDevice(void* stream, void* dst, const void* src,
                             size_t bytes);

}  // namespace cuda
}  // namespace detect

#endif  // DETECT_CSRC_COMMON_CUDA_COPY_H_
