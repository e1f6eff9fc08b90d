// Graph fusion passes (core/passes): each rewrite fires on its pattern, gives
// the same outputs as the unoptimized graph, and stays away from graphs where
// fusing would change results (shared intermediates, graph outputs in the
// middle, non-constant weights, unsupported attributes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "backends/reference/reference_backend.h"
#include "core/graph/shape_inference.h"
#include "core/model/onnx_reader.h"
#include "core/passes/passes.h"
#include "core/runtime/session.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::as_bytes;
using testing::attr_float;
using testing::attr_int;
using testing::attr_ints;
using testing::InitSpec;
using testing::ModelBuilder;
using testing::random_floats;

std::unique_ptr<Session> load(const ModelBuilder& b, bool optimize) {
  SessionOptions o;
  o.backends = {reference::make_backend()};
  o.optimize = optimize;
  auto s = Session::load(as_bytes(b.build()), std::move(o));
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return s.is_ok() ? std::move(s).value() : nullptr;
}

// What optimize() reports for the model, as Session::init would run it.
std::vector<std::string> applied(const ModelBuilder& b, const passes::OptimizeOptions& options = {}) {
  auto model = model::load_model_bytes(as_bytes(b.build()));
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  if (!model.is_ok()) return {"load failed"};
  auto backend = reference::make_backend();
  graph::InferOptions infer;
  infer.evaluator = backend->evaluator();
  EXPECT_TRUE(graph::infer_shapes(*model->graph, infer).is_ok());
  std::vector<std::string> lines;
  Status st = passes::optimize(*model->graph, options, &lines);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return lines;
}

// Op types of the optimized graph, in order ("com.tandem.FusedConv").
std::vector<std::string> ops(const Session& s) {
  std::vector<std::string> out;
  for (const graph::Node& n : s.graph().nodes) out.push_back(n.domain.empty() ? n.op_type : n.domain + "." + n.op_type);
  return out;
}

InitSpec init(std::string name, std::vector<int64_t> dims, uint32_t seed, float lo = -1, float hi = 1) {
  std::vector<float> v = random_floats(static_cast<size_t>(shape_numel(dims)), seed);
  for (float& f : v) f = lo + (f + 1) / 2 * (hi - lo);
  return {std::move(name), std::move(dims), std::move(v), {}};
}

InitSpec scalar(std::string name, float v) { return {std::move(name), {}, {v}, {}}; }

// Runs the model with and without optimization on the same random inputs and
// compares every output within 1e-5 relative. Returns the optimized session.
std::unique_ptr<Session> check_same_outputs(const ModelBuilder& b) {
  auto plain = load(b, false);
  auto opt = load(b, true);
  if (!plain || !opt) return nullptr;
  EXPECT_EQ(plain->inputs().size(), opt->inputs().size());
  EXPECT_EQ(plain->outputs().size(), opt->outputs().size());
  for (size_t i = 0; i < plain->outputs().size() && i < opt->outputs().size(); ++i) {
    EXPECT_EQ(plain->outputs()[i].name, opt->outputs()[i].name);
    EXPECT_EQ(plain->outputs()[i].type.to_string(), opt->outputs()[i].type.to_string());
  }
  NamedValues feeds;
  uint32_t seed = 7;
  for (const auto& in : b.inputs) {
    std::vector<float> v = random_floats(static_cast<size_t>(shape_numel(in.dims)), seed++);
    for (float& f : v) f *= 3.0f;  // reach both sides of Relu6 / HardSwish knees
    feeds.emplace_back(in.name, Value(Tensor::from_vector<float>(in.dims, v)));
  }
  auto a = plain->run(feeds);
  auto o = opt->run(feeds);
  EXPECT_TRUE(a.is_ok()) << a.status().to_string();
  EXPECT_TRUE(o.is_ok()) << o.status().to_string();
  if (!a.is_ok() || !o.is_ok()) return nullptr;
  EXPECT_EQ(a->size(), o->size());
  for (size_t i = 0; i < a->size() && i < o->size(); ++i) {
    EXPECT_EQ((*a)[i].first, (*o)[i].first);
    const Tensor& x = (*a)[i].second.tensor();
    const Tensor& y = (*o)[i].second.tensor();
    EXPECT_EQ(x.shape(), y.shape()) << (*a)[i].first;
    if (x.shape() != y.shape()) continue;
    const std::vector<float> xv = x.to_float_vector(), yv = y.to_float_vector();
    int bad = 0;
    for (size_t k = 0; k < xv.size(); ++k) {
      if (std::fabs(xv[k] - yv[k]) > 1e-5f * std::max(1.0f, std::fabs(xv[k])) && ++bad <= 3) {
        ADD_FAILURE() << (*a)[i].first << "[" << k << "]: " << xv[k] << " unoptimized vs " << yv[k] << " optimized";
      }
    }
  }
  return opt;
}

using Lines = std::vector<std::string>;
using Ops = std::vector<std::string>;

// ---- fold_batch_norm ---------------------------------------------------------

ModelBuilder conv_bn(bool conv_bias = true, int64_t group = 1) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {2, 6, 5, 5}}};
  b.outputs = {{"y", DType::kFloat32, {2, 4, 5, 5}}};
  b.initializers = {init("w", {4, 6 / group, 3, 3}, 1), init("scale", {4}, 3, 0.5f, 2.0f),
                    init("bias", {4}, 4), init("mean", {4}, 5), init("var", {4}, 6, 0.1f, 2.0f)};
  std::vector<std::string> conv_in = {"x", "w"};
  if (conv_bias) {
    b.initializers.push_back(init("b", {4}, 2));
    conv_in.push_back("b");
  }
  b.nodes = {{"Conv", conv_in, {"c"}, {attr_ints("pads", {1, 1, 1, 1}), attr_int("group", group)}},
             {"BatchNormalization", {"c", "scale", "bias", "mean", "var"}, {"y"}, {attr_float("epsilon", 1e-3f)}}};
  return b;
}

TEST(PassesTest, FoldsBatchNormIntoConv) {
  for (bool bias : {true, false}) {
    for (int64_t group : {1, 2}) {
      SCOPED_TRACE("bias " + std::to_string(bias) + " group " + std::to_string(group));
      const ModelBuilder b = conv_bn(bias, group);
      EXPECT_EQ(applied(b), (Lines{"fold_batch_norm: 1"}));
      auto s = check_same_outputs(b);
      ASSERT_TRUE(s);
      EXPECT_EQ(ops(*s), (Ops{"Conv"}));
      // The old weights are gone: only W' and B' remain as weights.
      EXPECT_EQ(s->graph().nodes[0].inputs.size(), 3u);
      size_t constants = 0;
      for (const auto& v : s->graph().values) constants += v.constant.has_value() ? 1 : 0;
      EXPECT_EQ(constants, 2u);
    }
  }
}

TEST(PassesTest, FoldsBatchNormIntoConvTranspose) {
  for (int64_t group : {1, 2}) {
    SCOPED_TRACE("group " + std::to_string(group));
    ModelBuilder b;
    b.inputs = {{"x", DType::kFloat32, {1, 4, 3, 3}}};
    b.outputs = {{"y", DType::kFloat32, {1, 6, 6, 6}}};
    b.initializers = {init("w", {4, 6 / group, 2, 2}, 1), init("b", {6}, 2), init("scale", {6}, 3, 0.5f, 2.0f),
                      init("bias", {6}, 4), init("mean", {6}, 5), init("var", {6}, 6, 0.1f, 2.0f)};
    b.nodes = {{"ConvTranspose", {"x", "w", "b"}, {"c"}, {attr_ints("strides", {2, 2}), attr_int("group", group)}},
               {"BatchNormalization", {"c", "scale", "bias", "mean", "var"}, {"y"}, {}}};
    EXPECT_EQ(applied(b), (Lines{"fold_batch_norm: 1"}));
    auto s = check_same_outputs(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(ops(*s), (Ops{"ConvTranspose"}));
  }
}

TEST(PassesTest, BatchNormFoldStaysAwayWhenUnsafe) {
  {  // training mode: batch statistics, not the stored ones
    ModelBuilder b = conv_bn();
    b.nodes[1].attrs.push_back(attr_int("training_mode", 1));
    EXPECT_EQ(applied(b), Lines{});
    auto s = check_same_outputs(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(ops(*s), (Ops{"Conv", "BatchNormalization"}));
  }
  {  // the Conv output is also a graph output
    ModelBuilder b = conv_bn();
    b.outputs.push_back({"c", DType::kFloat32, {2, 4, 5, 5}});
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // the Conv output has a second reader
    ModelBuilder b = conv_bn();
    b.nodes.push_back({"Relu", {"c"}, {"r"}, {}});
    b.outputs.push_back({"r", DType::kFloat32, {2, 4, 5, 5}});
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // the weights are an input, not a constant
    ModelBuilder b = conv_bn();
    b.initializers.erase(b.initializers.begin());
    b.inputs.push_back({"w", DType::kFloat32, {4, 6, 3, 3}});
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // the statistics are an input
    ModelBuilder b = conv_bn();
    b.initializers.erase(b.initializers.begin() + 3);
    b.inputs.push_back({"mean", DType::kFloat32, {4}});
    EXPECT_EQ(applied(b), Lines{});
  }
}

// ---- fuse_matmul_add -----------------------------------------------------------

TEST(PassesTest, FusesMatMulAddIntoFullyConnected) {
  for (bool bias_first : {true, false}) {
    for (std::vector<int64_t> bias_dims : {std::vector<int64_t>{5}, {1, 1, 5}, {1}}) {
      SCOPED_TRACE("bias " + shape_to_string(bias_dims) + (bias_first ? " first" : " second"));
      ModelBuilder b;
      b.inputs = {{"x", DType::kFloat32, {2, 3, 4}}};
      b.outputs = {{"y", DType::kFloat32, {2, 3, 5}}};
      b.initializers = {init("w", {4, 5}, 1), init("bias", bias_dims, 2)};
      b.nodes = {{"MatMul", {"x", "w"}, {"m"}, {}},
                 {"Add", bias_first ? std::vector<std::string>{"bias", "m"} : std::vector<std::string>{"m", "bias"},
                  {"y"}, {}}};
      EXPECT_EQ(applied(b), (Lines{"fuse_matmul_add: 1"}));
      auto s = check_same_outputs(b);
      ASSERT_TRUE(s);
      EXPECT_EQ(ops(*s), (Ops{"com.tandem.FullyConnected"}));
    }
  }
}

TEST(PassesTest, FusesGemmIntoFullyConnected) {
  struct Case {
    int64_t trans_b;
    std::vector<int64_t> c_dims;  // empty: no C
  };
  for (const Case& c : {Case{1, {5}}, Case{0, {}}, Case{0, {1, 5}}, Case{1, {1}}}) {
    SCOPED_TRACE("transB " + std::to_string(c.trans_b) + " C " + shape_to_string(c.c_dims));
    ModelBuilder b;
    b.inputs = {{"x", DType::kFloat32, {3, 4}}};
    b.outputs = {{"y", DType::kFloat32, {3, 5}}};
    b.initializers = {init("w", c.trans_b ? std::vector<int64_t>{5, 4} : std::vector<int64_t>{4, 5}, 1)};
    std::vector<std::string> in = {"x", "w"};
    if (!c.c_dims.empty()) {
      b.initializers.push_back(init("c", c.c_dims, 2));
      in.push_back("c");
    }
    b.nodes = {{"Gemm", in, {"y"}, {attr_int("transB", c.trans_b), attr_float("alpha", 1.0f)}}};
    EXPECT_EQ(applied(b), (Lines{"fuse_matmul_add: 1"}));
    auto s = check_same_outputs(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(ops(*s), (Ops{"com.tandem.FullyConnected"}));
    // W is stored [K, N] whatever transB was.
    const graph::ValueEntry& w = s->graph().values[static_cast<size_t>(s->graph().nodes[0].inputs[1])];
    ASSERT_TRUE(w.constant.has_value());
    EXPECT_EQ(w.constant->shape(), (Shape{4, 5}));
  }
}

TEST(PassesTest, MatMulAddFusionStaysAwayWhenUnsafe) {
  auto gemm = [](std::vector<testing::AttrSpec> attrs, std::vector<int64_t> c_dims = {5}) {
    ModelBuilder b;
    b.inputs = {{"x", DType::kFloat32, {3, 4}}};
    b.outputs = {{"y", DType::kFloat32, {3, 5}}};
    b.initializers = {init("w", {4, 5}, 1), init("c", c_dims, 2)};
    b.nodes = {{"Gemm", {"x", "w", "c"}, {"y"}, std::move(attrs)}};
    return b;
  };
  EXPECT_EQ(applied(gemm({attr_float("alpha", 2.0f)})), Lines{});
  EXPECT_EQ(applied(gemm({attr_float("beta", 0.5f)})), Lines{});
  EXPECT_EQ(applied(gemm({}, {3, 5})), Lines{});  // a full [M, N] C is not a bias
  check_same_outputs(gemm({attr_float("alpha", 2.0f)}));
  {
    ModelBuilder b = gemm({attr_int("transA", 1)});
    b.inputs[0].dims = {4, 3};
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  auto matmul_add = [](std::vector<int64_t> bias_dims) {
    ModelBuilder b;
    b.inputs = {{"x", DType::kFloat32, {3, 4}}};
    b.initializers = {init("w", {4, 5}, 1), init("bias", bias_dims, 2)};
    b.nodes = {{"MatMul", {"x", "w"}, {"m"}, {}}, {"Add", {"m", "bias"}, {"y"}, {}}};
    b.outputs = {{"y", DType::kFloat32, bias_dims.size() == 3 ? std::vector<int64_t>{1, 3, 5} : std::vector<int64_t>{3, 5}}};
    return b;
  };
  EXPECT_EQ(applied(matmul_add({3, 5})), Lines{});     // varies along rows
  EXPECT_EQ(applied(matmul_add({1, 1, 5})), Lines{});  // would add a dim to the output
  check_same_outputs(matmul_add({1, 1, 5}));
  {  // the MatMul output is read twice
    ModelBuilder b = matmul_add({5});
    b.nodes.push_back({"Relu", {"m"}, {"r"}, {}});
    b.outputs.push_back({"r", DType::kFloat32, {3, 5}});
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // W is an input
    ModelBuilder b = matmul_add({5});
    b.initializers.erase(b.initializers.begin());
    b.inputs.push_back({"w", DType::kFloat32, {4, 5}});
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
}

// ---- fuse_activations ----------------------------------------------------------

ModelBuilder conv_act(const std::string& act, std::vector<std::string> extra_inputs = {}) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {1, 3, 6, 6}}};
  b.outputs = {{"y", DType::kFloat32, {1, 4, 3, 3}}};
  b.initializers = {init("w", {4, 3, 3, 3}, 1), init("b", {4}, 2)};
  std::vector<std::string> act_in = {"c"};
  act_in.insert(act_in.end(), extra_inputs.begin(), extra_inputs.end());
  b.nodes = {{"Conv", {"x", "w", "b"}, {"c"}, {attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1})}},
             {act, act_in, {"y"}, {}}};
  return b;
}

const graph::Node& only_node(const Session& s) { return s.graph().nodes.at(0); }

TEST(PassesTest, FusesActivationsIntoConv) {
  for (const char* act : {"Relu", "Sigmoid", "HardSwish"}) {
    SCOPED_TRACE(act);
    const ModelBuilder b = conv_act(act);
    EXPECT_EQ(applied(b), (Lines{"fuse_activations: 1"}));
    auto s = check_same_outputs(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(ops(*s), (Ops{"com.tandem.FusedConv"}));
    EXPECT_EQ(only_node(*s).attr_string("activation", ""), act);
    EXPECT_EQ(only_node(*s).attr_ints("strides"), (std::vector<int64_t>{2, 2}));
  }
}

TEST(PassesTest, FusesClipIntoConv) {
  {  // Relu6: bounds as inputs (opset 11+)
    ModelBuilder b = conv_act("Clip", {"lo", "hi"});
    b.initializers.push_back(scalar("lo", 0.0f));
    b.initializers.push_back(scalar("hi", 6.0f));
    EXPECT_EQ(applied(b), (Lines{"fuse_activations: 1"}));
    auto s = check_same_outputs(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(only_node(*s).attr_string("activation", ""), "Clip");
    EXPECT_EQ(only_node(*s).attr_floats("activation_params"), (std::vector<float>{0.0f, 6.0f}));
  }
  {  // only a maximum
    ModelBuilder b = conv_act("Clip", {"", "hi"});
    b.initializers.push_back(scalar("hi", 0.5f));
    auto s = check_same_outputs(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(ops(*s), (Ops{"com.tandem.FusedConv"}));
    const std::vector<float> p = only_node(*s).attr_floats("activation_params");
    ASSERT_EQ(p.size(), 2u);
    EXPECT_TRUE(std::isinf(p[0]) && p[0] < 0);
    EXPECT_EQ(p[1], 0.5f);
  }
  {  // opset 10: bounds as attributes
    ModelBuilder b = conv_act("Clip");
    b.opset = 10;
    b.nodes[1].attrs = {attr_float("min", -0.25f), attr_float("max", 0.25f)};
    EXPECT_EQ(applied(b), (Lines{"fuse_activations: 1"}));
    auto s = check_same_outputs(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(only_node(*s).attr_floats("activation_params"), (std::vector<float>{-0.25f, 0.25f}));
  }
  {  // a bound that is an input is not a constant
    ModelBuilder b = conv_act("Clip", {"lo"});
    b.inputs.push_back({"lo", DType::kFloat32, {}});
    EXPECT_EQ(applied(b), Lines{});
  }
}

TEST(PassesTest, FusesBatchNormBiasAndActivationTogether) {
  ModelBuilder b = conv_bn();
  b.nodes[1].outputs = {"n"};
  b.nodes.push_back({"Relu", {"n"}, {"y"}, {}});
  EXPECT_EQ(applied(b), (Lines{"fold_batch_norm: 1", "fuse_activations: 1"}));
  auto s = check_same_outputs(b);
  ASSERT_TRUE(s);
  EXPECT_EQ(ops(*s), (Ops{"com.tandem.FusedConv"}));

  ModelBuilder fc;  // MatMul + Add + Relu: one FullyConnected with its activation
  fc.inputs = {{"x", DType::kFloat32, {2, 4}}};
  fc.outputs = {{"y", DType::kFloat32, {2, 5}}};
  fc.initializers = {init("w", {4, 5}, 1), init("bias", {5}, 2)};
  fc.nodes = {{"MatMul", {"x", "w"}, {"m"}, {}}, {"Add", {"m", "bias"}, {"a"}, {}}, {"Relu", {"a"}, {"y"}, {}}};
  EXPECT_EQ(applied(fc), (Lines{"fuse_matmul_add: 1", "fuse_activations: 1"}));
  auto t = check_same_outputs(fc);
  ASSERT_TRUE(t);
  EXPECT_EQ(ops(*t), (Ops{"com.tandem.FullyConnected"}));
  EXPECT_EQ(only_node(*t).attr_string("activation", ""), "Relu");
}

TEST(PassesTest, ActivationFusionStaysAwayWhenUnsafe) {
  {  // the Conv output is a graph output too
    ModelBuilder b = conv_act("Relu");
    b.outputs.push_back({"c", DType::kFloat32, {1, 4, 3, 3}});
    EXPECT_EQ(applied(b), Lines{});
    auto s = check_same_outputs(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(ops(*s), (Ops{"Conv", "Relu"}));
  }
  {  // the Conv output has a second reader
    ModelBuilder b = conv_act("Relu");
    b.nodes.push_back({"Add", {"c", "y"}, {"z"}, {}});
    b.outputs = {{"z", DType::kFloat32, {1, 4, 3, 3}}};
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // not an activation the fused ops take
    EXPECT_EQ(applied(conv_act("Tanh")), Lines{});
  }
  {  // disabled
    passes::OptimizeOptions o;
    o.fuse_activations = false;
    EXPECT_EQ(applied(conv_act("Relu"), o), Lines{});
  }
}

// ---- fuse_gelu -------------------------------------------------------------------

enum class GeluForm { kDiv, kMulRsqrt2, kHalfFirst, kHalfOfSum, kTanh, kTanhPow };

ModelBuilder gelu_model(GeluForm form) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {2, 3, 8}}};
  b.outputs = {{"y", DType::kFloat32, {2, 3, 8}}};
  b.initializers = {scalar("one", 1.0f), scalar("half", 0.5f)};
  switch (form) {
    case GeluForm::kDiv:  // PyTorch's export: Div, Erf, Add, Mul x, Mul 0.5
      b.initializers.push_back(scalar("sqrt2", 1.4142135381698608f));
      b.nodes = {{"Div", {"x", "sqrt2"}, {"d"}, {}},
                 {"Erf", {"d"}, {"e"}, {}},
                 {"Add", {"e", "one"}, {"a"}, {}},
                 {"Mul", {"x", "a"}, {"p"}, {}},
                 {"Mul", {"p", "half"}, {"y"}, {}}};
      break;
    case GeluForm::kMulRsqrt2:
      b.initializers.push_back(scalar("rsqrt2", 0.70710678f));
      b.nodes = {{"Mul", {"rsqrt2", "x"}, {"d"}, {}},
                 {"Erf", {"d"}, {"e"}, {}},
                 {"Add", {"one", "e"}, {"a"}, {}},
                 {"Mul", {"a", "x"}, {"p"}, {}},
                 {"Mul", {"half", "p"}, {"y"}, {}}};
      break;
    case GeluForm::kHalfFirst:
      b.initializers.push_back(scalar("sqrt2", 1.4142135f));
      b.nodes = {{"Mul", {"x", "half"}, {"h"}, {}},
                 {"Div", {"x", "sqrt2"}, {"d"}, {}},
                 {"Erf", {"d"}, {"e"}, {}},
                 {"Add", {"e", "one"}, {"a"}, {}},
                 {"Mul", {"h", "a"}, {"y"}, {}}};
      break;
    case GeluForm::kHalfOfSum:
      b.initializers.push_back(scalar("sqrt2", 1.4142135f));
      b.nodes = {{"Div", {"x", "sqrt2"}, {"d"}, {}},
                 {"Erf", {"d"}, {"e"}, {}},
                 {"Add", {"e", "one"}, {"a"}, {}},
                 {"Mul", {"a", "half"}, {"q"}, {}},
                 {"Mul", {"x", "q"}, {"y"}, {}}};
      break;
    case GeluForm::kTanh:  // PyTorch's approximate='tanh' export
    case GeluForm::kTanhPow:
      b.initializers.push_back(scalar("k", 0.044715f));
      b.initializers.push_back(scalar("c", 0.7978845608f));
      if (form == GeluForm::kTanh) {
        b.nodes = {{"Mul", {"x", "x"}, {"sq"}, {}}, {"Mul", {"x", "sq"}, {"cube"}, {}}};
      } else {
        b.initializers.push_back(scalar("three", 3.0f));
        b.nodes = {{"Pow", {"x", "three"}, {"cube"}, {}}};
      }
      for (const testing::NodeSpec& n : std::vector<testing::NodeSpec>{{"Mul", {"k", "cube"}, {"kc"}, {}},
                                                                      {"Add", {"x", "kc"}, {"s"}, {}},
                                                                      {"Mul", {"c", "s"}, {"t"}, {}},
                                                                      {"Tanh", {"t"}, {"e"}, {}},
                                                                      {"Add", {"one", "e"}, {"a"}, {}},
                                                                      {"Mul", {"x", "a"}, {"p"}, {}},
                                                                      {"Mul", {"half", "p"}, {"y"}, {}}}) {
        b.nodes.push_back(n);
      }
      break;
  }
  return b;
}

TEST(PassesTest, FusesGelu) {
  for (GeluForm form : {GeluForm::kDiv, GeluForm::kMulRsqrt2, GeluForm::kHalfFirst, GeluForm::kHalfOfSum,
                        GeluForm::kTanh, GeluForm::kTanhPow}) {
    SCOPED_TRACE(static_cast<int>(form));
    const ModelBuilder b = gelu_model(form);
    EXPECT_EQ(applied(b), (Lines{"fuse_gelu: 1"}));
    auto s = check_same_outputs(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(ops(*s), (Ops{"com.tandem.Gelu"}));
    const bool tanh = form == GeluForm::kTanh || form == GeluForm::kTanhPow;
    EXPECT_EQ(only_node(*s).attr_string("approximate", ""), tanh ? "tanh" : "none");
    // Only the graph's input and output are left: the pattern's constants are gone.
    for (const auto& v : s->graph().values) EXPECT_FALSE(v.constant.has_value()) << v.name;
  }
}

TEST(PassesTest, GeluFusionDropsTheConstantNodesItOrphans) {
  // Constants as Constant nodes (how PyTorch exports them): folded, then removed with the pattern.
  ModelBuilder b = gelu_model(GeluForm::kDiv);
  b.initializers.clear();
  b.nodes.insert(b.nodes.begin(), {{"Constant", {}, {"one"}, {attr_float("value_float", 1.0f)}},
                                   {"Constant", {}, {"half"}, {attr_float("value_float", 0.5f)}},
                                   {"Constant", {}, {"sqrt2"}, {attr_float("value_float", 1.4142135f)}}});
  EXPECT_EQ(applied(b), (Lines{"fuse_gelu: 1"}));
  auto s = check_same_outputs(b);
  ASSERT_TRUE(s);
  EXPECT_EQ(ops(*s), (Ops{"com.tandem.Gelu"}));
  for (const auto& v : s->graph().values) EXPECT_FALSE(v.constant.has_value()) << v.name;
}

TEST(PassesTest, GeluFusionStaysAwayWhenUnsafe) {
  {  // not sqrt(2)
    ModelBuilder b = gelu_model(GeluForm::kDiv);
    b.initializers.back().values = {1.5f};
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // not 0.5
    ModelBuilder b = gelu_model(GeluForm::kDiv);
    b.initializers[1].values = {0.55f};
    EXPECT_EQ(applied(b), Lines{});
  }
  {  // Erf's output is a graph output
    ModelBuilder b = gelu_model(GeluForm::kDiv);
    b.outputs.push_back({"e", DType::kFloat32, {2, 3, 8}});
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // x * (1 + erf) read twice
    ModelBuilder b = gelu_model(GeluForm::kDiv);
    b.nodes.push_back({"Neg", {"p"}, {"z"}, {}});
    b.outputs.push_back({"z", DType::kFloat32, {2, 3, 8}});
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // a [1, 1, 1, 1] constant would broadcast the result to rank 4
    ModelBuilder b = gelu_model(GeluForm::kDiv);
    b.initializers[1].dims = {1, 1, 1, 1};
    b.outputs[0].dims = {1, 2, 3, 8};
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
}

// ---- fuse_layer_norm ---------------------------------------------------------------

ModelBuilder layer_norm_model(bool affine = true, bool pow = true) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {2, 3, 8}}};
  b.outputs = {{"y", DType::kFloat32, {2, 3, 8}}};
  b.initializers = {scalar("two", 2.0f), scalar("eps", 1e-5f)};
  b.nodes = {{"ReduceMean", {"x"}, {"m"}, {attr_ints("axes", {-1})}},
             {"Sub", {"x", "m"}, {"d"}, {}},
             pow ? testing::NodeSpec{"Pow", {"d", "two"}, {"p"}, {}} : testing::NodeSpec{"Mul", {"d", "d"}, {"p"}, {}},
             {"ReduceMean", {"p"}, {"v"}, {attr_ints("axes", {2})}},
             {"Add", {"v", "eps"}, {"ve"}, {}},
             {"Sqrt", {"ve"}, {"s"}, {}},
             {"Div", {"d", "s"}, {affine ? "n" : "y"}, {}}};
  if (affine) {
    b.initializers.push_back(init("gamma", {8}, 1, 0.5f, 1.5f));
    b.initializers.push_back(init("beta", {8}, 2));
    b.nodes.push_back({"Mul", {"n", "gamma"}, {"g"}, {}});
    b.nodes.push_back({"Add", {"beta", "g"}, {"y"}, {}});
  }
  return b;
}

TEST(PassesTest, FusesLayerNorm) {
  for (bool affine : {true, false}) {
    for (bool pow : {true, false}) {
      SCOPED_TRACE(std::string(affine ? "affine" : "plain") + (pow ? " pow" : " mul"));
      const ModelBuilder b = layer_norm_model(affine, pow);
      EXPECT_EQ(applied(b), (Lines{"fuse_layer_norm: 1"}));
      auto s = check_same_outputs(b);
      ASSERT_TRUE(s);
      EXPECT_EQ(ops(*s), (Ops{"LayerNormalization"}));
      EXPECT_FLOAT_EQ(only_node(*s).attr_float("epsilon", 0), 1e-5f);
      EXPECT_EQ(only_node(*s).attr_int("axis", 0), -1);
    }
  }
}

TEST(PassesTest, LayerNormFusionStaysAwayWhenUnsafe) {
  {  // not the last axis
    ModelBuilder b = layer_norm_model();
    b.nodes[0].attrs = {attr_ints("axes", {1})};
    b.nodes[3].attrs = {attr_ints("axes", {1})};
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // x - mean is read by a third node
    ModelBuilder b = layer_norm_model();
    b.nodes.push_back({"Neg", {"d"}, {"z"}, {}});
    b.outputs.push_back({"z", DType::kFloat32, {2, 3, 8}});
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // the variance is a graph output
    ModelBuilder b = layer_norm_model();
    b.outputs.push_back({"v", DType::kFloat32, {2, 3, 1}});
    EXPECT_EQ(applied(b), Lines{});
    check_same_outputs(b);
  }
  {  // gamma varies along another axis: the fusion stops before the Mul
    ModelBuilder b = layer_norm_model();
    b.initializers[2] = init("gamma", {3, 8}, 1);
    EXPECT_EQ(applied(b), (Lines{"fuse_layer_norm: 1"}));
    auto s = check_same_outputs(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(ops(*s), (Ops{"LayerNormalization", "Mul", "Add"}));
  }
}

// ---- everything together ---------------------------------------------------------

TEST(PassesTest, InputsOutputsAndNamesSurvive) {
  // Conv -> BN -> Relu feeding a Gemm; every pass but LayerNorm fires.
  ModelBuilder b = conv_bn();
  b.nodes[1].outputs = {"n"};
  b.nodes.push_back({"Relu", {"n"}, {"r"}, {}});
  b.nodes.push_back({"Flatten", {"r"}, {"f"}, {}});
  b.initializers.push_back(init("fw", {10, 100}, 9));
  b.initializers.push_back(init("fb", {10}, 10));
  b.nodes.push_back({"Gemm", {"f", "fw", "fb"}, {"logits"}, {attr_int("transB", 1)}});
  b.outputs = {{"logits", DType::kFloat32, {2, 10}}};
  EXPECT_EQ(applied(b), (Lines{"fold_batch_norm: 1", "fuse_matmul_add: 1", "fuse_activations: 1"}));
  auto s = check_same_outputs(b);
  ASSERT_TRUE(s);
  EXPECT_EQ(ops(*s), (Ops{"com.tandem.FusedConv", "Flatten", "com.tandem.FullyConnected"}));
  EXPECT_EQ(s->inputs()[0].name, "x");
  EXPECT_EQ(s->outputs()[0].name, "logits");
  auto facts = s->memory_facts({});
  ASSERT_TRUE(facts.is_ok()) << facts.status().to_string();
  // W' [4,6,3,3] + B' [4] + FC weight [100,10] + bias [10]: the originals are gone.
  EXPECT_EQ(facts->weight_bytes, (4u * 6 * 9 + 4 + 1000 + 10) * 4);
}

// A Conv with no inputs (found by the loader fuzzer) is left alone by the
// passes and rejected with an error when run, never read out of bounds.
TEST(Passes, MalformedConvIsLeftForTheKernel) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {1, 1, 2, 2}}};
  b.outputs = {{"y", DType::kFloat32, {}}};
  b.nodes = {{"Conv", {}, {"c"}}, {"Relu", {"c"}, {"y"}}};
  const std::string bytes = b.build();
  auto s = Session::load(as_bytes(bytes));
  if (!s.is_ok()) return;  // refusing at load is as good
  NamedValues feeds = {{"x", Value(Tensor::from_vector<float>({1, 1, 2, 2}, random_floats(4, 1)))}};
  auto out = (*s)->run(feeds);
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.status().message().find("input 0 is required"), std::string::npos) << out.status().message();
}

}  // namespace
}  // namespace tandem
