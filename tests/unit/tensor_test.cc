// Tensor-family kernels and shape rules: views stay views, bad indices are
// errors, edge cases (negative steps, clamping, pad modes) and symbolic shapes.
#include <gtest/gtest.h>

#include "backends/reference/kernel.h"
#include "core/graph/shape_inference.h"

namespace tandem {
namespace {

using graph::Attribute;
using graph::Graph;
using graph::Node;

class TestScope : public reference::Scope {
 public:
  explicit TestScope(const Graph& g) : g_(g), values_(g.values.size()) {}
  const Graph& graph() const override { return g_; }
  Value& value(graph::ValueId id) override { return values_[static_cast<size_t>(id)]; }
  Result<Tensor> allocate(graph::ValueId, DType dtype, Shape shape) override {
    return Tensor::allocate(dtype, std::move(shape));
  }
  const Value* find(const std::string&) const override { return nullptr; }

 private:
  const Graph& g_;
  std::vector<Value> values_;
};

Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute int_attr(const std::string& name, int64_t v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInt;
  a.i = v;
  return a;
}
Attribute string_attr(const std::string& name, std::string v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kString;
  a.s = std::move(v);
  return a;
}

// Runs one op on the given inputs (an undefined Tensor = omitted input).
Result<std::vector<Value>> run_op(const std::string& op, const std::vector<Tensor>& inputs, size_t n_outputs = 1,
                                  std::vector<Attribute> attrs = {}, int64_t opset = 17) {
  Graph g;
  g.opsets[""] = opset;
  Node n;
  n.op_type = op;
  n.name = "n";
  n.attributes = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    n.inputs.push_back(inputs[i].defined() ? g.add_value("in" + std::to_string(i)) : graph::kNoValue);
  }
  for (size_t i = 0; i < n_outputs; ++i) n.outputs.push_back(g.add_value("out" + std::to_string(i)));
  g.nodes.push_back(n);
  TestScope scope(g);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined()) scope.value(n.inputs[i]) = Value(inputs[i]);
  }
  reference::KernelFn fn = reference::find_kernel("", op);
  if (fn == nullptr) return unsupported("no kernel for " + op);
  reference::KernelContext ctx(g.nodes[0], scope);
  TANDEM_RETURN_IF_ERROR(fn(ctx));
  std::vector<Value> outs;
  for (graph::ValueId o : g.nodes[0].outputs) outs.push_back(scope.value(o));
  return outs;
}

Tensor ints(Shape s, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(std::move(s), v); }
Tensor floats(Shape s, std::vector<float> v) { return Tensor::from_vector<float>(std::move(s), v); }
std::vector<float> as_floats(const Value& v) { return v.tensor().to_float_vector(); }

TEST(TensorKernels, ReshapeIsAViewAndResolvesZeroAndMinusOne) {
  Tensor x = floats({2, 3, 4}, std::vector<float>(24, 1.0f));
  auto r = run_op("Reshape", {x, ints({2}, {0, -1})});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].tensor().shape(), (Shape{2, 12}));
  EXPECT_EQ((*r)[0].tensor().raw_data(), x.raw_data());
  EXPECT_FALSE(run_op("Reshape", {x, ints({2}, {5, -1})}).is_ok());
  EXPECT_FALSE(run_op("Reshape", {x, ints({2}, {-1, -1})}).is_ok());
}

TEST(TensorKernels, SqueezeUnsqueezeFlattenAreViews) {
  Tensor x = floats({1, 3, 1}, {1, 2, 3});
  auto s = run_op("Squeeze", {x});
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ((*s)[0].tensor().shape(), (Shape{3}));
  EXPECT_EQ((*s)[0].tensor().raw_data(), x.raw_data());
  auto u = run_op("Unsqueeze", {x, ints({2}, {0, -1})});
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ((*u)[0].tensor().shape(), (Shape{1, 1, 3, 1, 1}));
  EXPECT_FALSE(run_op("Squeeze", {x, ints({1}, {1})}).is_ok());  // size 3
  auto f = run_op("Flatten", {x}, 1, {int_attr("axis", 0)});
  ASSERT_TRUE(f.is_ok());
  EXPECT_EQ((*f)[0].tensor().shape(), (Shape{1, 3}));
}

TEST(TensorKernels, GatherRejectsOutOfRangeIndices) {
  Tensor x = floats({3, 2}, {1, 2, 3, 4, 5, 6});
  auto ok = run_op("Gather", {x, ints({2}, {-1, 0})});
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ(as_floats((*ok)[0]), (std::vector<float>{5, 6, 1, 2}));
  auto bad = run_op("Gather", {x, ints({1}, {3})});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("out of range"), std::string::npos) << bad.status().to_string();
  EXPECT_FALSE(run_op("GatherElements", {x, ints({1, 1}, {-4})}).is_ok());
  EXPECT_FALSE(run_op("GatherND", {x, ints({1, 2}, {0, 2})}).is_ok());
  EXPECT_FALSE(run_op("ScatterND", {x, ints({1, 1}, {7}), floats({1, 2}, {0, 0})}).is_ok());
  EXPECT_FALSE(run_op("Gather", {x, floats({1}, {0})}).is_ok());  // float indices
}

TEST(TensorKernels, SliceHandlesNegativeStepsAndClamping) {
  Tensor x = floats({5}, {0, 1, 2, 3, 4});
  const int64_t big = INT64_MAX;
  auto r = run_op("Slice", {x, ints({1}, {-1}), ints({1}, {-big}), ints({1}, {0}), ints({1}, {-2})});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(as_floats((*r)[0]), (std::vector<float>{4, 2, 0}));
  auto c = run_op("Slice", {x, ints({1}, {1}), ints({1}, {1000})});
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(as_floats((*c)[0]), (std::vector<float>{1, 2, 3, 4}));
  auto e = run_op("Slice", {x, ints({1}, {1000}), ints({1}, {2000})});
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ((*e)[0].tensor().numel(), 0);
  EXPECT_FALSE(run_op("Slice", {x, ints({1}, {0}), ints({1}, {2}), ints({1}, {0}), ints({1}, {0})}).is_ok());
}

TEST(TensorKernels, PadModes) {
  Tensor x = floats({3}, {1, 2, 3});
  Tensor pads = ints({2}, {2, 2});
  auto run = [&](const char* mode) {
    auto r = run_op("Pad", {x, pads}, 1, {string_attr("mode", mode)});
    return r.is_ok() ? as_floats((*r)[0]) : std::vector<float>{};
  };
  EXPECT_EQ(run("constant"), (std::vector<float>{0, 0, 1, 2, 3, 0, 0}));
  EXPECT_EQ(run("reflect"), (std::vector<float>{3, 2, 1, 2, 3, 2, 1}));
  EXPECT_EQ(run("edge"), (std::vector<float>{1, 1, 1, 2, 3, 3, 3}));
  EXPECT_EQ(run("wrap"), (std::vector<float>{2, 3, 1, 2, 3, 1, 2}));
  auto crop = run_op("Pad", {x, ints({2}, {-1, 0})});
  ASSERT_TRUE(crop.is_ok());
  EXPECT_EQ(as_floats((*crop)[0]), (std::vector<float>{2, 3}));
}

TEST(TensorKernels, TransposeTileExpand) {
  Tensor x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  auto t = run_op("Transpose", {x});
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(as_floats((*t)[0]), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  auto tile = run_op("Tile", {floats({2}, {1, 2}), ints({1}, {3})});
  ASSERT_TRUE(tile.is_ok());
  EXPECT_EQ(as_floats((*tile)[0]), (std::vector<float>{1, 2, 1, 2, 1, 2}));
  auto ex = run_op("Expand", {floats({2, 1}, {1, 2}), ints({2}, {2, 2})});
  ASSERT_TRUE(ex.is_ok());
  EXPECT_EQ(as_floats((*ex)[0]), (std::vector<float>{1, 1, 2, 2}));
  EXPECT_FALSE(run_op("Expand", {x, ints({2}, {2, 4})}).is_ok());
}

TEST(TensorKernels, ScatterElementsReductions) {
  Tensor data = floats({4}, {1, 1, 1, 1});
  Tensor idx = ints({3}, {1, 1, -1});
  Tensor upd = floats({3}, {2, 3, 5});
  Attribute red = string_attr("reduction", "add");
  auto r = run_op("ScatterElements", {data, idx, upd}, 1, {red});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(as_floats((*r)[0]), (std::vector<float>{1, 6, 1, 6}));
}

TEST(TensorKernels, SplitUnevenWithNumOutputs) {
  auto r = run_op("Split", {floats({5}, {1, 2, 3, 4, 5})}, 3, {int_attr("num_outputs", 3)}, 18);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(as_floats((*r)[2]), (std::vector<float>{5}));
  EXPECT_FALSE(run_op("Split", {floats({5}, {1, 2, 3, 4, 5})}, 2).is_ok());
}

TEST(TensorKernels, AbsurdSizesAreErrorsNotCrashes) {
  Tensor x = floats({2, 2}, {1, 2, 3, 4});
  EXPECT_FALSE(run_op("Pad", {x, ints({4}, {0, 0, INT64_MAX, INT64_MAX})}).is_ok());
  EXPECT_FALSE(run_op("Pad", {x, ints({4}, {0, 0, int64_t{1} << 40, 0})}).is_ok());
  EXPECT_FALSE(run_op("Tile", {x, ints({2}, {int64_t{1} << 40, int64_t{1} << 40})}).is_ok());
  EXPECT_FALSE(run_op("Expand", {x, ints({3}, {int64_t{1} << 40, 2, 2})}).is_ok());
  EXPECT_FALSE(run_op("ConstantOfShape", {ints({2}, {int64_t{1} << 40, 1 << 20})}).is_ok());
  EXPECT_FALSE(run_op("Range", {ints({}, {0}), ints({}, {INT64_MAX}), ints({}, {1})}).is_ok());
  EXPECT_FALSE(run_op("DepthToSpace", {floats({1, 4, 1, 1}, {1, 2, 3, 4})}, 1,
                      {int_attr("blocksize", INT64_MAX)}).is_ok());
  EXPECT_FALSE(run_op("OneHot", {ints({1}, {0}), ints({}, {int64_t{1} << 40}), floats({2}, {0, 1})}).is_ok());
  EXPECT_FALSE(run_op("Squeeze", {Tensor{}}).is_ok());
}

// --- shape rules ---

struct RuleGraph {
  Graph g;
  graph::ValueId value(const std::string& name, DType dt, std::vector<graph::Dim> dims) {
    graph::ValueId id = g.add_value(name);
    auto& t = g.values[static_cast<size_t>(id)].type;
    t.kind = graph::TypeInfo::Kind::kTensor;
    t.dtype = dt;
    t.has_shape = true;
    t.dims = std::move(dims);
    return id;
  }
  graph::ValueId constant(const std::string& name, Tensor c) {
    graph::ValueId id = g.add_value(name);
    g.values[static_cast<size_t>(id)].type = graph::TypeInfo::tensor(c.dtype(), c.shape());
    g.values[static_cast<size_t>(id)].constant = c;
    return id;
  }
  std::string infer(const std::string& op, std::vector<graph::ValueId> ins, std::vector<Attribute> attrs = {}) {
    g.opsets[""] = 17;
    Node n;
    n.op_type = op;
    n.inputs = std::move(ins);
    n.attributes = std::move(attrs);
    n.outputs.push_back(g.add_value("y" + std::to_string(g.nodes.size())));
    g.nodes.push_back(n);
    Status st = graph::infer_shapes(g);
    if (!st.is_ok()) return st.to_string();
    return g.values[static_cast<size_t>(n.outputs[0])].type.to_string();
  }
};

graph::Dim sym(const char* s) { return graph::Dim{-1, s}; }

TEST(TensorRules, ReshapeResolvesMinusOneAgainstSymbolicBatch) {
  RuleGraph r;
  auto x = r.value("x", DType::kFloat32, {sym("N"), graph::Dim::of(12), graph::Dim::of(64)});
  auto s = r.constant("s", ints({2}, {0, -1}));
  const std::string t = r.infer("Reshape", {x, s});
  EXPECT_EQ(t.substr(t.find('['), t.find(']') - t.find('[') + 1), "[N, 768]") << t;
}

TEST(TensorRules, SliceGatherUnsqueezeUseConstants) {
  RuleGraph r;
  auto x = r.value("x", DType::kFloat32, {sym("N"), graph::Dim::of(10)});
  auto st = r.constant("st", ints({1}, {-3}));
  auto en = r.constant("en", ints({1}, {INT64_MAX}));
  auto ax = r.constant("ax", ints({1}, {1}));
  EXPECT_NE(r.infer("Slice", {x, st, en, ax}).find("3]"), std::string::npos);
  auto idx = r.value("i", DType::kInt64, {graph::Dim::of(2), graph::Dim::of(5)});
  EXPECT_NE(r.infer("Gather", {x, idx}, {int_attr("axis", 1)}).find("[N, 2, 5]"), std::string::npos);
  auto axes = r.constant("axes", ints({1}, {0}));
  EXPECT_NE(r.infer("Unsqueeze", {x, axes}).find("[1, N, 10]"), std::string::npos);
  auto shp = r.constant("shp", ints({3}, {4, 1, 10}));
  auto one = r.value("one", DType::kFloat32, {graph::Dim::of(1), graph::Dim::of(10)});
  EXPECT_NE(r.infer("Expand", {one, shp}).find("[4, 1, 10]"), std::string::npos);
}

}  // namespace
}  // namespace tandem
