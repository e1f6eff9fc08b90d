// Einsum equation parsing, shared by the Einsum shape rule and kernels.
#pragma once

#include <string>
#include <vector>

#include "core/runtime/status.h"
#include "core/runtime/tensor.h"

namespace tandem::graph {

// Labels are 0-25 for a-z, 26-51 for A-Z, and 52 + k for the k-th dim of the
// (right-aligned, broadcast) ellipsis.
struct EinsumPlan {
  std::vector<std::vector<int>> input_labels;  // per operand, one label per dim
  std::vector<Shape> input_dims;               // the operand shapes the plan was made for
  std::vector<int64_t> sizes;                  // per label; -1 when unused
  std::vector<int> output_labels;
  Shape output_shape;
};

// Parses `equation` for operands of the given shapes; fails on malformed
// equations and on size mismatches.
Result<EinsumPlan> plan_einsum(const std::string& equation, const std::vector<Shape>& shapes);

}  // namespace tandem::graph
