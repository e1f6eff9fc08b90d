// Recurrent, control-flow, sequence and optional kernels: properties the ONNX
// node tests do not cover (reverse direction with sequence_lens, layout 1,
// zero-trip loops), shape rules with symbolic dims, and clear errors.
#include <gtest/gtest.h>

#include <cmath>

#include "core/graph/shape_inference.h"
#include "core/model/onnx_reader.h"
#include "core/runtime/session.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::as_bytes;
using testing::AttrSpec;
using testing::attr_int;
using testing::InitSpec;
using testing::ModelBuilder;
using testing::run_model;
using testing::attr_string;

std::vector<float> pseudo_random(size_t n, float scale, uint32_t seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = scale * (static_cast<float>(seed >> 8) / static_cast<float>(1u << 24) - 0.5f);
  }
  return v;
}

// One-layer recurrent model with initializer weights; X and sequence_lens are inputs.
ModelBuilder recurrent_model(const std::string& op, int64_t gates, int64_t hidden, int64_t input,
                             std::vector<AttrSpec> attrs, bool with_lens) {
  ModelBuilder b;
  b.initializers = {InitSpec{"W", {1, gates * hidden, input},
                             pseudo_random(static_cast<size_t>(gates * hidden * input), 1.f, 1)},
                    InitSpec{"R", {1, gates * hidden, hidden},
                             pseudo_random(static_cast<size_t>(gates * hidden * hidden), 1.f, 2)},
                    InitSpec{"B", {1, 2 * gates * hidden}, pseudo_random(static_cast<size_t>(2 * gates * hidden), 1.f, 3)}};
  b.inputs = {{"X", DType::kFloat32, {-1, -1, input}, {"S", "N"}}};
  std::vector<std::string> ins = {"X", "W", "R", "B"};
  if (with_lens) {
    b.inputs.push_back({"sl", DType::kInt32, {-1}, {"N"}});
    ins.push_back("sl");
  }
  attrs.push_back(attr_int("hidden_size", hidden));
  b.outputs = {{"Y", DType::kFloat32, {-1, -1, -1, -1}, {"a", "b", "c", "d"}},
               {"Yh", DType::kFloat32, {-1, -1, -1}, {"e", "f", "g"}}};
  b.nodes = {{op, ins, {"Y", "Yh"}, attrs}};
  return b;
}

// A reverse pass over a row of length L equals a forward pass over that row's
// first L steps reversed; steps past L give zeros in Y.
TEST(RecurrentTest, ReverseWithSequenceLensMatchesForwardOnReversedPrefix) {
  for (const std::string op : {"LSTM", "GRU", "RNN"}) {
    const int64_t gates = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1;
    const int64_t S = 5, I = 3, H = 4, L = 3;
    const std::vector<float> x = pseudo_random(static_cast<size_t>(S * I), 2.f, 7);
    auto rev = run_model(recurrent_model(op, gates, H, I, {attr_string("direction", "reverse")}, true),
                         {{"X", Tensor::from_vector<float>({S, 1, I}, x)},
                          {"sl", Tensor::from_vector<int32_t>({1}, {static_cast<int32_t>(L)})}});
    ASSERT_TRUE(rev.is_ok()) << op << ": " << rev.status().to_string();
    std::vector<float> xr;
    for (int64_t t = L - 1; t >= 0; --t) xr.insert(xr.end(), x.begin() + t * I, x.begin() + (t + 1) * I);
    auto fwd = run_model(recurrent_model(op, gates, H, I, {}, false), {{"X", Tensor::from_vector<float>({L, 1, I}, xr)}});
    ASSERT_TRUE(fwd.is_ok()) << op << ": " << fwd.status().to_string();
    const Tensor& yh_rev = (*rev)[1].second.tensor();
    const Tensor& yh_fwd = (*fwd)[1].second.tensor();
    ASSERT_EQ(yh_rev.shape(), (Shape{1, 1, H}));
    for (int64_t j = 0; j < H; ++j) EXPECT_NEAR(yh_rev.data<float>()[j], yh_fwd.data<float>()[j], 1e-5) << op;
    const Tensor& y = (*rev)[0].second.tensor();
    ASSERT_EQ(y.shape(), (Shape{S, 1, 1, H}));
    for (int64_t j = 0; j < (S - L) * H; ++j) EXPECT_EQ(y.data<float>()[L * H + j], 0.f) << op;
    // Y at step 0 of the reverse pass is its final state.
    for (int64_t j = 0; j < H; ++j) EXPECT_NEAR(y.data<float>()[j], yh_rev.data<float>()[j], 1e-6) << op;
  }
}

TEST(RecurrentTest, Layout1IsLayout0Transposed) {
  const int64_t S = 4, N = 2, I = 3, H = 2;
  const std::vector<float> x = pseudo_random(static_cast<size_t>(S * N * I), 2.f, 11);
  std::vector<float> xt(x.size());
  for (int64_t s = 0; s < S; ++s) {
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t i = 0; i < I; ++i) xt[(n * S + s) * I + i] = x[(s * N + n) * I + i];
    }
  }
  auto a = run_model(recurrent_model("GRU", 3, H, I, {attr_int("linear_before_reset", 1)}, false),
                     {{"X", Tensor::from_vector<float>({S, N, I}, x)}});
  auto b = run_model(recurrent_model("GRU", 3, H, I, {attr_int("linear_before_reset", 1), attr_int("layout", 1)}, false),
                     {{"X", Tensor::from_vector<float>({N, S, I}, xt)}});
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  const Tensor& ya = (*a)[0].second.tensor();
  const Tensor& yb = (*b)[0].second.tensor();
  ASSERT_EQ(yb.shape(), (Shape{N, S, 1, H}));
  for (int64_t s = 0; s < S; ++s) {
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t h = 0; h < H; ++h) {
        EXPECT_FLOAT_EQ(ya.data<float>()[(s * N + n) * H + h], yb.data<float>()[(n * S + s) * H + h]);
      }
    }
  }
  ASSERT_EQ((*b)[1].second.tensor().shape(), (Shape{N, 1, H}));
}

TEST(RecurrentTest, RejectsBadShapesAndLengths) {
  const int64_t I = 3, H = 2;
  ModelBuilder wrong_w = recurrent_model("LSTM", 4, H, I, {}, false);
  wrong_w.initializers[0].dims = {1, 3 * H, I};  // RNN-sized W for an LSTM
  wrong_w.initializers[0].values.resize(static_cast<size_t>(3 * H * I));
  auto r = run_model(wrong_w, {{"X", Tensor::from_vector<float>({1, 1, I}, {1, 2, 3})}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("W has shape"), std::string::npos) << r.status().to_string();

  auto r2 = run_model(recurrent_model("RNN", 1, H, I, {}, true),
                      {{"X", Tensor::from_vector<float>({1, 1, I}, {1, 2, 3})},
                       {"sl", Tensor::from_vector<int32_t>({1}, {5})}});
  ASSERT_FALSE(r2.is_ok());
  EXPECT_NE(r2.status().message().find("sequence_lens"), std::string::npos) << r2.status().to_string();

  auto r3 = run_model(recurrent_model("GRU", 3, H, I, {attr_string("direction", "sideways")}, false),
                      {{"X", Tensor::from_vector<float>({1, 1, I}, {1, 2, 3})}});
  ASSERT_FALSE(r3.is_ok());
  EXPECT_EQ(r3.status().code(), StatusCode::kInvalidArgument);
}

TEST(RecurrentTest, ShapeRuleKeepsSymbolicDims) {
  ModelBuilder b = recurrent_model("LSTM", 4, 5, 3, {attr_int("layout", 1)}, false);
  const std::string bytes = b.build();
  auto model = model::load_model_bytes(as_bytes(bytes));
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  graph::Graph& g = *model->graph;
  ASSERT_TRUE(graph::infer_shapes(g).is_ok());
  const graph::TypeInfo& y = g.values[static_cast<size_t>(g.find("Y"))].type;
  ASSERT_TRUE(y.has_shape);
  ASSERT_EQ(y.dims.size(), 4u);
  EXPECT_EQ(y.dims[0].symbol, "S");  // layout 1: X is [batch, seq, input]; its symbols are ("S", "N")
  EXPECT_EQ(y.dims[1].symbol, "N");
  EXPECT_EQ(y.dims[2].value, 1);
  EXPECT_EQ(y.dims[3].value, 5);
  const graph::TypeInfo& yh = g.values[static_cast<size_t>(g.find("Yh"))].type;
  ASSERT_EQ(yh.dims.size(), 3u);
  EXPECT_EQ(yh.dims[1].value, 1);
  EXPECT_EQ(yh.dims[2].value, 5);
}

TEST(SequenceTest, SplitConcatRoundTripAndErrors) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {2, 6}}, {"pos", DType::kInt64, {}}};
  b.outputs = {{"y", DType::kFloat32, {-1, -1}, {"a", "b"}}, {"n", DType::kInt64, {}},
               {"at", DType::kFloat32, {-1, -1}, {"c", "d"}}};
  b.nodes = {{"SplitToSequence", {"x"}, {"s"}, {attr_int("axis", 1)}},
             {"ConcatFromSequence", {"s"}, {"y"}, {attr_int("axis", 1)}},
             {"SequenceLength", {"s"}, {"n"}, {}},
             {"SequenceAt", {"s", "pos"}, {"at"}, {}}};
  std::vector<float> x(12);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  auto r = run_model(b, {{"x", Tensor::from_vector<float>({2, 6}, x)}, {"pos", Tensor::scalar_int64(-2)}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Tensor& y = (*r)[0].second.tensor();
  ASSERT_EQ(y.shape(), (Shape{2, 6}));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y.data<float>()[i], x[i]);
  EXPECT_EQ((*r)[1].second.tensor().data<int64_t>()[0], 6);
  const Tensor& at = (*r)[2].second.tensor();
  ASSERT_EQ(at.shape(), (Shape{2, 1}));
  EXPECT_EQ(at.data<float>()[0], 4.f);
  EXPECT_EQ(at.data<float>()[1], 10.f);

  auto bad = run_model(b, {{"x", Tensor::from_vector<float>({2, 6}, x)}, {"pos", Tensor::scalar_int64(6)}});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("out of range"), std::string::npos) << bad.status().to_string();
}

// Control flow through the ONNX test models, fed inputs their test data does not use.
std::string node_test(const std::string& name) { return std::string(TANDEM_ONNX_NODE_TESTS) + "/" + name + "/model.onnx"; }

TEST(ControlFlowTest, LoopWithZeroTripsReturnsInitialValuesAndEmptyScan) {
  auto s = Session::load(node_test("test_loop11"));
  if (!s.is_ok()) GTEST_SKIP() << s.status().to_string();
  Tensor cond = Tensor::allocate(DType::kBool, {}).value();
  cond.data<bool>()[0] = true;
  auto r = (*s)->run({{"trip_count", Tensor::scalar_int64(0)}, {"cond", cond},
                      {"y", Tensor::from_vector<float>({1}, {-3.f})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].second.tensor().data<float>()[0], -3.f);
  EXPECT_EQ((*r)[1].second.tensor().numel(), 0);
  EXPECT_EQ((*r)[1].second.tensor().dim(0), 0);

  // cond false stops before the first iteration even with trips left.
  cond.data<bool>()[0] = false;
  auto r2 = (*s)->run({{"trip_count", Tensor::scalar_int64(4)}, {"cond", cond},
                       {"y", Tensor::from_vector<float>({1}, {2.f})}});
  ASSERT_TRUE(r2.is_ok()) << r2.status().to_string();
  EXPECT_EQ((*r2)[0].second.tensor().data<float>()[0], 2.f);

  // Two trips: y + 1 + 2.
  cond.data<bool>()[0] = true;
  auto r3 = (*s)->run({{"trip_count", Tensor::scalar_int64(2)}, {"cond", cond},
                       {"y", Tensor::from_vector<float>({1}, {0.5f})}});
  ASSERT_TRUE(r3.is_ok()) << r3.status().to_string();
  EXPECT_FLOAT_EQ((*r3)[0].second.tensor().data<float>()[0], 3.5f);
  ASSERT_EQ((*r3)[1].second.tensor().shape(), (Shape{2, 1}));
}

TEST(ControlFlowTest, IfTakesEitherBranchAndOptionalsRoundTrip) {
  auto s = Session::load(node_test("test_if_opt"));
  if (!s.is_ok()) GTEST_SKIP() << s.status().to_string();
  for (bool c : {true, false}) {
    Tensor cond = Tensor::allocate(DType::kBool, {}).value();
    cond.data<bool>()[0] = c;
    auto r = (*s)->run({{"cond", cond}});
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    if (c) {
      EXPECT_TRUE((*r)[0].second.is_none());
    } else {
      ASSERT_TRUE((*r)[0].second.is_sequence());
      ASSERT_EQ((*r)[0].second.items().size(), 1u);
      EXPECT_EQ((*r)[0].second.items()[0].shape(), (Shape{5}));
    }
  }
}

}  // namespace
}  // namespace tandem
