// CUDA launchers of RoI max pooling (roi_pool_cuda.cu). Plain pointers on
// the device, `stream` is a cudaStream_t; each returns nullptr or the CUDA
// error. `rois` [K, 5] must already be validated (roi_checks.h).
#ifndef DETECT_CSRC_ROI_POOL_ROI_POOL_CUDA_H_
#define DETECT_CSRC_ROI_POOL_ROI_POOL_CUDA_H_

#include <stdint.h>

namespace detect {
namespace cuda {

// features [N, H, W, C] -> output, argmax [K, PH, PW, C].
template <typename T>
const char* RoiPoolForward(void* stream, const T* features, const T* rois,
                           int64_t K, int64_t H, int64_t W, int64_t C,
                           int64_t PH, int64_t PW, float spatial_scale,
                           T* output, int32_t* argmax);

// grad [K, PH, PW, C] -> grad_features [N, H, W, C], every element written.
// A gather over RoIs in a fixed order: deterministic, no atomics.
template <typename T>
const char* RoiPoolBackward(void* stream, const T* grad, const T* rois,
                            const int32_t* argmax, int64_t N, int64_t K,
                            int64_t H, int64_t W, int64_t C, int64_t PH,
                            int64_t PW, float spatial_scale,
                            T* grad_features);

}  // namespace cuda
}  // namespace detect

#endif  // DETECT_CSRC_ROI_POOL_ROI_POOL_CUDA_H_
