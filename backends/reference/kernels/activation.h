// Activation functions shared by the elementwise kernels (Relu, Sigmoid,
// HardSwish, Clip) and the fused ops of core/passes (com.tandem.FusedConv and
// com.tandem.FullyConnected apply one to their result), so both compute
// exactly the same values.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "core/passes/passes.h"

namespace tandem::reference {

template <typename T>
T relu(T v) {
  return v > T(0) ? v : T(0);
}

template <typename T>
T sigmoid(T v) {
  // Split by sign so exp never overflows.
  if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
  const T e = std::exp(v);
  return e / (T(1) + e);
}

template <typename T>
T hard_swish(T v) {
  return v * std::max(T(0), std::min(T(1), v / T(6) + T(0.5)));
}

// Clip's order: the lower bound first, so hi wins when lo > hi (as ONNX's reference does).
template <typename T>
T clip(T v, T lo, T hi) {
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return v;
}

// The activation attribute of a fused op: "activation" (string) and, for
// Clip, "activation_params" = [min, max]. Nodes outside com.tandem have none.
struct FusedActivation {
  enum class Kind { kNone, kRelu, kClip, kHardSwish, kSigmoid };
  Kind kind = Kind::kNone;
  float lo = 0, hi = 0;

  template <typename T>
  void apply(T* data, int64_t n) const {
    switch (kind) {
      case Kind::kNone: return;
      case Kind::kRelu: for (int64_t i = 0; i < n; ++i) data[i] = relu(data[i]); return;
      case Kind::kSigmoid: for (int64_t i = 0; i < n; ++i) data[i] = sigmoid(data[i]); return;
      case Kind::kHardSwish: for (int64_t i = 0; i < n; ++i) data[i] = hard_swish(data[i]); return;
      case Kind::kClip:
        for (int64_t i = 0; i < n; ++i) data[i] = clip(data[i], static_cast<T>(lo), static_cast<T>(hi));
        return;
    }
  }
};

inline Result<FusedActivation> fused_activation(const KernelContext& ctx) {
  FusedActivation a;
  const graph::Node& node = ctx.node();
  if (node.domain != passes::kTandemDomain || node.attr("activation") == nullptr) return a;
  const std::string name = node.attr_string("activation", "");
  const std::vector<float> params = node.attr_floats("activation_params");
  if (name == "Relu") {
    a.kind = FusedActivation::Kind::kRelu;
  } else if (name == "Sigmoid") {
    a.kind = FusedActivation::Kind::kSigmoid;
  } else if (name == "HardSwish") {
    a.kind = FusedActivation::Kind::kHardSwish;
  } else if (name == "Clip") {
    if (params.size() != 2) return ctx.error("activation Clip needs activation_params [min, max]");
    a.kind = FusedActivation::Kind::kClip;
    a.lo = params[0];
    a.hi = params[1];
  } else {
    return ctx.error("unknown activation '" + name + "' (expected Relu, Clip, HardSwish or Sigmoid)");
  }
  return a;
}

}  // namespace tandem::reference
