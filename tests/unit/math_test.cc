// math/reduction family: the blocked GEMM against naive loops (all transposes,
// block edges), MatMul broadcasting, softmax opset semantics, reductions over
// arbitrary axes, shape inference with symbolic dims, and actionable errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/reference/kernels/math_gemm.h"
#include "core/runtime/session.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::as_bytes;
using testing::attr_int;
using testing::attr_ints;
using testing::ModelBuilder;
using testing::random_floats;

std::unique_ptr<Session> load(const ModelBuilder& b) {
  auto s = Session::load(as_bytes(b.build()));
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return s.is_ok() ? std::move(s).value() : nullptr;
}

Value floats(Shape shape, const std::vector<float>& v) { return Value(Tensor::from_vector<float>(std::move(shape), v)); }

TEST(MathTest, BlockedGemmMatchesNaiveLoops) {
  // Sizes straddle the register tile and the MC/KC/NC blocks.
  struct Case { int64_t m, n, k; };
  for (const Case c : {Case{1, 1, 1}, Case{5, 9, 3}, Case{130, 20, 260}, Case{6, 1030, 20}, Case{4, 8, 0}}) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        const std::vector<float> a = random_floats(static_cast<size_t>(c.m * c.k), 1);
        const std::vector<float> b = random_floats(static_cast<size_t>(c.k * c.n), 2);
        const int64_t ldc = c.n + 3;  // C wider than N: only the first N columns may change
        std::vector<float> y(static_cast<size_t>(c.m * ldc), 1.0f);
        tandem::reference::gemm_f32(ta, tb, c.m, c.n, c.k, 0.5f, a.data(), ta ? c.m : c.k, b.data(),
                                    tb ? c.k : c.n, 2.0f, y.data(), ldc);
        double max_err = 0;
        for (int64_t i = 0; i < c.m; ++i) {
          for (int64_t j = 0; j < c.n; ++j) {
            double s = 0;
            for (int64_t p = 0; p < c.k; ++p) {
              s += double(ta ? a[p * c.m + i] : a[i * c.k + p]) * (tb ? b[j * c.k + p] : b[p * c.n + j]);
            }
            max_err = std::max(max_err, std::fabs(y[i * ldc + j] - (0.5 * s + 2.0)));
          }
          for (int64_t j = c.n; j < ldc; ++j) ASSERT_EQ(y[i * ldc + j], 1.0f);
        }
        EXPECT_LT(max_err, 1e-4) << c.m << "x" << c.n << "x" << c.k << " ta=" << ta << " tb=" << tb;
      }
    }
  }
}

TEST(MathTest, MatMulBroadcastsBatchAndVectors) {
  ModelBuilder mb;
  mb.inputs = {{"a", DType::kFloat32, {2, 1, 3, 4}, {}}, {"b", DType::kFloat32, {3, 4, 5}, {}},
               {"v", DType::kFloat32, {4}, {}}};
  mb.outputs = {{"y", DType::kFloat32, {}, {}}, {"yv", DType::kFloat32, {}, {}}};
  mb.nodes = {{"MatMul", {"a", "b"}, {"y"}, {}}, {"MatMul", {"v", "b"}, {"yv"}, {}}};
  auto s = load(mb);
  ASSERT_TRUE(s);
  const std::vector<float> a = random_floats(24, 3), b = random_floats(60, 4), v = random_floats(4, 5);
  auto out = s->run({{"a", floats({2, 1, 3, 4}, a)}, {"b", floats({3, 4, 5}, b)}, {"v", floats({4}, v)}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& y = (*out)[0].second.tensor();
  const Tensor& yv = (*out)[1].second.tensor();
  ASSERT_EQ(y.shape(), (Shape{2, 3, 3, 5}));
  ASSERT_EQ(yv.shape(), (Shape{3, 5}));
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t i = 0; i < 3; ++i) {
        for (int64_t j = 0; j < 5; ++j) {
          double acc = 0;
          for (int64_t k = 0; k < 4; ++k) acc += a[(n * 3 + i) * 4 + k] * b[(c * 4 + k) * 5 + j];
          EXPECT_NEAR(y.data<float>()[((n * 3 + c) * 3 + i) * 5 + j], acc, 1e-5);
        }
      }
    }
  }
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t j = 0; j < 5; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < 4; ++k) acc += v[k] * b[(c * 4 + k) * 5 + j];
      EXPECT_NEAR(yv.data<float>()[c * 5 + j], acc, 1e-5);
    }
  }
}

TEST(MathTest, SoftmaxAxisSemanticsChangedAtOpset13) {
  const std::vector<float> x = random_floats(2 * 3 * 4, 6);
  for (int64_t opset : {11, 13}) {
    ModelBuilder mb;
    mb.opset = opset;
    mb.inputs = {{"x", DType::kFloat32, {2, 3, 4}, {}}};
    mb.outputs = {{"y", DType::kFloat32, {}, {}}};
    mb.nodes = {{"Softmax", {"x"}, {"y"}, {attr_int("axis", 1)}}};
    auto s = load(mb);
    ASSERT_TRUE(s);
    auto out = s->run({{"x", floats({2, 3, 4}, x)}});
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    const float* y = (*out)[0].second.tensor().data<float>();
    for (int64_t n = 0; n < 2; ++n) {
      if (opset == 11) {  // coerced to [2, 12]: each row of 12 sums to 1
        double sum = 0;
        for (int64_t i = 0; i < 12; ++i) sum += y[n * 12 + i];
        EXPECT_NEAR(sum, 1.0, 1e-5);
      } else {  // along axis 1 only
        for (int64_t k = 0; k < 4; ++k) {
          double sum = 0;
          for (int64_t c = 0; c < 3; ++c) sum += y[(n * 3 + c) * 4 + k];
          EXPECT_NEAR(sum, 1.0, 1e-5);
        }
      }
    }
  }
}

TEST(MathTest, ReductionsOverArbitraryAxes) {
  const Shape shape = {3, 4, 5, 2};
  const std::vector<float> x = random_floats(120, 9);
  ModelBuilder mb;
  mb.opset = 13;
  mb.inputs = {{"x", DType::kFloat32, {3, 4, 5, 2}, {}}, {"axes", DType::kInt64, {2}, {}}};
  mb.outputs = {{"sum", DType::kFloat32, {}, {}}, {"max", DType::kFloat32, {}, {}},
                {"lse", DType::kFloat32, {}, {}}, {"arg", DType::kInt64, {}, {}}};
  mb.nodes = {{"ReduceSum", {"x", "axes"}, {"sum"}, {attr_int("keepdims", 0)}},
              {"ReduceMax", {"x"}, {"max"}, {attr_ints("axes", {0, 2})}},
              {"ReduceLogSumExp", {"x"}, {"lse"}, {attr_ints("axes", {2, 0}), attr_int("keepdims", 0)}},
              {"ArgMax", {"x"}, {"arg"}, {attr_int("axis", 2), attr_int("keepdims", 0)}}};
  auto s = load(mb);
  ASSERT_TRUE(s);
  auto out = s->run({{"x", floats(shape, x)}, {"axes", Value(Tensor::from_vector<int64_t>({2}, {0, -2}))}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& sum = (*out)[0].second.tensor();
  const Tensor& mx = (*out)[1].second.tensor();
  const Tensor& lse = (*out)[2].second.tensor();
  const Tensor& arg = (*out)[3].second.tensor();
  ASSERT_EQ(sum.shape(), (Shape{4, 2}));
  ASSERT_EQ(mx.shape(), (Shape{1, 4, 1, 2}));
  ASSERT_EQ(lse.shape(), (Shape{4, 2}));
  ASSERT_EQ(arg.shape(), (Shape{3, 4, 2}));
  auto at = [&](int64_t a, int64_t b, int64_t c, int64_t d) { return x[((a * 4 + b) * 5 + c) * 2 + d]; };
  for (int64_t b = 0; b < 4; ++b) {
    for (int64_t d = 0; d < 2; ++d) {
      double s_ = 0, m = -INFINITY, e = 0;
      for (int64_t a = 0; a < 3; ++a) {
        for (int64_t c = 0; c < 5; ++c) {
          s_ += at(a, b, c, d);
          m = std::max<double>(m, at(a, b, c, d));
          e += std::exp(double(at(a, b, c, d)));
        }
      }
      EXPECT_NEAR(sum.data<float>()[b * 2 + d], s_, 1e-5);
      EXPECT_EQ(mx.data<float>()[b * 2 + d], static_cast<float>(m));
      EXPECT_NEAR(lse.data<float>()[b * 2 + d], std::log(e), 1e-5);
    }
  }
  for (int64_t a = 0; a < 3; ++a) {
    for (int64_t b = 0; b < 4; ++b) {
      for (int64_t d = 0; d < 2; ++d) {
        int64_t best = 0;
        for (int64_t c = 1; c < 5; ++c) {
          if (at(a, b, c, d) > at(a, b, best, d)) best = c;
        }
        EXPECT_EQ(arg.data<int64_t>()[(a * 4 + b) * 2 + d], best);
      }
    }
  }
}

TEST(MathTest, EmptyReductionsGiveIdentities) {
  ModelBuilder mb;
  mb.opset = 13;
  mb.inputs = {{"x", DType::kFloat32, {2, 0, 3}, {}}};
  mb.outputs = {{"sum", DType::kFloat32, {}, {}}, {"prod", DType::kFloat32, {}, {}},
                {"max", DType::kFloat32, {}, {}}};
  mb.nodes = {{"ReduceSum", {"x"}, {"sum"}, {}},  // no axes: everything
              {"ReduceProd", {"x"}, {"prod"}, {attr_ints("axes", {1})}},
              {"ReduceMax", {"x"}, {"max"}, {attr_ints("axes", {1}), attr_int("keepdims", 0)}}};
  auto s = load(mb);
  ASSERT_TRUE(s);
  auto out = s->run({{"x", floats({2, 0, 3}, {})}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].second.tensor().shape(), (Shape{1, 1, 1}));
  EXPECT_EQ((*out)[0].second.tensor().to_float_vector(), (std::vector<float>{0}));
  EXPECT_EQ((*out)[1].second.tensor().to_float_vector(), (std::vector<float>(6, 1.0f)));
  EXPECT_EQ((*out)[2].second.tensor().shape(), (Shape{2, 3}));
  EXPECT_TRUE(std::isinf((*out)[2].second.tensor().data<float>()[0]));
}

TEST(MathTest, ShapeInferenceKeepsSymbolicDims) {
  ModelBuilder mb;
  mb.inputs = {{"x", DType::kFloat32, {-1, -1, 16}, {"batch", "seq"}}};
  mb.outputs = {{"g", DType::kFloat32, {}, {}}, {"a", DType::kInt64, {}, {}}};
  mb.initializers = {{"w", {16, 8}, random_floats(128, 10)}, {"b", {8}, random_floats(8, 11)},
                     {"w2", {4, 8}, random_floats(32, 12)}};
  mb.nodes = {{"MatMul", {"x", "w"}, {"h"}, {}},
              {"Softmax", {"h"}, {"p"}, {}},
              {"ReduceMean", {"p"}, {"m"}, {attr_ints("axes", {-1})}},
              {"ReduceSum", {"p"}, {"r"}, {attr_ints("axes", {1}), attr_int("keepdims", 0)}},
              {"Gemm", {"r", "w2", "b"}, {"g"}, {attr_int("transB", 1)}},
              {"ArgMax", {"h"}, {"a"}, {attr_int("axis", -1)}}};
  auto s = load(mb);
  ASSERT_TRUE(s);
  const graph::Graph& g = s->graph();
  EXPECT_EQ(g.values[g.find("h")].type.to_string(), "float32[batch, seq, 8]");
  EXPECT_EQ(g.values[g.find("p")].type.to_string(), "float32[batch, seq, 8]");
  EXPECT_EQ(g.values[g.find("m")].type.to_string(), "float32[batch, seq, 1]");
  EXPECT_EQ(g.values[g.find("r")].type.to_string(), "float32[batch, 8]");
  EXPECT_EQ(g.values[g.find("g")].type.to_string(), "float32[batch, 4]");
  EXPECT_EQ(g.values[g.find("a")].type.to_string(), "int64[batch, seq, 1]");
}

TEST(MathTest, BadInputsGiveActionableErrors) {
  ModelBuilder mb;
  mb.inputs = {{"a", DType::kFloat32, {-1, 3}, {"n"}}, {"b", DType::kFloat32, {-1, 5}, {"k"}}};
  mb.outputs = {{"y", DType::kFloat32, {}, {}}};
  mb.nodes = {{"MatMul", {"a", "b"}, {"y"}, {}}};
  auto s = load(mb);
  ASSERT_TRUE(s);
  auto out = s->run({{"a", floats({2, 3}, random_floats(6, 1))}, {"b", floats({4, 5}, random_floats(20, 2))}});
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.status().message().find("inner dimensions differ"), std::string::npos) << out.status().to_string();

  ModelBuilder topk;
  topk.inputs = {{"x", DType::kFloat32, {-1}, {"n"}}, {"k", DType::kInt64, {1}, {}}};
  topk.outputs = {{"v", DType::kFloat32, {}, {}}, {"i", DType::kInt64, {}, {}}};
  topk.nodes = {{"TopK", {"x", "k"}, {"v", "i"}, {}}};
  auto st = load(topk);
  ASSERT_TRUE(st);
  auto r = st->run({{"x", floats({3}, {1, 2, 3})}, {"k", Value(Tensor::from_vector<int64_t>({1}, {5}))}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("K = 5"), std::string::npos) << r.status().to_string();
  r = st->run({{"x", floats({4}, {1, 3, 3, 2})}, {"k", Value(Tensor::from_vector<int64_t>({1}, {2}))}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)[1].second.tensor().to_int64_vector(), (std::vector<int64_t>{1, 2}));  // ties: lower index first
}

}  // namespace
}  // namespace tandem
