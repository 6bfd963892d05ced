// CUDA launchers of position-sensitive RoI pooling (ps_roi_pool_cuda.cu).
// Plain device pointers; `stream` is a cudaStream_t; each returns nullptr or
// the CUDA error. `rois` [K, 5] must already be validated (roi_checks.h).
#ifndef DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_CUDA_H_
#define DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_CUDA_H_

#include <stdint.h>

namespace detect {
namespace cuda {

// features [N, H, W, D * G * G] -> output [K, G, G, D].
template <typename T>
const char* PsRoiPoolForward(void* stream, const T* features, const T* rois,
                             int64_t K, int64_t H, int64_t W, int64_t D,
                             int64_t G, float spatial_scale, T* output);

// grad [K, G, G, D] -> grad_features [N, H, W, D * G * G], every element
// written, by a gather over RoIs in a fixed order (deterministic).
template <typename T>
const char* PsRoiPoolBackward(void* stream, const T* grad, const T* rois,
                              int64_t N, int64_t K, int64_t H, int64_t W,
                              int64_t D, int64_t G, float spatial_scale,
                              T* grad_features);

}  // namespace cuda
}  // namespace detect

#endif  // DETECT_CSRC_PS_ROI_POOL_PS_ROI_POOL_CUDA_H_
