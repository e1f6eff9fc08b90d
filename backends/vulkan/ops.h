// ONNX nodes (and Tandem's fused ops) as Vulkan kernel dispatches. can_lower() is the claim,
// checked on the symbolic graph; lower() runs on the shape-specialised graph at compile time and
// may still refuse a node (kUnsupported: the partition then runs on the fallback backend).
#pragma once

#include <map>
#include <vector>

#include "backends/vulkan/program.h"
#include "core/graph/graph.h"

namespace tandem::vulkan {

// Codes shared with shaders/common.glsl (activations) and unary.comp.
enum class Act : uint32_t {
  kNone = 0,
  kRelu = 1,
  kSigmoid = 2,
  kTanh = 3,
  kClip = 4,
  kHardSwish = 5,
  kLeakyRelu = 6,
  kGelu = 7,
  kGeluTanh = 8,
  kHardSigmoid = 9,
  kElu = 10,
};

// The values of one partition and their slots.
class Lowering {
 public:
  Lowering(const graph::Graph& g, Program& program, Context& context) : g_(g), program_(program), context_(context) {}

  const graph::Graph& graph() const { return g_; }
  Program& program() { return program_; }
  Context& context() { return context_; }
  Shape shape(graph::ValueId v) const { return g_.values[static_cast<size_t>(v)].type.concrete_shape(); }

  // The slot a node reads: made by an earlier node, a constant (uploaded once) or, the first time
  // it is seen, a partition input.
  uint32_t read(graph::ValueId v);
  // A new slot for a node's output.
  uint32_t write(graph::ValueId v);
  // `out` is `in` with another shape.
  void alias(graph::ValueId out, graph::ValueId in);
  bool has(graph::ValueId v) const { return slots_.count(v) > 0; }
  uint32_t slot(graph::ValueId v) const { return slots_.at(v); }
  const std::vector<graph::ValueId>& inputs() const { return inputs_; }

 private:
  const graph::Graph& g_;
  Program& program_;
  Context& context_;
  std::map<graph::ValueId, uint32_t> slots_;
  std::vector<graph::ValueId> inputs_;
};

bool can_lower(const graph::Node& node, const graph::Graph& g);
Status lower(const graph::Node& node, Lowering& l);

}  // namespace tandem::vulkan
