// Graph IR: values (typed edges), nodes, attributes, initializers, opsets.
// Subgraphs (If/Loop/Scan bodies) are Graphs owned by attributes; names that
// a subgraph uses but does not define are its outer references.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/runtime/status.h"
#include "core/runtime/tensor.h"

namespace tandem::graph {

class Graph;

// One dimension: a known size (>= 0), a named symbol ("batch"), or unknown.
struct Dim {
  int64_t value = -1;
  std::string symbol;
  bool known() const { return value >= 0; }
  static Dim of(int64_t v) { return {v, {}}; }
};

// Static type of a value.
struct TypeInfo {
  enum class Kind { kUnknown, kTensor, kSequence, kOptional };
  Kind kind = Kind::kUnknown;
  DType dtype = DType::kUndefined;  // element type (of the tensor, or the sequence's tensors)
  bool has_shape = false;           // rank known
  std::vector<Dim> dims;
  Kind optional_of = Kind::kTensor;  // for kOptional: what it holds

  bool shape_known() const;      // every dim known
  Shape concrete_shape() const;  // requires shape_known()
  // Symbolic dimensions taken as 1: the shape planners and random feeds assume when none is given.
  Shape smallest_shape() const;
  static TypeInfo tensor(DType t, const Shape& s);
  std::string to_string() const;  // "float32[1, 3, ?]"
};

struct Attribute {
  enum class Type {
    kUndefined = 0,
    kFloat = 1,
    kInt = 2,
    kString = 3,
    kTensor = 4,
    kGraph = 5,
    kFloats = 6,
    kInts = 7,
    kStrings = 8,
    kTensors = 9,
    kGraphs = 10,
    kSparseTensor = 11,
    kSparseTensors = 12,
    kTypeProto = 13,
    kTypeProtos = 14
  };
  std::string name;
  Type type = Type::kUndefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
  std::string ref_attr_name;  // set inside function bodies; unused otherwise

  // For code that builds nodes (passes, self-tests).
  static Attribute of_int(std::string name, int64_t v);
  static Attribute of_ints(std::string name, std::vector<int64_t> v);
  static Attribute of_floats(std::string name, std::vector<float> v);
  static Attribute of_string(std::string name, std::string v);
};

using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;  // an omitted optional input or output

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" for the default ONNX domain
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  std::vector<Attribute> attributes;
  // Values of the enclosing graph that this node's subgraphs read (If/Loop/Scan).
  std::vector<ValueId> implicit_inputs;

  const Attribute* attr(const std::string& n) const;
  int64_t attr_int(const std::string& n, int64_t dflt) const;
  float attr_float(const std::string& n, float dflt) const;
  std::string attr_string(const std::string& n, const std::string& dflt) const;
  std::vector<int64_t> attr_ints(const std::string& n, std::vector<int64_t> dflt = {}) const;
  std::vector<float> attr_floats(const std::string& n, std::vector<float> dflt = {}) const;
  std::vector<std::string> attr_strings(const std::string& n) const;
  const Graph* attr_graph(const std::string& n) const;
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != kNoValue; }
  bool has_output(size_t i) const { return i < outputs.size() && outputs[i] != kNoValue; }
  // "node 'conv1' (Conv)" for error messages.
  std::string describe() const;
};

struct ValueEntry {
  std::string name;
  TypeInfo type;
  std::optional<Tensor> constant;  // initializer or folded constant
  bool is_graph_input = false;
  bool is_outer_ref = false;  // defined by an enclosing graph
  int32_t producer = -1;      // node index, -1 for inputs/constants/outer refs
};

class Graph {
 public:
  std::string name;
  std::vector<ValueEntry> values;
  std::vector<Node> nodes;      // topologically sorted once loaded
  std::vector<ValueId> inputs;  // real inputs (initializers excluded)
  std::vector<ValueId> outputs;
  std::vector<ValueId> outer_refs;
  std::map<std::string, int64_t> opsets;  // domain -> version ("" = ai.onnx)

  ValueId find(const std::string& value_name) const;
  // Adds a value, or returns the existing one with that name.
  ValueId intern(const std::string& value_name);
  ValueId add_value(const std::string& value_name);
  int64_t opset(const std::string& domain = "") const;

  // Sorts nodes topologically and fills producers; fails on cycles and on
  // inputs nobody defines.
  Status finalize();

 private:
  std::unordered_map<std::string, ValueId> by_name_;
};

// A node whose outputs were all folded to constants: nothing runs it.
bool is_folded(const Graph& g, const Node& n);

// Everything a model file carries besides the graph.
struct Model {
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::map<std::string, std::string> metadata;
  std::shared_ptr<Graph> graph;
};

}  // namespace tandem::graph
