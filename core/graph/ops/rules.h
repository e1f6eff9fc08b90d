// Shape-inference rules, one registration function per op family
// (core/graph/ops/<family>.cc mirrors backends/reference/kernels/<family>.cc).
#pragma once

#include <utility>

#include "core/graph/shape_inference.h"

namespace tandem::graph {

// Semantics shared by a rule and its kernel.
// Shape (opset 15): the [start, end) range of dims it returns for a given rank.
std::pair<int64_t, int64_t> shape_op_range(const Node& node, int64_t rank);

void register_elementwise_rules();
void register_math_rules();
void register_tensor_rules();
void register_nn_rules();
void register_reduction_rules();
void register_recurrent_rules();
void register_control_flow_rules();
void register_quantization_rules();
void register_sequence_rules();
void register_misc_rules();

}  // namespace tandem::graph
