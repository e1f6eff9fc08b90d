#include "backends/reference/reference_backend.h"

#include <map>
#include <mutex>
#include <new>
#include <stdexcept>

#include "backends/reference/kernel.h"
#include "core/plan/partition.h"

namespace tandem::reference {
namespace {

std::map<std::pair<std::string, std::string>, KernelFn, std::less<>>& kernels() {
  static std::map<std::pair<std::string, std::string>, KernelFn, std::less<>> k;
  return k;
}

void register_all() {
  register_elementwise_kernels();
  register_math_kernels();
  register_tensor_kernels();
  register_nn_kernels();
  register_reduction_kernels();
  register_recurrent_kernels();
  register_control_flow_kernels();
  register_quantization_kernels();
  register_sequence_kernels();
  register_misc_kernels();
}

const Value& empty_value() {
  static const Value v;
  return v;
}

// Values of a subgraph run: local storage, outer names resolved by the parent.
class LocalScope : public Scope {
 public:
  LocalScope(const graph::Graph& g, const Scope* parent) : graph_(g), parent_(parent), values_(g.values.size()) {}
  const graph::Graph& graph() const override { return graph_; }
  Value& value(graph::ValueId id) override { return values_[static_cast<size_t>(id)]; }
  Result<Tensor> allocate(graph::ValueId, DType dtype, Shape shape) override {
    return Tensor::allocate(dtype, std::move(shape));
  }
  const Value* find(const std::string& name) const override {
    const graph::ValueId id = graph_.find(name);
    if (id != graph::kNoValue && !values_[static_cast<size_t>(id)].empty()) return &values_[static_cast<size_t>(id)];
    return parent_ != nullptr ? parent_->find(name) : nullptr;
  }

 private:
  const graph::Graph& graph_;
  const Scope* parent_;
  std::vector<Value> values_;
};

// The session's frame seen as a scope.
class FrameScope : public Scope {
 public:
  explicit FrameScope(ExecutionFrame& frame) : frame_(frame) {}
  const graph::Graph& graph() const override { return frame_.graph(); }
  Value& value(graph::ValueId id) override { return frame_.value(id); }
  Result<Tensor> allocate(graph::ValueId id, DType dtype, Shape shape) override {
    return frame_.allocate(id, dtype, std::move(shape));
  }
  const Value* find(const std::string& name) const override {
    const graph::ValueId id = frame_.graph().find(name);
    if (id == graph::kNoValue || frame_.value(id).empty()) return nullptr;
    return &frame_.value(id);
  }

 private:
  ExecutionFrame& frame_;
};

Status run_kernel_guarded(KernelFn fn, KernelContext& ctx) {
  try {
    return fn(ctx);
  } catch (const std::bad_alloc&) {
    return out_of_memory("out of memory");
  } catch (const std::length_error&) {
    return out_of_memory("a size is too large");
  } catch (const std::exception& e) {
    return internal_error(std::string("unexpected error: ") + e.what());
  }
}

class ReferenceExecutable : public Executable {
 public:
  explicit ReferenceExecutable(std::vector<size_t> nodes) : nodes_(std::move(nodes)) {}
  Status run(ExecutionFrame& frame) override {
    FrameScope scope(frame);
    return run_nodes(frame.graph(), nodes_, scope, [&](size_t i) { frame.release_after(i); });
  }

 private:
  std::vector<size_t> nodes_;
};

class ReferenceBackend : public Backend {
 public:
  ReferenceBackend() {
    evaluator_ = [](const graph::Node& node, const graph::Graph& g, std::vector<Value>& inputs,
                    std::vector<Value>& outputs) -> Status {
      KernelFn fn = find_kernel(node.domain, node.op_type);
      if (fn == nullptr) return unsupported("no kernel for " + node.op_type);
      LocalScope scope(g, nullptr);
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        if (node.has_input(i)) scope.value(node.inputs[i]) = inputs[i];
      }
      KernelContext ctx(node, scope);
      TANDEM_RETURN_IF_ERROR(run_kernel_guarded(fn, ctx));
      for (size_t i = 0; i < node.outputs.size(); ++i) {
        if (node.has_output(i)) outputs[i] = scope.value(node.outputs[i]);
      }
      return Status::ok();
    };
  }
  std::string_view name() const override { return "reference"; }
  DeviceFacts device() const override { return {"cpu (reference kernels)", DeviceKind::kCpu, 0}; }
  bool supports(const graph::Node& node, const graph::Graph&) const override {
    return find_kernel(node.domain, node.op_type) != nullptr;
  }
  Result<std::unique_ptr<Executable>> compile(const graph::Graph&, const plan::Partition& partition,
                                              const CompileOptions&) override {
    return std::unique_ptr<Executable>(new ReferenceExecutable(partition.nodes));
  }
  const graph::NodeEvaluator* evaluator() const override { return &evaluator_; }

 private:
  graph::NodeEvaluator evaluator_;
};

}  // namespace

void register_kernel(std::string_view domain, std::string_view op_type, KernelFn fn) {
  kernels()[{std::string(domain), std::string(op_type)}] = fn;
}

KernelFn find_kernel(std::string_view domain, std::string_view op_type) {
  static std::once_flag once;
  std::call_once(once, register_all);
  if (domain == "ai.onnx") domain = "";
  auto it = kernels().find(std::make_pair(std::string(domain), std::string(op_type)));
  return it == kernels().end() ? nullptr : it->second;
}

bool KernelContext::has_input(size_t i) const {
  if (!node_.has_input(i)) return false;
  const Value& v = scope_.value(node_.inputs[i]);
  return !v.empty() && !v.is_none();
}

const Value& KernelContext::input_value(size_t i) const {
  if (!node_.has_input(i)) return empty_value();
  return scope_.value(node_.inputs[i]);
}

Result<Tensor> KernelContext::allocate_output(size_t i, DType dtype, Shape shape) {
  if (!has_output(i)) {  // an unrequested output still needs scratch storage
    return Tensor::allocate(dtype, std::move(shape));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor t, scope_.allocate(node_.outputs[i], dtype, std::move(shape)));
  scope_.value(node_.outputs[i]) = Value(t);
  return t;
}

void KernelContext::set_output(size_t i, Value v) {
  if (has_output(i)) scope_.value(node_.outputs[i]) = std::move(v);
}

Status KernelContext::error(const std::string& message) const {
  return invalid_argument(node_.describe() + ": " + message);
}

Status KernelContext::run_subgraph(const graph::Graph& body, const std::vector<Value>& inputs,
                                   std::vector<Value>* outputs) {
  LocalScope local(body, &scope_);
  if (inputs.size() != body.inputs.size()) {
    return error("subgraph '" + body.name + "' takes " + std::to_string(body.inputs.size()) + " inputs, got " +
                 std::to_string(inputs.size()));
  }
  for (size_t i = 0; i < body.values.size(); ++i) {
    const graph::ValueEntry& v = body.values[i];
    if (v.constant.has_value()) {
      local.value(static_cast<graph::ValueId>(i)) = Value(*v.constant);
    } else if (v.is_outer_ref) {
      const Value* outer = scope_.find(v.name);
      if (outer == nullptr) return error("subgraph reads '" + v.name + "', which is not defined in any enclosing graph");
      local.value(static_cast<graph::ValueId>(i)) = *outer;
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) local.value(body.inputs[i]) = inputs[i];
  std::vector<size_t> all(body.nodes.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  TANDEM_RETURN_IF_ERROR(run_nodes(body, all, local));
  outputs->clear();
  for (graph::ValueId o : body.outputs) outputs->push_back(local.value(o));
  return Status::ok();
}

Status run_nodes(const graph::Graph& graph, const std::vector<size_t>& node_indices, Scope& scope,
                 const std::function<void(size_t)>& after_node) {
  for (size_t index : node_indices) {
    const graph::Node& node = graph.nodes[index];
    if (graph::is_folded(graph, node)) continue;
    KernelFn fn = find_kernel(node.domain, node.op_type);
    if (fn == nullptr) return unsupported(node.describe() + " has no reference kernel");
    KernelContext ctx(node, scope);
    Status st = run_kernel_guarded(fn, ctx);
    if (!st.is_ok()) {
      const std::string desc = node.describe();
      return st.message().rfind(desc, 0) == 0 ? st : st.with_context(desc);
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.has_output(i) && scope.value(node.outputs[i]).empty()) {
        return internal_error(node.describe() + " did not produce output " + std::to_string(i));
      }
    }
    if (after_node) after_node(index);
  }
  return Status::ok();
}

std::shared_ptr<Backend> make_backend() { return std::make_shared<ReferenceBackend>(); }

}  // namespace tandem::reference
