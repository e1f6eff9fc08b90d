// fold_batch_norm: Conv / ConvTranspose (constant W, constant or no B) whose
// only reader is an inference-mode BatchNormalization with constant
// parameters becomes one Conv / ConvTranspose with
//   s = scale / sqrt(var + eps),  W' = W * s (per output channel),  B' = (B - mean) * s + bias.
#include <cmath>

#include "core/passes/rewriter.h"

namespace tandem::passes {
namespace {

// BatchNormalization that only normalizes with its stored statistics.
bool inference_batch_norm(const Rewriter& rw, const graph::Node& bn) {
  if (!is_onnx(bn, "BatchNormalization") || bn.inputs.size() != 5 || !bn.has_output(0)) return false;
  for (size_t i = 1; i < bn.outputs.size(); ++i) {
    if (bn.has_output(i)) return false;  // running/saved statistics: training mode
  }
  if (rw.opset() >= 14 && bn.attr_int("training_mode", 0) != 0) return false;
  if (bn.attr_int("spatial", 1) != 1) return false;  // opset < 9: per-element statistics
  return true;
}

}  // namespace

Result<int> fold_batch_norm(Rewriter& rw) {
  graph::Graph& g = rw.graph();
  int count = 0;
  for (size_t i = 0; i < rw.num_nodes(); ++i) {
    if (!rw.alive(i)) continue;
    const graph::Node& bn = rw.node(i);
    if (!inference_batch_norm(rw, bn) || is_folded(g, bn)) continue;
    const graph::ValueId y = bn.inputs[0];
    const int32_t ci = rw.producer(y);
    if (ci < 0 || rw.sole_reader(y) != static_cast<int32_t>(i)) continue;
    const graph::Node& conv = rw.node(static_cast<size_t>(ci));
    const bool transpose = is_onnx(conv, "ConvTranspose");
    if (!(is_onnx(conv, "Conv") || transpose) || conv.outputs.size() != 1 || is_folded(g, conv)) continue;
    if (!conv.has_input(0) || !is_f32(g, conv.inputs[0])) continue;
    const Tensor* w = rw.const_f32_input(conv, 1);
    if (w == nullptr || w->rank() < 3) continue;
    const int64_t group = conv.attr_int("group", 1);
    if (group <= 0 || (transpose && w->dim(0) % group != 0)) continue;
    const int64_t m = transpose ? w->dim(1) * group : w->dim(0);
    const Tensor* b = nullptr;
    if (conv.has_input(2)) {
      b = rw.const_f32_input(conv, 2);
      if (b == nullptr || b->rank() != 1 || b->dim(0) != m) continue;
    }
    const Tensor* p[4];
    bool ok = true;
    for (size_t k = 0; k < 4; ++k) {
      p[k] = rw.const_f32_input(bn, k + 1);
      ok = ok && p[k] != nullptr && p[k]->rank() == 1 && p[k]->dim(0) == m;
    }
    if (!ok) continue;
    const double eps = bn.attr_float("epsilon", 1e-5f);
    std::vector<double> s(static_cast<size_t>(m));
    for (int64_t c = 0; c < m; ++c) {
      s[c] = static_cast<double>(p[0]->data<float>()[c]) / std::sqrt(static_cast<double>(p[3]->data<float>()[c]) + eps);
    }

    TANDEM_ASSIGN_OR_RETURN(Tensor w2, Tensor::allocate(DType::kFloat32, w->shape()));
    const float* wd = w->data<float>();
    float* wd2 = w2.data<float>();
    if (!transpose) {  // W [M, C/group, k...]
      const int64_t per = m > 0 ? w->numel() / m : 0;
      for (int64_t c = 0; c < m; ++c) {
        for (int64_t j = 0; j < per; ++j) wd2[c * per + j] = static_cast<float>(wd[c * per + j] * s[c]);
      }
    } else {  // W [C, M/group, k...]: input channel ci of group ci / (C/group) feeds outputs g*(M/group) + j
      const int64_t cin = w->dim(0), cg = cin / group, mg = w->dim(1);
      const int64_t kprod = cin * mg > 0 ? w->numel() / (cin * mg) : 0;
      for (int64_t c = 0; c < cin; ++c) {
        for (int64_t j = 0; j < mg; ++j) {
          const double sc = s[(c / cg) * mg + j];
          const int64_t base = (c * mg + j) * kprod;
          for (int64_t k = 0; k < kprod; ++k) wd2[base + k] = static_cast<float>(wd[base + k] * sc);
        }
      }
    }
    TANDEM_ASSIGN_OR_RETURN(Tensor b2, Tensor::allocate(DType::kFloat32, {m}));
    for (int64_t c = 0; c < m; ++c) {
      const double b0 = b != nullptr ? b->data<float>()[c] : 0.0;
      b2.data<float>()[c] = static_cast<float>((b0 - p[2]->data<float>()[c]) * s[c] + p[1]->data<float>()[c]);
    }

    graph::Node fused = conv;
    const std::string base = g.values[static_cast<size_t>(conv.inputs[1])].name;
    fused.inputs.resize(3);
    fused.inputs[1] = rw.add_constant(base + "_bn_folded", std::move(w2));
    fused.inputs[2] = rw.add_constant(base + "_bn_folded_bias", std::move(b2));
    fused.outputs = {bn.outputs[0]};
    // The Conv takes the BatchNormalization's place: everything it reads is defined before.
    rw.remove(static_cast<size_t>(ci));
    rw.replace(i, std::move(fused));
    ++count;
  }
  return count;
}

}  // namespace tandem::passes
