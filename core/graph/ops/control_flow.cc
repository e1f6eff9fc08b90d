// Shape inference: control_flow family (If, Loop, Scan).
//
// Subgraph value types come from the model's declarations (bodies are not
// re-inferred here), so the rules stay conservative: If gets a shape only
// where both branches agree; Loop and Scan outputs get their dtype only.
#include "core/graph/ops/rules.h"

namespace tandem::graph {
namespace {

const TypeInfo& body_output_type(const Graph& g, size_t i) {
  static const TypeInfo unknown;
  if (i >= g.outputs.size()) return unknown;
  return g.values[static_cast<size_t>(g.outputs[i])].type;
}

// The type both branches agree on: dims kept where equal, unknown elsewhere.
TypeInfo merge_types(const TypeInfo& a, const TypeInfo& b) {
  TypeInfo out;
  if (a.kind != b.kind || a.kind == TypeInfo::Kind::kUnknown || a.dtype != b.dtype ||
      a.dtype == DType::kUndefined || (a.kind == TypeInfo::Kind::kOptional && a.optional_of != b.optional_of)) {
    return out;
  }
  out.kind = a.kind;
  out.dtype = a.dtype;
  out.optional_of = a.optional_of;
  if (a.has_shape && b.has_shape && a.dims.size() == b.dims.size()) {
    out.has_shape = true;
    for (size_t d = 0; d < a.dims.size(); ++d) {
      const Dim& x = a.dims[d];
      const Dim& y = b.dims[d];
      const bool same = x.known() ? (y.known() && x.value == y.value) : (!y.known() && !x.symbol.empty() &&
                                                                           x.symbol == y.symbol);
      out.dims.push_back(same ? x : Dim{});
    }
  }
  return out;
}

// Dtype and kind of a value whose shape may change (loop-carried, scanned).
TypeInfo dtype_only(const TypeInfo& t) {
  TypeInfo out;
  if (t.kind == TypeInfo::Kind::kUnknown || t.dtype == DType::kUndefined) return out;
  out.kind = t.kind;
  out.dtype = t.dtype;
  out.optional_of = t.optional_of;
  return out;
}

Status infer_if(InferContext& ctx) {
  const Graph* then_g = ctx.node().attr_graph("then_branch");
  const Graph* else_g = ctx.node().attr_graph("else_branch");
  if (then_g == nullptr || else_g == nullptr) return Status::ok();
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    if (!ctx.has_output(i)) continue;
    TypeInfo t = merge_types(body_output_type(*then_g, i), body_output_type(*else_g, i));
    if (t.kind != TypeInfo::Kind::kUnknown) ctx.output_type(i) = t;
  }
  return Status::ok();
}

// Loop outputs: carried values keep their type's dtype; scan outputs are tensors.
Status infer_loop(InferContext& ctx) {
  const Graph* body = ctx.node().attr_graph("body");
  if (body == nullptr || ctx.num_inputs() < 2) return Status::ok();
  const size_t n_carried = ctx.num_inputs() - 2;
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    if (!ctx.has_output(i)) continue;
    TypeInfo t = dtype_only(body_output_type(*body, 1 + i));
    if (i < n_carried && t.kind == TypeInfo::Kind::kUnknown) {
      t = dtype_only(ctx.input_type(2 + i));
      if (t.kind == TypeInfo::Kind::kOptional) t = TypeInfo{};  // may be filled by the body
    }
    if (i >= n_carried && t.kind != TypeInfo::Kind::kTensor) continue;
    if (t.kind != TypeInfo::Kind::kUnknown) ctx.output_type(i) = t;
  }
  return Status::ok();
}

Status infer_scan(InferContext& ctx) {
  const Graph* body = ctx.node().attr_graph("body");
  if (body == nullptr) return Status::ok();
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    if (!ctx.has_output(i)) continue;
    const TypeInfo t = dtype_only(body_output_type(*body, i));
    if (t.kind == TypeInfo::Kind::kTensor) ctx.set_output_rank_unknown(i, t.dtype);
  }
  return Status::ok();
}

}  // namespace

void register_control_flow_rules() {
  register_infer("", "If", infer_if);
  register_infer("", "Loop", infer_loop);
  register_infer("", "Scan", infer_scan);
}

}  // namespace tandem::graph
