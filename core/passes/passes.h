// Graph rewrites that run once per session, after the first shape inference
// (so constants are folded) and before partitioning, so every backend sees the
// fused ops. Each rewrite fires only where it cannot change results; see
// core/passes/README.md for the patterns and the fused ops' semantics.
#pragma once

#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/runtime/status.h"

namespace tandem::passes {

// Domain of the fused ops the passes emit (FusedConv, FullyConnected, Gelu).
inline constexpr const char* kTandemDomain = "com.tandem";

struct OptimizeOptions {
  bool fold_batch_norm = true;   // Conv/ConvTranspose -> BatchNormalization: folded into W and B
  bool fuse_activations = true;  // Conv/FullyConnected -> Relu/Clip/HardSwish/Sigmoid: FusedConv/FullyConnected
  bool fuse_matmul_add = true;   // MatMul(X, W const) + Add(bias const), Gemm(B const): FullyConnected
  bool fuse_gelu = true;         // Erf- and tanh-based GELU subgraphs: com.tandem.Gelu
  bool fuse_layer_norm = true;   // ReduceMean/Sub/Pow/.../Div/Mul/Add over the last axis: LayerNormalization
};

// Rewrites the top-level graph in place (subgraphs are left alone) and
// re-finalizes it. Graph inputs and outputs keep their names and types.
// `applied` gets one line per rewrite that fired: "fold_batch_norm: 3".
Status optimize(graph::Graph& g, const OptimizeOptions& options, std::vector<std::string>* applied = nullptr);

}  // namespace tandem::passes
