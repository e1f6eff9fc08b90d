// fuse_matmul_add: MatMul(X, W[K, N] const) whose only reader is an Add of a
// constant bias that only spans the last axis ([N], [1, ..., N], or one value),
// and Gemm(A, B const) with transA = 0, alpha = 1 and a bias C of [N] / [1, N] /
// one value (beta = 1), become com.tandem.FullyConnected(X, W[K, N], B[N]).
#include "core/passes/rewriter.h"

namespace tandem::passes {
namespace {

// The bias as [N] when `t` adds the same N values to every row: shape [N] or
// [1, ..., 1, N] (or one value, broadcast), with rank at most `max_rank`
// (a larger rank would add dims to the output). Returns false otherwise.
bool row_bias(const Tensor& t, int64_t n, int64_t max_rank, Tensor* out) {
  if (t.dtype() != DType::kFloat32 || static_cast<int64_t>(t.rank()) > max_rank) return false;
  for (size_t d = 0; d + 1 < t.rank(); ++d) {
    if (t.dim(d) != 1) return false;
  }
  const int64_t last = t.rank() == 0 ? 1 : t.dim(t.rank() - 1);
  if (last != n && last != 1) return false;
  auto b = Tensor::allocate(DType::kFloat32, {n});
  if (!b.is_ok()) return false;
  for (int64_t j = 0; j < n; ++j) b->data<float>()[j] = t.data<float>()[last == 1 ? 0 : j];
  *out = std::move(*b);
  return true;
}

graph::Node fully_connected(const graph::Node& from, std::vector<graph::ValueId> inputs, graph::ValueId output) {
  graph::Node fc;
  fc.name = from.name;
  fc.op_type = "FullyConnected";
  fc.domain = kTandemDomain;
  fc.inputs = std::move(inputs);
  fc.outputs = {output};
  return fc;
}

// The bias value to wire in: the original when it already is [N], else a new [N] constant.
graph::ValueId bias_value(Rewriter& rw, graph::ValueId original, Tensor bias) {
  const Tensor* c = rw.constant(original);
  if (c->rank() == 1 && c->dim(0) == bias.dim(0)) return original;
  return rw.add_constant(rw.graph().values[static_cast<size_t>(original)].name + "_row", std::move(bias));
}

}  // namespace

Result<int> fuse_matmul_add(Rewriter& rw) {
  graph::Graph& g = rw.graph();
  int count = 0;
  for (size_t i = 0; i < rw.num_nodes(); ++i) {
    if (!rw.alive(i)) continue;
    const graph::Node& n = rw.node(i);
    if (is_folded(g, n) || !n.has_input(0) || !n.has_input(1) || !n.has_output(0) || n.outputs.size() != 1) continue;
    if (!is_f32(g, n.inputs[0])) continue;
    const Tensor* w = rw.const_f32_input(n, 1);
    if (w == nullptr || w->rank() != 2) continue;

    if (is_onnx(n, "MatMul")) {
      const int64_t k = w->dim(0), cols = w->dim(1);
      const graph::TypeInfo& xt = rw.type(n.inputs[0]);
      if (xt.has_shape && (xt.dims.empty() || (xt.dims.back().known() && xt.dims.back().value != k))) continue;
      const graph::ValueId y = n.outputs[0];
      const int32_t ai = rw.sole_reader(y);
      if (ai < 0) continue;
      const graph::Node& add = rw.node(static_cast<size_t>(ai));
      if (!is_onnx(add, "Add") || add.inputs.size() != 2 || !add.has_output(0) || is_folded(g, add)) continue;
      const graph::ValueId other = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
      const Tensor* bias = rw.const_f32_input(add, add.inputs[0] == y ? 1 : 0);
      if (bias == nullptr) continue;
      // MatMul's output rank: X's (a 1-D X gives [N]); unknown allows only a 1-D bias.
      const int64_t out_rank = xt.has_shape ? std::max<int64_t>(1, static_cast<int64_t>(xt.dims.size())) : 1;
      Tensor b;
      if (!row_bias(*bias, cols, out_rank, &b)) continue;
      graph::Node fc = fully_connected(n, {n.inputs[0], n.inputs[1], graph::kNoValue}, add.outputs[0]);
      const graph::ValueId add_out = add.outputs[0];
      fc.inputs[2] = bias_value(rw, other, std::move(b));
      fc.outputs = {add_out};
      rw.remove(i);
      rw.replace(static_cast<size_t>(ai), std::move(fc));
      ++count;
    } else if (is_onnx(n, "Gemm")) {
      if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.0f) != 1.0f) continue;
      const graph::TypeInfo& at = rw.type(n.inputs[0]);
      if (!at.has_shape || at.dims.size() != 2) continue;  // other ranks are the Gemm kernel's error to report
      const bool tb = n.attr_int("transB", 0) != 0;
      const int64_t k = tb ? w->dim(1) : w->dim(0), cols = tb ? w->dim(0) : w->dim(1);
      if (at.dims[1].known() && at.dims[1].value != k) continue;
      Tensor b;
      if (n.has_input(2)) {
        const Tensor* c = rw.const_f32_input(n, 2);
        if (c == nullptr || n.attr_float("beta", 1.0f) != 1.0f || !row_bias(*c, cols, 2, &b)) continue;
      }
      graph::ValueId wv = n.inputs[1];
      if (tb) {  // stored [N, K]: the FullyConnected weight is [K, N]
        TANDEM_ASSIGN_OR_RETURN(Tensor wt, Tensor::allocate(DType::kFloat32, {k, cols}));
        const float* src = w->data<float>();
        float* dst = wt.data<float>();
        for (int64_t r = 0; r < cols; ++r) {
          for (int64_t c = 0; c < k; ++c) dst[c * cols + r] = src[r * k + c];
        }
        wv = rw.add_constant(g.values[static_cast<size_t>(n.inputs[1])].name + "_kn", std::move(wt));
      }
      graph::Node fc = fully_connected(rw.node(i), {rw.node(i).inputs[0], wv, graph::kNoValue}, rw.node(i).outputs[0]);
      if (rw.node(i).has_input(2)) fc.inputs[2] = bias_value(rw, rw.node(i).inputs[2], std::move(b));
      else fc.inputs.pop_back();
      rw.replace(i, std::move(fc));
      ++count;
    }
  }
  return count;
}

}  // namespace tandem::passes
