#include "core/graph/shape_inference.h"

#include <map>
#include <mutex>
#include <string>

namespace tandem::graph {
namespace {

struct Registry {
  std::map<std::pair<std::string, std::string>, InferFn, std::less<>> fns;
};

Registry& registry() {
  static Registry r;
  return r;
}

const TypeInfo& unknown_type() {
  static const TypeInfo t;
  return t;
}

bool is_nondeterministic(const Node& n) {
  return n.op_type.rfind("Random", 0) == 0 || n.op_type == "Bernoulli" || n.op_type == "Multinomial";
}

bool has_subgraph(const Node& n) {
  for (const Attribute& a : n.attributes) {
    if (a.g || !a.graphs.empty()) return true;
  }
  return false;
}

// Folding must never be what makes a model too big: fold when the outputs are
// known to be small, or, for ops whose output is no larger than their inputs,
// when the inputs are small.
bool fold_is_small(const Node& node, const Graph& graph, int64_t max_elements) {
  bool all_outputs_known = true;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (!node.has_output(i)) continue;
    const TypeInfo& t = graph.values[static_cast<size_t>(node.outputs[i])].type;
    if (!t.shape_known()) {
      all_outputs_known = false;
    } else if (shape_numel(t.concrete_shape()) > max_elements) {
      return false;
    }
  }
  if (all_outputs_known) return true;
  static const char* const kGrowing[] = {"ConstantOfShape", "Expand", "Tile", "Range", "Resize", "Upsample",
                                         "Pad", "OneHot", "EyeLike", "MatMul", "Gemm", "Einsum", "Constant"};
  for (const char* op : kGrowing) {
    if (node.op_type == op) return node.op_type == "Constant";
  }
  int64_t total = 0;
  for (ValueId in : node.inputs) {
    if (in != kNoValue) total += graph.values[static_cast<size_t>(in)].constant->numel();
  }
  return total <= max_elements;
}

}  // namespace

const TypeInfo& InferContext::input_type(size_t i) const {
  if (!has_input(i)) return unknown_type();
  return graph_.values[static_cast<size_t>(node_.inputs[i])].type;
}

const Tensor* InferContext::input_constant(size_t i) const {
  if (!has_input(i)) return nullptr;
  const auto& c = graph_.values[static_cast<size_t>(node_.inputs[i])].constant;
  return c.has_value() ? &*c : nullptr;
}

bool InferContext::input_shape(size_t i, Shape* out) const {
  const TypeInfo& t = input_type(i);
  if (!t.shape_known()) return false;
  *out = t.concrete_shape();
  return true;
}

TypeInfo& InferContext::output_type(size_t i) {
  return graph_.values[static_cast<size_t>(node_.outputs[i])].type;
}

void InferContext::set_output(size_t i, DType dtype, const std::vector<Dim>& dims) {
  if (!has_output(i)) return;
  TypeInfo& t = output_type(i);
  t.kind = TypeInfo::Kind::kTensor;
  t.dtype = dtype;
  t.has_shape = true;
  t.dims = dims;
}

void InferContext::set_output(size_t i, DType dtype, const Shape& shape) {
  std::vector<Dim> dims;
  dims.reserve(shape.size());
  for (int64_t d : shape) dims.push_back(Dim::of(d));
  set_output(i, dtype, dims);
}

void InferContext::set_output_rank_unknown(size_t i, DType dtype) {
  if (!has_output(i)) return;
  TypeInfo& t = output_type(i);
  t.kind = TypeInfo::Kind::kTensor;
  t.dtype = dtype;
  t.has_shape = false;
  t.dims.clear();
}

void InferContext::set_output_constant(size_t i, Tensor value) {
  if (!has_output(i)) return;
  ValueEntry& v = graph_.values[static_cast<size_t>(node_.outputs[i])];
  v.type = TypeInfo::tensor(value.dtype(), value.shape());
  v.constant = std::move(value);
}

void InferContext::propagate(size_t i, size_t o) {
  if (!has_output(o)) return;
  output_type(o) = input_type(i);
}

void register_infer(std::string_view domain, std::string_view op_type, InferFn fn) {
  registry().fns[{std::string(domain), std::string(op_type)}] = fn;
}

InferFn find_infer(std::string_view domain, std::string_view op_type) {
  static std::once_flag once;
  std::call_once(once, register_builtin_infer_rules);
  auto it = registry().fns.find(std::make_pair(std::string(domain), std::string(op_type)));
  return it == registry().fns.end() ? nullptr : it->second;
}

Result<std::vector<Dim>> broadcast_dims(const std::vector<Dim>& a, const std::vector<Dim>& b) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<Dim> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const Dim da = i < rank - a.size() ? Dim::of(1) : a[i - (rank - a.size())];
    const Dim db = i < rank - b.size() ? Dim::of(1) : b[i - (rank - b.size())];
    if (da.known() && db.known()) {
      if (da.value != db.value && da.value != 1 && db.value != 1) {
        return invalid_argument("cannot broadcast dimension " + std::to_string(da.value) + " with " +
                                std::to_string(db.value));
      }
      out[i] = Dim::of(da.value == 1 ? db.value : da.value);
    } else if (da.known() && da.value != 1) {
      out[i] = da;
    } else if (db.known() && db.value != 1) {
      out[i] = db;
    } else if (!da.known() && !db.known() && !da.symbol.empty() && da.symbol == db.symbol) {
      out[i] = da;
    } else if (da.known()) {  // da == 1
      out[i] = db;
    } else if (db.known()) {  // db == 1
      out[i] = da;
    } else {
      out[i] = Dim{};
    }
  }
  return out;
}

Result<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  std::vector<Dim> da, db;
  for (int64_t d : a) da.push_back(Dim::of(d));
  for (int64_t d : b) db.push_back(Dim::of(d));
  TANDEM_ASSIGN_OR_RETURN(std::vector<Dim> out, broadcast_dims(da, db));
  Shape s;
  for (const Dim& d : out) s.push_back(d.value);
  return s;
}

Status infer_shapes(Graph& graph, const InferOptions& options) {
  for (Node& node : graph.nodes) {
    bool all_constant = !node.inputs.empty() || node.op_type == "Constant";
    for (ValueId in : node.inputs) {
      if (in != kNoValue && !graph.values[static_cast<size_t>(in)].constant.has_value()) all_constant = false;
    }
    if (!node.implicit_inputs.empty()) all_constant = false;

    InferContext ctx(node, graph);
    if (InferFn fn = find_infer(node.domain, node.op_type)) {
      Status st = fn(ctx);
      if (!st.is_ok()) return st.with_context(node.describe());
    }

    bool already_folded = true;
    for (ValueId out : node.outputs) {
      if (out != kNoValue && !graph.values[static_cast<size_t>(out)].constant.has_value()) already_folded = false;
    }
    if (already_folded || !all_constant || options.evaluator == nullptr || is_nondeterministic(node) ||
        has_subgraph(node)) {
      continue;
    }
    // Fold only small results: folding must never be what makes a model too big.
    if (!fold_is_small(node, graph, options.max_folded_elements)) continue;
    std::vector<Value> inputs;
    for (ValueId in : node.inputs) {
      inputs.push_back(in == kNoValue ? Value() : Value(*graph.values[static_cast<size_t>(in)].constant));
    }
    std::vector<Value> outputs(node.outputs.size());
    Status st = (*options.evaluator)(node, graph, inputs, outputs);
    if (!st.is_ok()) return st.with_context(node.describe());
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (!node.has_output(i) || !outputs[i].is_tensor()) continue;
      ValueEntry& v = graph.values[static_cast<size_t>(node.outputs[i])];
      v.type = TypeInfo::tensor(outputs[i].tensor().dtype(), outputs[i].tensor().shape());
      v.constant = std::move(outputs[i].tensor());
    }
  }
  return Status::ok();
}

}  // namespace tandem::graph
