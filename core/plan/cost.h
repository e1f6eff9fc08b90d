// A rough compute cost for a graph with concrete shapes: the router's "estimated FLOPs".
#pragma once

#include <cstdint>

#include "core/graph/graph.h"

namespace tandem::plan {

// Multiply-adds count two. Conv, ConvTranspose, MatMul, Gemm and their fused forms are counted
// from their shapes; every other node counts one operation per output element. Nodes whose
// shapes are not known count nothing, so the result is a lower bound.
uint64_t estimate_flops(const graph::Graph& graph);

}  // namespace tandem::plan
