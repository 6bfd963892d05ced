// Input validation shared by every RoI op kernel, CPU and GPU alike.
//
// Every check runs on the host before any kernel touches memory: the GPU
// kernels are registered with HostMemory("rois"), so the RoIs are read here
// and copied to the device only once they are known to be valid. A failed
// check is an InvalidArgumentError that names the argument.
#ifndef DETECT_CSRC_COMMON_ROI_CHECKS_H_
#define DETECT_CSRC_COMMON_ROI_CHECKS_H_

#include <cmath>
#include <limits>
#include <string>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"

namespace detect {

namespace tf = ::tensorflow;

// `features` must be NHWC with sizes that fit the kernels' index arithmetic.
inline tf::Status CheckFeatures(const tf::Tensor& features,
                                const char* name = "features") {
  if (features.dims() != 4) {
    return tf::errors::InvalidArgument(
        name, " must be a 4-D NHWC tensor [N, H, W, C], got shape ",
        features.shape().DebugString());
  }
  if (features.dim_size(1) < 1 || features.dim_size(2) < 1) {
    return tf::errors::InvalidArgument(
        name, " must have H >= 1 and W >= 1, got shape ",
        features.shape().DebugString());
  }
  const int64_t hw = features.dim_size(1) * features.dim_size(2);
  if (hw >= std::numeric_limits<int32_t>::max()) {
    return tf::errors::InvalidArgument(
        name, " has H * W = ", hw, " cells; at most 2^31 - 1 are supported");
  }
  return tf::OkStatus();
}

// `rois` must be [K, 5] = (batch_index, x1, y1, x2, y2), finite, with an
// integral batch index in [0, batch). `rois` must be readable on the host.
template <typename T>
tf::Status CheckRois(const tf::Tensor& rois, int64_t batch) {
  if (rois.dims() != 2 || rois.dim_size(1) != 5) {
    return tf::errors::InvalidArgument(
        "rois must have shape [K, 5] = (batch_index, x1, y1, x2, y2), got ",
        rois.shape().DebugString());
  }
  const T* r = rois.flat<T>().data();
  const int64_t k = rois.dim_size(0);
  for (int64_t i = 0; i < k; ++i) {
    const T* roi = r + 5 * i;
    for (int j = 0; j < 5; ++j) {
      if (!std::isfinite(static_cast<double>(roi[j]))) {
        return tf::errors::InvalidArgument(
            "rois[", i, ", ", j, "] is ", static_cast<double>(roi[j]),
            "; RoI coordinates and batch indices must be finite");
      }
    }
    const double b = static_cast<double>(roi[0]);
    if (b < 0 || b >= static_cast<double>(batch) || b != std::floor(b)) {
      return tf::errors::InvalidArgument(
          "rois[", i, ", 0] = ", b,
          " is not a batch index of features, which hold ", batch,
          " image(s): it must be an integer in [0, ", batch, ")");
    }
  }
  return tf::OkStatus();
}

inline tf::Status CheckPositive(const char* name, int64_t value) {
  if (value < 1) {
    return tf::errors::InvalidArgument(name, " must be >= 1, got ", value);
  }
  return tf::OkStatus();
}

inline tf::Status CheckSpatialScale(float value) {
  if (!(value > 0.0f) || !std::isfinite(value)) {
    return tf::errors::InvalidArgument(
        "spatial_scale must be a finite number > 0 (feature cells per input "
        "pixel, e.g. 1/16), got ",
        value);
  }
  return tf::OkStatus();
}

// A gradient (or argmax) input must have exactly the forward output's shape.
inline tf::Status CheckSameShape(const char* name, const tf::Tensor& t,
                                 const tf::TensorShape& expected) {
  if (t.shape() != expected) {
    return tf::errors::InvalidArgument(
        name, " must have the forward output's shape ", expected.DebugString(),
        ", got ", t.shape().DebugString());
  }
  return tf::OkStatus();
}

// Checks features and rois, then gives the pooled output shape
// [K, pooled_height, pooled_width, C] of roi_pool and roi_align.
template <typename T>
tf::Status CheckPooledInputs(const tf::Tensor& features, const tf::Tensor& rois,
                             int64_t pooled_height, int64_t pooled_width,
                             tf::TensorShape* shape) {
  TF_RETURN_IF_ERROR(CheckFeatures(features));
  TF_RETURN_IF_ERROR(CheckRois<T>(rois, features.dim_size(0)));
  *shape = tf::TensorShape({rois.dim_size(0), pooled_height, pooled_width,
                            features.dim_size(3)});
  return tf::OkStatus();
}

}  // namespace detect

#endif  // DETECT_CSRC_COMMON_ROI_CHECKS_H_
