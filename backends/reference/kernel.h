// Kernel interface of the reference backend: one function per ONNX operator,
// registered by (domain, op_type). A kernel reads its inputs, computes output
// shapes itself, and asks the context for output storage (so outputs land in
// their planned arena slot). Kernels must not throw.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/graph/graph.h"
#include "core/runtime/status.h"
#include "core/runtime/value.h"

namespace tandem::reference {

// Where values live while a graph runs: the session frame, or a subgraph's locals.
class Scope {
 public:
  virtual ~Scope() = default;
  virtual const graph::Graph& graph() const = 0;
  virtual Value& value(graph::ValueId id) = 0;
  virtual Result<Tensor> allocate(graph::ValueId id, DType dtype, Shape shape) = 0;
  // A value by name, looking through enclosing scopes (subgraph outer references).
  virtual const Value* find(const std::string& name) const = 0;
};

class KernelContext {
 public:
  KernelContext(const graph::Node& node, Scope& scope) : node_(node), scope_(scope) {}

  const graph::Node& node() const { return node_; }
  int64_t opset() const { return scope_.graph().opset(node_.domain); }

  size_t num_inputs() const { return node_.inputs.size(); }
  // Present: given in the node and not an empty optional.
  bool has_input(size_t i) const;
  const Value& input_value(size_t i) const;
  const Tensor& input(size_t i) const { return input_value(i).tensor(); }

  size_t num_outputs() const { return node_.outputs.size(); }
  bool has_output(size_t i) const { return node_.has_output(i); }
  // Storage for output i; also records it as the output's value.
  Result<Tensor> allocate_output(size_t i, DType dtype, Shape shape);
  // Sets output i directly (views of inputs, sequences, optionals).
  void set_output(size_t i, Value v);

  // Runs a subgraph (If/Loop/Scan body) with these inputs; outer references
  // resolve through this node's scope.
  Status run_subgraph(const graph::Graph& body, const std::vector<Value>& inputs, std::vector<Value>* outputs);

  // invalid_argument naming the node: "node 'x' (Concat): <message>".
  Status error(const std::string& message) const;

 private:
  const graph::Node& node_;
  Scope& scope_;
};

using KernelFn = Status (*)(KernelContext&);

void register_kernel(std::string_view domain, std::string_view op_type, KernelFn fn);
KernelFn find_kernel(std::string_view domain, std::string_view op_type);

// Runs the given nodes of a graph in order within a scope. `after_node` is
// called after each node (to release dead values).
Status run_nodes(const graph::Graph& graph, const std::vector<size_t>& node_indices, Scope& scope,
                 const std::function<void(size_t)>& after_node = {});

// One registration function per kernel family (kernels/<family>.cc).
void register_elementwise_kernels();
void register_math_kernels();
void register_tensor_kernels();
void register_nn_kernels();
void register_reduction_kernels();
void register_recurrent_kernels();
void register_control_flow_kernels();
void register_quantization_kernels();
void register_sequence_kernels();
void register_misc_kernels();

}  // namespace tandem::reference
