// CUDA launchers of RoIAlign (roi_align_cuda.cu). Plain device pointers;
// `stream` is a cudaStream_t; each returns nullptr or the CUDA error.
// `rois` [K, 5] must already be validated (roi_checks.h).
#ifndef DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_CUDA_H_
#define DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_CUDA_H_

#include <stdint.h>

namespace detect {
namespace cuda {

// features [N, H, W, C] -> output [K, PH, PW, C].
template <typename T>
const char* RoiAlignForward(void* stream, const T* features, const T* rois,
                            int64_t K, int64_t H, int64_t W, int64_t C,
                            int64_t PH, int64_t PW, float spatial_scale,
                            int64_t sampling_ratio, bool aligned, T* output);

// grad [K, PH, PW, C] -> grad_features [N, H, W, C], every element written,
// by a gather over RoIs and samples in a fixed order (deterministic).
template <typename T>
const char* RoiAlignBackward(void* stream, const T* grad, const T* rois,
                             int64_t N, int64_t K, int64_t H, int64_t W,
                             int64_t C, int64_t PH, int64_t PW,
                             float spatial_scale, int64_t sampling_ratio,
                             bool aligned, T* grad_features);

}  // namespace cuda
}  // namespace detect

#endif  // DETECT_CSRC_ROI_ALIGN_ROI_ALIGN_CUDA_H_
