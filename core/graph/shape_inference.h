// Type and shape inference, with constant propagation: when every input of a
// node is known, an evaluator (any backend that can run single nodes) computes
// the output, which folds the Shape/Gather/Concat/Unsqueeze chains exporters emit.
// Inference is best effort: an op without a rule leaves its outputs unknown and
// the runtime then sizes them when they are produced.
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "core/graph/graph.h"
#include "core/runtime/value.h"

namespace tandem::graph {

class InferContext {
 public:
  InferContext(const Node& node, Graph& graph) : node_(node), graph_(graph) {}

  const Node& node() const { return node_; }
  int64_t opset() const { return graph_.opset(node_.domain); }
  size_t num_inputs() const { return node_.inputs.size(); }
  size_t num_outputs() const { return node_.outputs.size(); }
  bool has_input(size_t i) const { return node_.has_input(i); }
  bool has_output(size_t i) const { return node_.has_output(i); }
  // Type of input i (kUnknown kind when absent).
  const TypeInfo& input_type(size_t i) const;
  // Value of input i when it is constant, else nullptr.
  const Tensor* input_constant(size_t i) const;
  // Shape of input i when fully known.
  bool input_shape(size_t i, Shape* out) const;
  TypeInfo& output_type(size_t i);
  void set_output(size_t i, DType dtype, const std::vector<Dim>& dims);
  void set_output(size_t i, DType dtype, const Shape& shape);
  void set_output_rank_unknown(size_t i, DType dtype);
  // Output i's value is known without running (Shape of a known shape, Size).
  void set_output_constant(size_t i, Tensor value);
  // Copies input i's type to output o (elementwise unary ops).
  void propagate(size_t i, size_t o);

 private:
  const Node& node_;
  Graph& graph_;
};

using InferFn = Status (*)(InferContext&);

void register_infer(std::string_view domain, std::string_view op_type, InferFn fn);
InferFn find_infer(std::string_view domain, std::string_view op_type);

// Runs one node on constant inputs; a backend supplies it (core never includes one).
using NodeEvaluator = std::function<Status(const Node& node, const Graph& graph, std::vector<Value>& inputs,
                                           std::vector<Value>& outputs)>;

struct InferOptions {
  const NodeEvaluator* evaluator = nullptr;  // null: no constant folding
  int64_t max_folded_elements = int64_t{1} << 20;
};

// Infers every value's type in topological order. Errors are real conflicts
// (e.g. MatMul of [2,3] by [4,5]); missing rules are not errors.
Status infer_shapes(Graph& graph, const InferOptions& options = {});

// Broadcasting of dims per numpy rules; fails on incompatible known sizes.
Result<std::vector<Dim>> broadcast_dims(const std::vector<Dim>& a, const std::vector<Dim>& b);
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// Registers the built-in rules (called once, lazily, by find_infer).
void register_builtin_infer_rules();

}  // namespace tandem::graph
