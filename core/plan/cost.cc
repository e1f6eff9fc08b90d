#include "core/plan/cost.h"

#include <algorithm>
#include <string_view>

namespace tandem::plan {
namespace {

// Elements of value `id`, or 0 when its shape is not known.
uint64_t numel_of(const graph::Graph& g, graph::ValueId id) {
  if (id < 0 || static_cast<size_t>(id) >= g.values.size()) return 0;
  const graph::TypeInfo& t = g.values[static_cast<size_t>(id)].type;
  if (t.kind != graph::TypeInfo::Kind::kTensor || !t.shape_known()) return 0;
  const int64_t n = shape_numel(t.concrete_shape());
  return n < 0 ? 0 : static_cast<uint64_t>(n);
}

// Dimension `axis` of value `id` (negative counts from the end), or 0 when unknown.
uint64_t dim_of(const graph::Graph& g, graph::ValueId id, int64_t axis) {
  if (id < 0 || static_cast<size_t>(id) >= g.values.size()) return 0;
  const graph::TypeInfo& t = g.values[static_cast<size_t>(id)].type;
  if (!t.has_shape || t.dims.empty()) return 0;
  const int64_t rank = static_cast<int64_t>(t.dims.size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank || !t.dims[static_cast<size_t>(axis)].known()) return 0;
  return static_cast<uint64_t>(t.dims[static_cast<size_t>(axis)].value);
}

uint64_t node_flops(const graph::Graph& g, const graph::Node& n) {
  if (n.outputs.empty()) return 0;
  const uint64_t out = numel_of(g, n.outputs[0]);
  const std::string_view op = n.op_type;
  if ((op == "Conv" || op == "FusedConv") && n.inputs.size() >= 2) {
    // Each output element is a dot product over C/group x kernel: the weight's numel / M.
    const uint64_t m = dim_of(g, n.inputs[1], 0);
    return m == 0 ? 0 : 2 * out * (numel_of(g, n.inputs[1]) / m);
  }
  if (op == "ConvTranspose" && n.inputs.size() >= 2) {
    // Each input element is scattered through the weight's share of one input channel.
    const uint64_t c = std::max<uint64_t>(1, dim_of(g, n.inputs[1], 0));
    return 2 * numel_of(g, n.inputs[0]) * (numel_of(g, n.inputs[1]) / c);
  }
  if ((op == "MatMul" || op == "FullyConnected") && !n.inputs.empty()) return 2 * out * dim_of(g, n.inputs[0], -1);
  if (op == "Gemm" && !n.inputs.empty()) {
    const int64_t k_axis = n.attr_int("transA", 0) != 0 ? 0 : 1;
    return 2 * out * dim_of(g, n.inputs[0], k_axis);
  }
  return out;
}

}  // namespace

uint64_t estimate_flops(const graph::Graph& graph) {
  uint64_t total = 0;
  for (const graph::Node& n : graph.nodes) {
    if (!graph::is_folded(graph, n)) total += node_flops(graph, n);  // folded nodes cost nothing
  }
  return total;
}

}  // namespace tandem::plan
