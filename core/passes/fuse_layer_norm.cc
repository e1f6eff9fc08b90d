// fuse_layer_norm: LayerNorm as exporters decompose it (PyTorch before opset 17)
//   m = ReduceMean(x, last axis, keepdims)   d = x - m
//   v = ReduceMean(d^2, last axis)           (d^2 as Pow(d, 2) or d * d)
//   n = d / Sqrt(v + eps)                    y = n * gamma + beta   (gamma, beta optional)
// becomes LayerNormalization(x, gamma (ones when absent), beta, axis = -1, epsilon = eps).
#include "core/passes/rewriter.h"

namespace tandem::passes {
namespace {

// ReduceMean of input 0 over exactly the last axis of a rank-`rank` tensor, keeping dims.
bool mean_over_last_axis(const Rewriter& rw, const graph::Node& n, int64_t rank) {
  if (!is_onnx(n, "ReduceMean") || n.inputs.empty() || n.outputs.size() != 1 || !n.has_output(0)) return false;
  if (n.attr_int("keepdims", 1) != 1) return false;
  std::vector<int64_t> axes;
  if (rw.opset() >= 18) {
    if (n.inputs.size() != 2) return false;
    const Tensor* a = rw.constant(n.inputs[1]);
    if (a == nullptr || !dtype_is_integer(a->dtype())) return false;
    axes = a->to_int64_vector();
  } else {
    if (n.inputs.size() != 1) return false;
    axes = n.attr_ints("axes");
  }
  return axes.size() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
}

// A constant that scales or shifts only along the last axis (size c) of a rank-`rank`
// tensor: [c], [1, ..., c] or one value. Returns it as [c] in *out.
bool last_axis_param(const Tensor* t, int64_t c, int64_t rank, Tensor* out) {
  if (t == nullptr || t->dtype() != DType::kFloat32 || static_cast<int64_t>(t->rank()) > rank) return false;
  for (size_t d = 0; d + 1 < t->rank(); ++d) {
    if (t->dim(d) != 1) return false;
  }
  const int64_t last = t->rank() == 0 ? 1 : t->dim(t->rank() - 1);
  if (last != c && last != 1) return false;
  auto p = Tensor::allocate(DType::kFloat32, {c});
  if (!p.is_ok()) return false;
  for (int64_t j = 0; j < c; ++j) p->data<float>()[j] = t->data<float>()[last == 1 ? 0 : j];
  *out = std::move(*p);
  return true;
}

// The other operand of binary `op` node n, one of whose inputs is v (read once).
graph::ValueId other_input(const graph::Node& n, const char* op, graph::ValueId v) {
  if (!is_onnx(n, op) || n.inputs.size() != 2) return graph::kNoValue;
  if (n.inputs[0] == v && n.inputs[1] != v) return n.inputs[1];
  if (n.inputs[1] == v && n.inputs[0] != v) return n.inputs[0];
  return graph::kNoValue;
}

bool single_output(const graph::Node& n) { return n.outputs.size() == 1 && n.has_output(0); }

}  // namespace

Result<int> fuse_layer_norm(Rewriter& rw) {
  graph::Graph& g = rw.graph();
  int count = 0;
  for (size_t i = 0; i < rw.num_nodes(); ++i) {
    if (!rw.alive(i) || is_folded(g, rw.node(i))) continue;
    const graph::Node& r1 = rw.node(i);
    if (!is_onnx(r1, "ReduceMean") || r1.inputs.empty()) continue;
    const graph::ValueId x = r1.inputs[0];
    const graph::TypeInfo& xt = rw.type(x);
    if (!is_f32(g, x) || !xt.has_shape || xt.dims.empty() || !xt.dims.back().known()) continue;
    const auto rank = static_cast<int64_t>(xt.dims.size());
    const int64_t c = xt.dims.back().value;
    if (!mean_over_last_axis(rw, r1, rank)) continue;
    std::vector<size_t> nodes{i};
    // d = x - mean
    const int32_t si = rw.sole_reader(r1.outputs[0]);
    if (si < 0) continue;
    const graph::Node& sub = rw.node(static_cast<size_t>(si));
    if (!is_onnx(sub, "Sub") || sub.inputs.size() != 2 || sub.inputs[0] != x || sub.inputs[1] != r1.outputs[0] ||
        !single_output(sub)) {
      continue;
    }
    nodes.push_back(static_cast<size_t>(si));
    const graph::ValueId d = sub.outputs[0];
    // d is read by the square and by the Div, nothing else.
    const std::vector<int32_t>& dr = rw.readers(d);
    if (rw.is_graph_output(d) || dr.size() < 2 || dr.size() > 3) continue;
    int32_t sq = -1, div = -1;
    for (int32_t r : dr) {
      const graph::Node& n = rw.node(static_cast<size_t>(r));
      if (is_onnx(n, "Div")) div = div < 0 || div == r ? r : -2;
      else sq = sq < 0 || sq == r ? r : -2;
    }
    if (sq < 0 || div < 0) continue;
    const graph::Node& sqn = rw.node(static_cast<size_t>(sq));
    const bool is_pow = is_onnx(sqn, "Pow") && sqn.inputs.size() == 2 && sqn.inputs[0] == d &&
                        rw.constant(sqn.inputs[1]) != nullptr && rw.constant(sqn.inputs[1])->numel() == 1 &&
                        rw.constant(sqn.inputs[1])->get_as_double(0) == 2.0 &&
                        static_cast<int64_t>(rw.constant(sqn.inputs[1])->rank()) <= rank;
    const bool is_mul = is_onnx(sqn, "Mul") && sqn.inputs.size() == 2 && sqn.inputs[0] == d && sqn.inputs[1] == d;
    const size_t d_reads = is_mul ? 3 : 2;
    if (!(is_pow || is_mul) || dr.size() != d_reads || !single_output(sqn)) continue;
    nodes.push_back(static_cast<size_t>(sq));
    // v = mean(d^2); Sqrt(v + eps)
    const int32_t r2i = rw.sole_reader(sqn.outputs[0]);
    if (r2i < 0 || !mean_over_last_axis(rw, rw.node(static_cast<size_t>(r2i)), rank)) continue;
    nodes.push_back(static_cast<size_t>(r2i));
    const graph::ValueId v = rw.node(static_cast<size_t>(r2i)).outputs[0];
    const int32_t ei = rw.sole_reader(v);
    if (ei < 0) continue;
    const graph::Node& epsn = rw.node(static_cast<size_t>(ei));
    float eps = 0;
    const graph::ValueId eps_v = other_input(epsn, "Add", v);
    if (eps_v == graph::kNoValue || !rw.scalar_f32(eps_v, &eps) || rw.constant(eps_v)->rank() > xt.dims.size() ||
        !single_output(epsn)) {
      continue;
    }
    nodes.push_back(static_cast<size_t>(ei));
    const int32_t qi = rw.sole_reader(epsn.outputs[0]);
    if (qi < 0) continue;
    const graph::Node& sqrtn = rw.node(static_cast<size_t>(qi));
    if (!is_onnx(sqrtn, "Sqrt") || sqrtn.inputs.size() != 1 || !single_output(sqrtn)) continue;
    nodes.push_back(static_cast<size_t>(qi));
    const graph::Node& divn = rw.node(static_cast<size_t>(div));
    if (rw.sole_reader(sqrtn.outputs[0]) != div || divn.inputs.size() != 2 || divn.inputs[0] != d ||
        divn.inputs[1] != sqrtn.outputs[0] || !single_output(divn)) {
      continue;
    }
    nodes.push_back(static_cast<size_t>(div));
    // Optional * gamma, + beta.
    graph::ValueId out = divn.outputs[0];
    Tensor gamma, beta;
    bool has_gamma = false, has_beta = false;
    int32_t next = rw.sole_reader(out);
    if (next >= 0) {
      const graph::Node& mn = rw.node(static_cast<size_t>(next));
      const graph::ValueId gv = other_input(mn, "Mul", out);
      if (gv != graph::kNoValue && single_output(mn) && last_axis_param(rw.constant(gv), c, rank, &gamma)) {
        has_gamma = true;
        nodes.push_back(static_cast<size_t>(next));
        out = mn.outputs[0];
        next = rw.sole_reader(out);
      }
    }
    if (next >= 0) {
      const graph::Node& an = rw.node(static_cast<size_t>(next));
      const graph::ValueId bv = other_input(an, "Add", out);
      if (bv != graph::kNoValue && single_output(an) && last_axis_param(rw.constant(bv), c, rank, &beta)) {
        has_beta = true;
        nodes.push_back(static_cast<size_t>(next));
        out = an.outputs[0];
      }
    }
    bool ok = true;
    for (size_t k : nodes) ok = ok && !is_folded(g, rw.node(k)) && is_f32(g, rw.node(k).outputs[0]);
    if (!ok) continue;
    if (!has_gamma) {
      TANDEM_ASSIGN_OR_RETURN(gamma, Tensor::allocate(DType::kFloat32, {c}));
      for (int64_t j = 0; j < c; ++j) gamma.data<float>()[j] = 1.0f;
    }
    const size_t last = nodes.back();
    graph::Node ln;
    ln.name = rw.node(last).name;
    ln.op_type = "LayerNormalization";
    const std::string base = ln.name.empty() ? "layer_norm" : ln.name;
    ln.inputs = {x, rw.add_constant(base + "_scale", std::move(gamma))};
    if (has_beta) ln.inputs.push_back(rw.add_constant(base + "_bias", std::move(beta)));
    ln.outputs = {out};
    graph::Attribute axis;
    axis.name = "axis";
    axis.type = graph::Attribute::Type::kInt;
    axis.i = -1;
    graph::Attribute epsilon;
    epsilon.name = "epsilon";
    epsilon.type = graph::Attribute::Type::kFloat;
    epsilon.f = eps;
    ln.attributes = {axis, epsilon};
    for (size_t k : nodes) {
      if (k != last) rw.remove(k);
    }
    rw.replace(last, std::move(ln));
    ++count;
  }
  return count;
}

}  // namespace tandem::passes
