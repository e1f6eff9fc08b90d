#include "core/graph/graph.h"

#include <deque>

namespace tandem::graph {

bool TypeInfo::shape_known() const {
  if (!has_shape) return false;
  for (const Dim& d : dims) {
    if (!d.known()) return false;
  }
  return true;
}

Shape TypeInfo::smallest_shape() const {
  Shape s;
  s.reserve(dims.size());
  for (const Dim& d : dims) s.push_back(d.known() ? d.value : 1);
  return s;
}

Shape TypeInfo::concrete_shape() const {
  Shape s;
  s.reserve(dims.size());
  for (const Dim& d : dims) s.push_back(d.value);
  return s;
}

TypeInfo TypeInfo::tensor(DType t, const Shape& s) {
  TypeInfo info;
  info.kind = Kind::kTensor;
  info.dtype = t;
  info.has_shape = true;
  for (int64_t d : s) info.dims.push_back(Dim::of(d));
  return info;
}

std::string TypeInfo::to_string() const {
  std::string prefix;
  if (kind == Kind::kSequence) prefix = "sequence<";
  if (kind == Kind::kOptional) prefix = "optional<";
  std::string s = prefix + dtype_name(dtype);
  if (has_shape) {
    s += "[";
    for (size_t i = 0; i < dims.size(); ++i) {
      if (i) s += ", ";
      s += dims[i].known() ? std::to_string(dims[i].value) : (dims[i].symbol.empty() ? "?" : dims[i].symbol);
    }
    s += "]";
  }
  return prefix.empty() ? s : s + ">";
}

const Attribute* Node::attr(const std::string& n) const {
  for (const Attribute& a : attributes) {
    if (a.name == n) return &a;
  }
  return nullptr;
}

int64_t Node::attr_int(const std::string& n, int64_t dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kInt ? a->i : dflt;
}

float Node::attr_float(const std::string& n, float dflt) const {
  const Attribute* a = attr(n);
  if (a && a->type == Attribute::Type::kFloat) return a->f;
  if (a && a->type == Attribute::Type::kInt) return static_cast<float>(a->i);
  return dflt;
}

std::string Node::attr_string(const std::string& n, const std::string& dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kString ? a->s : dflt;
}

std::vector<int64_t> Node::attr_ints(const std::string& n, std::vector<int64_t> dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kInts ? a->ints : dflt;
}

std::vector<float> Node::attr_floats(const std::string& n, std::vector<float> dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kFloats ? a->floats : dflt;
}

std::vector<std::string> Node::attr_strings(const std::string& n) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kStrings ? a->strings : std::vector<std::string>{};
}

const Graph* Node::attr_graph(const std::string& n) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kGraph ? a->g.get() : nullptr;
}

std::string Node::describe() const {
  std::string d = "node '" + name + "' (";
  if (!domain.empty()) d += domain + ".";
  return d + op_type + ")";
}

ValueId Graph::find(const std::string& value_name) const {
  auto it = by_name_.find(value_name);
  return it == by_name_.end() ? kNoValue : it->second;
}

ValueId Graph::intern(const std::string& value_name) {
  ValueId id = find(value_name);
  return id != kNoValue ? id : add_value(value_name);
}

ValueId Graph::add_value(const std::string& value_name) {
  const auto id = static_cast<ValueId>(values.size());
  values.push_back({});
  values.back().name = value_name;
  if (!value_name.empty()) by_name_[value_name] = id;
  return id;
}

int64_t Graph::opset(const std::string& domain) const {
  auto it = opsets.find(domain);
  if (it == opsets.end() && domain == "ai.onnx") it = opsets.find("");
  return it == opsets.end() ? 0 : it->second;
}

Status Graph::finalize() {
  const size_t n = nodes.size();
  for (ValueEntry& v : values) v.producer = -1;
  for (size_t i = 0; i < n; ++i) {
    for (ValueId out : nodes[i].outputs) {
      if (out == kNoValue) continue;
      ValueEntry& v = values[static_cast<size_t>(out)];
      if (v.producer >= 0 || v.is_graph_input || v.constant.has_value()) {
        return invalid_model("value '" + v.name + "' is produced more than once (by " + nodes[i].describe() + ")");
      }
      v.producer = static_cast<int32_t>(i);
    }
  }
  // Kahn's algorithm; ties keep file order so execution order is predictable.
  std::vector<size_t> pending(n, 0);
  std::vector<std::vector<size_t>> consumers(n);
  for (size_t i = 0; i < n; ++i) {
    auto add_edge = [&](ValueId in) -> Status {
      if (in == kNoValue) return Status::ok();
      ValueEntry& v = values[static_cast<size_t>(in)];
      if (v.producer >= 0) {
        consumers[static_cast<size_t>(v.producer)].push_back(i);
        ++pending[i];
      } else if (!v.is_graph_input && !v.constant.has_value() && !v.is_outer_ref) {
        return invalid_model(nodes[i].describe() + " reads '" + v.name +
                             "', which is neither a graph input, an initializer nor any node's output");
      }
      return Status::ok();
    };
    for (ValueId in : nodes[i].inputs) TANDEM_RETURN_IF_ERROR(add_edge(in));
    for (ValueId in : nodes[i].implicit_inputs) TANDEM_RETURN_IF_ERROR(add_edge(in));
  }
  std::deque<size_t> ready;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push_back(i);
  }
  std::vector<size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    const size_t i = ready.front();
    ready.pop_front();
    order.push_back(i);
    for (size_t c : consumers[i]) {
      if (--pending[c] == 0) ready.push_back(c);
    }
  }
  if (order.size() != n) {
    for (size_t i = 0; i < n; ++i) {
      if (pending[i] != 0) {
        return invalid_model("the graph has a cycle through " + nodes[i].describe());
      }
    }
  }
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (size_t i : order) sorted.push_back(std::move(nodes[i]));
  nodes = std::move(sorted);
  for (size_t i = 0; i < n; ++i) {
    for (ValueId out : nodes[i].outputs) {
      if (out != kNoValue) values[static_cast<size_t>(out)].producer = static_cast<int32_t>(i);
    }
  }
  for (ValueId out : outputs) {
    const ValueEntry& v = values[static_cast<size_t>(out)];
    if (v.producer < 0 && !v.is_graph_input && !v.constant.has_value() && !v.is_outer_ref) {
      return invalid_model("graph output '" + v.name + "' is never produced");
    }
  }
  return Status::ok();
}

Attribute Attribute::of_int(std::string name, int64_t v) {
  Attribute a;
  a.name = std::move(name);
  a.type = Type::kInt;
  a.i = v;
  return a;
}

Attribute Attribute::of_ints(std::string name, std::vector<int64_t> v) {
  Attribute a;
  a.name = std::move(name);
  a.type = Type::kInts;
  a.ints = std::move(v);
  return a;
}

Attribute Attribute::of_floats(std::string name, std::vector<float> v) {
  Attribute a;
  a.name = std::move(name);
  a.type = Type::kFloats;
  a.floats = std::move(v);
  return a;
}

Attribute Attribute::of_string(std::string name, std::string v) {
  Attribute a;
  a.name = std::move(name);
  a.type = Type::kString;
  a.s = std::move(v);
  return a;
}

bool is_folded(const Graph& g, const Node& n) {
  if (n.outputs.empty()) return false;
  for (ValueId o : n.outputs) {
    if (o != kNoValue && !g.values[static_cast<size_t>(o)].constant.has_value()) return false;
  }
  return true;
}

}  // namespace tandem::graph
