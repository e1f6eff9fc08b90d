// Elementwise kernels: every broadcast loop shape against a naive loop,
// integer division/remainder semantics, Cast edge cases, Where, and the
// shape-inference rules with symbolic dims.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/graph/shape_inference.h"
#include "core/runtime/session.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::AttrSpec;
using testing::attr_int;
using testing::ModelBuilder;
using testing::run_model;

ModelBuilder binary_model(const std::string& op, DType in, DType out, const Shape& a, const Shape& b,
                          std::vector<AttrSpec> attrs = {}) {
  ModelBuilder m;
  m.inputs = {{"a", in, a}, {"b", in, b}};
  m.outputs = {{"y", out, {}}};
  m.nodes = {{op, {"a", "b"}, {"y"}, std::move(attrs)}};
  return m;
}

std::vector<float> iota_values(int64_t n, float start) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<float>(i) * 0.5f;
  return v;
}

// Naive numpy broadcasting: the input offset of output index i.
int64_t broadcast_offset(int64_t i, const Shape& out, const Shape& in) {
  int64_t off = 0, stride = 1;
  for (size_t d = out.size(); d-- > 0;) {
    const int64_t idx = i % out[d];
    i /= out[d];
    const size_t lead = out.size() - in.size();
    if (d >= lead) {
      const int64_t size = in[d - lead];
      if (size != 1) off += idx * stride;
      stride *= size;
    }
  }
  return off;
}

TEST(ElementwiseTest, BroadcastPatternsMatchNaiveLoop) {
  struct Case { Shape a, b, out; };
  const Case cases[] = {
      {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}},        // same shape
      {{2, 3, 4}, {}, {2, 3, 4}},               // scalar
      {{}, {2, 3}, {2, 3}},                     // scalar first
      {{2, 3, 4}, {4}, {2, 3, 4}},              // row
      {{2, 3, 4, 5}, {3, 1, 1}, {2, 3, 4, 5}},  // per channel
      {{3, 1}, {1, 4}, {3, 4}},                 // outer product
      {{2, 1, 4}, {1, 3, 1}, {2, 3, 4}},        // both broadcast
      {{1, 3, 1, 5}, {2, 1, 4, 1}, {2, 3, 4, 5}},
      {{2, 0, 3}, {1, 3}, {2, 0, 3}},           // empty
  };
  for (const Case& c : cases) {
    const ModelBuilder m = binary_model("Sub", DType::kFloat32, DType::kFloat32, c.a, c.b);
    const std::vector<float> av = iota_values(shape_numel(c.a), 1), bv = iota_values(shape_numel(c.b), -3);
    auto r = run_model(m, {{"a", Tensor::from_vector<float>(c.a, av)}, {"b", Tensor::from_vector<float>(c.b, bv)}});
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const Tensor& y = (*r)[0].second.tensor();
    ASSERT_EQ(y.shape(), c.out) << shape_to_string(c.a) << " - " << shape_to_string(c.b);
    for (int64_t i = 0; i < y.numel(); ++i) {
      const float expect = av[static_cast<size_t>(broadcast_offset(i, c.out, c.a))] -
                           bv[static_cast<size_t>(broadcast_offset(i, c.out, c.b))];
      ASSERT_EQ(y.data<float>()[i], expect) << shape_to_string(c.a) << " - " << shape_to_string(c.b) << " at " << i;
    }
  }
}

TEST(ElementwiseTest, IncompatibleShapesAreAnError) {
  ModelBuilder m = binary_model("Add", DType::kFloat32, DType::kFloat32, {-1}, {-1});
  m.inputs[0].symbols = {"A"};
  m.inputs[1].symbols = {"B"};
  auto r = run_model(m, {{"a", Tensor::from_vector<float>({3}, {1, 2, 3})},
                         {"b", Tensor::from_vector<float>({2}, {1, 2})}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("broadcast"), std::string::npos) << r.status().to_string();
}

TEST(ElementwiseTest, IntegerDivisionTruncatesAndRefusesZero) {
  const ModelBuilder m = binary_model("Div", DType::kInt32, DType::kInt32, {4}, {4});
  auto r = run_model(m, {{"a", Tensor::from_vector<int32_t>({4}, {7, -7, std::numeric_limits<int32_t>::min(), 9})},
                         {"b", Tensor::from_vector<int32_t>({4}, {2, 2, -1, -3})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const int32_t* y = (*r)[0].second.tensor().data<int32_t>();
  EXPECT_EQ(y[0], 3);
  EXPECT_EQ(y[1], -3);
  EXPECT_EQ(y[2], std::numeric_limits<int32_t>::min());  // wraps, as numpy does
  EXPECT_EQ(y[3], -3);

  auto bad = run_model(m, {{"a", Tensor::from_vector<int32_t>({4}, {1, 2, 3, 4})},
                           {"b", Tensor::from_vector<int32_t>({4}, {1, 0, 1, 1})}});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("division by zero"), std::string::npos) << bad.status().to_string();
}

TEST(ElementwiseTest, ModFollowsNumpyOrCRemainder) {
  const std::vector<int64_t> a = {5, -5, 5, -5, 0}, b = {3, 3, -3, -3, 7};
  for (int64_t fmod : {0, 1}) {
    const ModelBuilder m = binary_model("Mod", DType::kInt64, DType::kInt64, {5}, {5}, {attr_int("fmod", fmod)});
    auto r = run_model(m, {{"a", Tensor::from_vector<int64_t>({5}, a)}, {"b", Tensor::from_vector<int64_t>({5}, b)}});
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const std::vector<int64_t> expect = fmod ? std::vector<int64_t>{2, -2, 2, -2, 0}
                                             : std::vector<int64_t>{2, 1, -1, -2, 0};
    EXPECT_EQ((*r)[0].second.tensor().to_int64_vector(), expect) << "fmod=" << fmod;
  }
  const ModelBuilder f = binary_model("Mod", DType::kFloat32, DType::kFloat32, {1}, {1});
  auto bad = run_model(f, {{"a", Tensor::from_vector<float>({1}, {1})}, {"b", Tensor::from_vector<float>({1}, {1})}});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("fmod=1"), std::string::npos) << bad.status().to_string();
}

TEST(ElementwiseTest, PowKeepsBaseTypeAndIsExactForIntegers) {
  ModelBuilder m;
  m.inputs = {{"a", DType::kInt64, {3}}, {"b", DType::kInt64, {3}}};
  m.outputs = {{"y", DType::kInt64, {3}}};
  m.nodes = {{"Pow", {"a", "b"}, {"y"}, {}}};
  auto r = run_model(m, {{"a", Tensor::from_vector<int64_t>({3}, {3, 2, -1})},
                         {"b", Tensor::from_vector<int64_t>({3}, {39, -1, -3})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].second.tensor().to_int64_vector(), (std::vector<int64_t>{4052555153018976267, 0, -1}));
}

TEST(ElementwiseTest, CastTruncatesParsesAndPrints) {
  ModelBuilder m;
  m.inputs = {{"x", DType::kFloat32, {-1}}};
  m.outputs = {{"y", DType::kInt32, {-1}}};
  m.nodes = {{"Cast", {"x"}, {"y"}, {attr_int("to", static_cast<int64_t>(DType::kInt32))}}};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto r = run_model(m, {{"x", Tensor::from_vector<float>({4}, {1.9f, -1.9f, 0.5f, nan})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].second.tensor().to_int64_vector(), (std::vector<int64_t>{1, -1, 0, 0}));

  m.outputs = {{"y", DType::kString, {-1}}};
  m.nodes[0].attrs = {attr_int("to", static_cast<int64_t>(DType::kString))};
  auto s = run_model(m, {{"x", Tensor::from_vector<float>({6}, {3.0f, 0.1f, -2.5f, 1e-5f, nan, 1e20f})}});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ((*s)[0].second.tensor().strings(),
            (std::vector<std::string>{"3.0", "0.1", "-2.5", "1e-05", "nan", "1e+20"}));

  ModelBuilder p;
  p.inputs = {{"x", DType::kString, {3}}};
  p.outputs = {{"y", DType::kInt64, {3}}};
  p.nodes = {{"Cast", {"x"}, {"y"}, {attr_int("to", static_cast<int64_t>(DType::kInt64))}}};
  auto q = run_model(p, {{"x", Tensor::from_strings({3}, {"9007199254740993", "-4", "2.7"})}});
  ASSERT_TRUE(q.is_ok()) << q.status().to_string();
  EXPECT_EQ((*q)[0].second.tensor().to_int64_vector(), (std::vector<int64_t>{9007199254740993, -4, 2}));
  auto bad = run_model(p, {{"x", Tensor::from_strings({3}, {"1", "two", "3"})}});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("'two'"), std::string::npos) << bad.status().to_string();
}

TEST(ElementwiseTest, WhereBroadcastsAllThreeInputs) {
  ModelBuilder m;
  m.inputs = {{"c", DType::kBool, {2, 1}}, {"x", DType::kFloat32, {3}}, {"y", DType::kFloat32, {}}};
  m.outputs = {{"o", DType::kFloat32, {2, 3}}};
  m.nodes = {{"Where", {"c", "x", "y"}, {"o"}, {}}};
  auto r = run_model(m, {{"c", Tensor::from_vector<bool>({2, 1}, {true, false})},
                         {"x", Tensor::from_vector<float>({3}, {1, 2, 3})},
                         {"y", Tensor::scalar_float(-1)}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].second.tensor().to_float_vector(), (std::vector<float>{1, 2, 3, -1, -1, -1}));
}

TEST(ElementwiseTest, ClipTakesBoundsFromAttributesOrInputs) {
  ModelBuilder m;
  m.opset = 6;
  m.inputs = {{"x", DType::kFloat32, {4}}};
  m.outputs = {{"y", DType::kFloat32, {4}}};
  m.nodes = {{"Clip", {"x"}, {"y"}, {testing::attr_float("min", -1), testing::attr_float("max", 2)}}};
  auto r = run_model(m, {{"x", Tensor::from_vector<float>({4}, {-5, 0, 1.5f, 9})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].second.tensor().to_float_vector(), (std::vector<float>{-1, 0, 1.5f, 2}));

  ModelBuilder n;
  n.opset = 13;
  n.inputs = {{"x", DType::kInt8, {4}}, {"hi", DType::kInt8, {}}};
  n.outputs = {{"y", DType::kInt8, {4}}};
  n.nodes = {{"Clip", {"x", "", "hi"}, {"y"}, {}}};
  auto s = run_model(n, {{"x", Tensor::from_vector<int8_t>({4}, {-128, 0, 5, 127})},
                         {"hi", Tensor::from_vector<int8_t>({}, {4})}});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ((*s)[0].second.tensor().to_int64_vector(), (std::vector<int64_t>{-128, 0, 4, 4}));
}

TEST(ElementwiseTest, HalfPrecisionComputesInFloat) {
  ModelBuilder m;
  m.inputs = {{"a", DType::kFloat16, {3}}, {"b", DType::kFloat16, {1}}};
  m.outputs = {{"y", DType::kFloat16, {3}}};
  m.nodes = {{"Mul", {"a", "b"}, {"y"}, {}}};
  Tensor a = Tensor::allocate(DType::kFloat16, {3}).value();
  Tensor b = Tensor::allocate(DType::kFloat16, {1}).value();
  const float av[] = {1.5f, -2.0f, 0.25f};
  for (int i = 0; i < 3; ++i) a.data<uint16_t>()[i] = float_to_half(av[i]);
  b.data<uint16_t>()[0] = float_to_half(4.0f);
  auto r = run_model(m, {{"a", a}, {"b", b}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Tensor& y = (*r)[0].second.tensor();
  ASSERT_EQ(y.dtype(), DType::kFloat16);
  EXPECT_EQ(y.to_float_vector(), (std::vector<float>{6, -8, 1}));
}

TEST(ElementwiseTest, WrongDtypesAreErrorsNotCrashes) {
  ModelBuilder m = binary_model("Add", DType::kFloat32, DType::kFloat32, {2}, {2});
  m.inputs[1].dtype = DType::kInt64;
  auto r = run_model(m, {{"a", Tensor::from_vector<float>({2}, {1, 2})}, {"b", Tensor::from_vector<int64_t>({2}, {1, 2})}});
  EXPECT_FALSE(r.is_ok());

  ModelBuilder s;
  s.inputs = {{"x", DType::kInt32, {2}}};
  s.outputs = {{"y", DType::kInt32, {2}}};
  s.nodes = {{"Sqrt", {"x"}, {"y"}, {}}};
  auto q = run_model(s, {{"x", Tensor::from_vector<int32_t>({2}, {4, 9})}});
  ASSERT_FALSE(q.is_ok());
  EXPECT_NE(q.status().message().find("floating-point"), std::string::npos) << q.status().to_string();
}

TEST(ElementwiseTest, ActivationsWithoutOnnxTestDataMatchTheirFormulas) {
  const std::vector<float> x = {-3, -0.5f, 0, 0.7f, 4};
  struct Case {
    const char* op;
    std::vector<AttrSpec> attrs;
    double (*f)(double);
  };
  const Case cases[] = {
      {"Gelu", {}, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {"Gelu", {{"approximate", AttrSpec::kString, 0, 0, {}, "tanh"}},
       [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / 3.141592653589793) * (v + 0.044715 * v * v * v))); }},
      {"Mish", {}, [](double v) { return v * std::tanh(std::log1p(std::exp(v))); }},
      {"HardSwish", {}, [](double v) { return v * std::max(0.0, std::min(1.0, v / 6 + 0.5)); }},
      {"Softplus", {}, [](double v) { return std::log1p(std::exp(v)); }},
  };
  for (const Case& c : cases) {
    ModelBuilder m;
    m.opset = 20;
    m.inputs = {{"x", DType::kFloat32, {5}}};
    m.outputs = {{"y", DType::kFloat32, {5}}};
    m.nodes = {{c.op, {"x"}, {"y"}, c.attrs}};
    auto r = run_model(m, {{"x", Tensor::from_vector<float>({5}, x)}});
    ASSERT_TRUE(r.is_ok()) << c.op << ": " << r.status().to_string();
    const std::vector<float> y = (*r)[0].second.tensor().to_float_vector();
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], c.f(x[i]), 1e-5) << c.op << " at " << x[i];
  }
}

TEST(ElementwiseTest, BitwiseAndShiftOps) {
  const ModelBuilder shl = binary_model("BitShift", DType::kUInt8, DType::kUInt8, {3}, {3},
                                        {{"direction", AttrSpec::kString, 0, 0, {}, "LEFT"}});
  auto r = run_model(shl, {{"a", Tensor::from_vector<uint8_t>({3}, {1, 3, 255})},
                           {"b", Tensor::from_vector<uint8_t>({3}, {7, 1, 9})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].second.tensor().to_int64_vector(), (std::vector<int64_t>{128, 6, 0}));

  const ModelBuilder band = binary_model("BitwiseXor", DType::kInt32, DType::kInt32, {2}, {});
  auto x = run_model(band, {{"a", Tensor::from_vector<int32_t>({2}, {0b1100, -1})},
                            {"b", Tensor::from_vector<int32_t>({}, {0b1010})}});
  ASSERT_TRUE(x.is_ok()) << x.status().to_string();
  EXPECT_EQ((*x)[0].second.tensor().to_int64_vector(), (std::vector<int64_t>{0b0110, ~0b1010}));
}

// Shape inference on a hand-built graph: symbolic dims broadcast and propagate.
TEST(ElementwiseTest, InferenceBroadcastsSymbolicDims) {
  graph::Graph g;
  const graph::ValueId a = g.add_value("a"), b = g.add_value("b"), c = g.add_value("c");
  const graph::ValueId sum = g.add_value("sum"), cmp = g.add_value("cmp"), cast = g.add_value("cast");
  g.values[a].type = {graph::TypeInfo::Kind::kTensor, DType::kFloat32, true,
                      {graph::Dim{-1, "batch"}, graph::Dim::of(1), graph::Dim::of(8)}};
  g.values[b].type = {graph::TypeInfo::Kind::kTensor, DType::kFloat32, true, {graph::Dim::of(5), graph::Dim::of(1)}};
  g.values[c].type = {graph::TypeInfo::Kind::kTensor, DType::kFloat32, false, {}};
  graph::Node add{"add", "Add", "", {a, b}, {sum}, {}, {}};
  graph::Node less{"less", "Less", "", {sum, c}, {cmp}, {}, {}};
  graph::Attribute to;
  to.name = "to";
  to.type = graph::Attribute::Type::kInt;
  to.i = static_cast<int64_t>(DType::kInt64);
  graph::Node cast_node{"cast", "Cast", "", {sum}, {cast}, {to}, {}};
  g.nodes = {add, less, cast_node};
  ASSERT_TRUE(graph::infer_shapes(g).is_ok());

  const graph::TypeInfo& s = g.values[sum].type;
  ASSERT_TRUE(s.has_shape);
  ASSERT_EQ(s.dims.size(), 3u);
  EXPECT_EQ(s.dims[0].symbol, "batch");
  EXPECT_EQ(s.dims[1].value, 5);
  EXPECT_EQ(s.dims[2].value, 8);
  EXPECT_EQ(g.values[cmp].type.dtype, DType::kBool);
  EXPECT_FALSE(g.values[cmp].type.has_shape);  // c's rank is unknown
  EXPECT_EQ(g.values[cast].type.dtype, DType::kInt64);
  EXPECT_EQ(g.values[cast].type.dims.size(), 3u);

  g.values[b].type.dims = {graph::Dim::of(3)};  // 3 against 8: a real conflict
  EXPECT_FALSE(graph::infer_shapes(g).is_ok());
}

}  // namespace
}  // namespace tandem
