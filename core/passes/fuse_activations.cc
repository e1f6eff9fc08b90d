// fuse_activations: Conv or com.tandem.FullyConnected whose only reader is
// Relu, Clip (constant bounds), HardSwish or Sigmoid becomes
// com.tandem.FusedConv / com.tandem.FullyConnected with attributes
// activation = "Relu" | "Clip" | "HardSwish" | "Sigmoid" and, for Clip,
// activation_params = [min, max].
#include <cfloat>
#include <limits>

#include "core/passes/rewriter.h"

namespace tandem::passes {
namespace {

// The activation `act` applies to its input 0, when it is one the fused ops take.
bool fusable_activation(const Rewriter& rw, const graph::Node& act, std::string* name, std::vector<float>* params) {
  if (!act.domain.empty() || !act.has_output(0) || act.outputs.size() != 1) return false;
  if (act.op_type == "Relu" || act.op_type == "Sigmoid" || act.op_type == "HardSwish") {
    if (act.inputs.size() != 1) return false;
    *name = act.op_type;
    params->clear();
    return true;
  }
  if (act.op_type != "Clip") return false;
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  if (rw.opset() < 11) {
    if (act.inputs.size() != 1) return false;
    lo = act.attr_float("min", -FLT_MAX);  // the attributes' defaults, as the Clip kernel reads them
    hi = act.attr_float("max", FLT_MAX);
  } else {
    if (act.inputs.size() > 3) return false;
    if (act.has_input(1) && !rw.scalar_f32(act.inputs[1], &lo)) return false;
    if (act.has_input(2) && !rw.scalar_f32(act.inputs[2], &hi)) return false;
  }
  *name = "Clip";
  *params = {lo, hi};
  return true;
}

}  // namespace

Result<int> fuse_activations(Rewriter& rw) {
  graph::Graph& g = rw.graph();
  int count = 0;
  for (size_t i = 0; i < rw.num_nodes(); ++i) {
    if (!rw.alive(i)) continue;
    const graph::Node& n = rw.node(i);
    const bool conv = is_onnx(n, "Conv");
    if (!(conv || is_tandem(n, "FullyConnected")) || n.attr("activation") != nullptr) continue;
    if (is_folded(g, n) || n.outputs.size() != 1 || !n.has_output(0) || !n.has_input(0) || !is_f32(g, n.inputs[0])) {
      continue;  // malformed nodes (no input) are left for the kernels to reject
    }
    const graph::ValueId y = n.outputs[0];
    const int32_t ai = rw.sole_reader(y);
    if (ai < 0) continue;
    const graph::Node& act = rw.node(static_cast<size_t>(ai));
    std::string name;
    std::vector<float> params;
    if (act.inputs.empty() || act.inputs[0] != y || !fusable_activation(rw, act, &name, &params)) continue;
    graph::Node fused = n;
    if (conv) {
      fused.op_type = "FusedConv";
      fused.domain = kTandemDomain;
    }
    fused.attributes.push_back(graph::Attribute::of_string("activation", name));
    if (!params.empty())
      fused.attributes.push_back(graph::Attribute::of_floats("activation_params", std::move(params)));
    fused.outputs = {act.outputs[0]};
    rw.remove(i);
    rw.replace(static_cast<size_t>(ai), std::move(fused));
    ++count;
  }
  return count;
}

}  // namespace tandem::passes
