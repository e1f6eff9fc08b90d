// Resize's semantics (opsets 10-19, and Upsample) as taps per resized axis: every
// coordinate_transformation_mode and nearest_mode, nearest/linear/cubic, scales or sizes, axes,
// keep_aspect_ratio_policy, antialias, exclude_outside, tf_crop_and_resize. Interpolation is
// separable, so each axis is resized in turn: output index o reads input indices idx[o * taps + t]
// with weights w[o * taps + t] (following onnx's numpy reference). Shared by the reference
// kernel and by backends that upload the taps as tables (Vulkan).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/runtime/status.h"
#include "core/runtime/tensor.h"

namespace tandem::graph {

struct ResizeParams {
  std::string mode = "nearest";  // nearest | linear | cubic
  std::string coord = "half_pixel";
  std::string nearest_mode = "round_prefer_floor";  // or "simple" (opset 10 / Upsample)
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
  bool antialias = false;
  std::vector<double> scales;  // per dim of X
  Shape out;
  std::vector<double> roi_start, roi_end;  // per dim (tf_crop_and_resize)
};

struct ResizeTaps {
  int64_t taps = 1;
  std::vector<int64_t> idx;
  std::vector<double> w;
  std::vector<uint8_t> outside;  // tf_crop_and_resize: the output takes the extrapolation value
  bool identity = false;         // the axis is unchanged
};

// The parameters of a Resize or Upsample node on an input of shape `x`. inputs[i] is the node's
// i-th input when its value is known (null when absent or empty); inputs[0] is not read.
Result<ResizeParams> resize_params(const Node& node, int64_t opset, const Shape& x,
                                   std::span<const Tensor* const> inputs);

// The taps of axis d, whose input has `in` elements (> 0).
Result<ResizeTaps> resize_taps(const ResizeParams& p, size_t d, int64_t in);

}  // namespace tandem::graph
