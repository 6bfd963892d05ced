// Shape functions shared by the RoI ops' REGISTER_OP calls.
//
// They are lenient on purpose: they infer what they can and leave the rest
// unknown, so that every bad input is reported by the kernel as the same
// InvalidArgumentError in eager mode and inside tf.function.
#ifndef DETECT_CSRC_COMMON_ROI_SHAPES_H_
#define DETECT_CSRC_COMMON_ROI_SHAPES_H_

#include "tensorflow/core/framework/shape_inference.h"

namespace detect {

namespace tf = ::tensorflow;
using tf::shape_inference::DimensionHandle;
using tf::shape_inference::InferenceContext;
using tf::shape_inference::ShapeHandle;

// Dimension `d` of input `i` if that input has rank `rank`, else unknown.
inline DimensionHandle DimIfRank(InferenceContext* c, int i, int rank, int d) {
  ShapeHandle s = c->input(i);
  if (c->RankKnown(s) && c->Rank(s) == rank) return c->Dim(s, d);
  return c->UnknownDim();
}

// A dimension from an integer attr, unknown when the value is invalid.
inline DimensionHandle DimFromAttr(InferenceContext* c, int64_t value) {
  return value >= 1 ? c->MakeDim(value) : c->UnknownDim();
}

// Output [K, out_h, out_w, channels] of a pooling op whose input 0 is the
// NHWC feature map and input 1 the [K, 5] RoIs.
inline tf::Status SetPooledShape(InferenceContext* c, DimensionHandle out_h,
                                 DimensionHandle out_w,
                                 DimensionHandle channels, int output = 0) {
  c->set_output(output, c->MakeShape({DimIfRank(c, 1, 2, 0), out_h, out_w,
                                      channels}));
  return tf::OkStatus();
}

}  // namespace detect

#endif  // DETECT_CSRC_COMMON_ROI_SHAPES_H_
