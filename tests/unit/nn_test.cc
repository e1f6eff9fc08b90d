// nn family: Conv/ConvTranspose against naive loops, shape inference with
// symbolic dims, and actionable errors on bad inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/runtime/session.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::as_bytes;
using testing::attr_int;
using testing::attr_ints;
using testing::ModelBuilder;
using testing::random_floats;

struct ConvCase {
  int64_t n, c, h, w, m, k, group, stride, pad, dil;
};

// out[n, m, oh, ow] = b[m] + sum over c in group, kh, kw of x * w.
std::vector<float> naive_conv(const ConvCase& p, const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>& b, int64_t oh_n, int64_t ow_n) {
  const int64_t cg = p.c / p.group, mg = p.m / p.group;
  std::vector<float> y(static_cast<size_t>(p.n * p.m * oh_n * ow_n));
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t m = 0; m < p.m; ++m)
      for (int64_t oh = 0; oh < oh_n; ++oh)
        for (int64_t ow = 0; ow < ow_n; ++ow) {
          double acc = b[m];
          const int64_t g = m / mg;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t kh = 0; kh < p.k; ++kh)
              for (int64_t kw = 0; kw < p.k; ++kw) {
                const int64_t ih = oh * p.stride - p.pad + kh * p.dil, iw = ow * p.stride - p.pad + kw * p.dil;
                if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
                acc += x[((n * p.c + g * cg + c) * p.h + ih) * p.w + iw] * w[((m * cg + c) * p.k + kh) * p.k + kw];
              }
          y[((n * p.m + m) * oh_n + oh) * ow_n + ow] = static_cast<float>(acc);
        }
  return y;
}

std::unique_ptr<Session> load(const ModelBuilder& b) {
  auto s = Session::load(as_bytes(b.build()));
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return s.is_ok() ? std::move(s).value() : nullptr;
}

TEST(NnTest, ConvMatchesNaiveLoops) {
  const ConvCase cases[] = {
      {2, 4, 9, 7, 6, 3, 1, 1, 1, 1},   // plain 3x3 with padding
      {1, 6, 8, 8, 6, 3, 6, 2, 1, 1},   // depthwise, stride 2
      {1, 4, 10, 9, 8, 3, 2, 1, 2, 2},  // grouped, dilated
      {1, 5, 6, 6, 7, 1, 1, 1, 0, 1},   // pointwise (no im2col)
      {1, 3, 11, 13, 9, 5, 1, 3, 2, 1}, // larger kernel, stride 3
  };
  uint32_t seed = 1;
  for (const ConvCase& p : cases) {
    const int64_t ek = (p.k - 1) * p.dil + 1;
    const int64_t oh = (p.h + 2 * p.pad - ek) / p.stride + 1, ow = (p.w + 2 * p.pad - ek) / p.stride + 1;
    const std::vector<float> x = random_floats(p.n * p.c * p.h * p.w, seed++);
    const std::vector<float> w = random_floats(p.m * (p.c / p.group) * p.k * p.k, seed++);
    const std::vector<float> b = random_floats(p.m, seed++);
    ModelBuilder mb;
    mb.inputs = {{"x", DType::kFloat32, {-1, p.c, p.h, p.w}, {"batch"}}};
    mb.outputs = {{"y", DType::kFloat32, {}, {}}};
    mb.initializers = {{"w", {p.m, p.c / p.group, p.k, p.k}, w}, {"b", {p.m}, b}};
    mb.nodes = {{"Conv", {"x", "w", "b"}, {"y"},
                 {attr_int("group", p.group), attr_ints("strides", {p.stride, p.stride}),
                  attr_ints("pads", {p.pad, p.pad, p.pad, p.pad}), attr_ints("dilations", {p.dil, p.dil})}}};
    auto s = load(mb);
    ASSERT_TRUE(s);
    auto out = s->run({{"x", Value(Tensor::from_vector<float>({p.n, p.c, p.h, p.w}, x))}});
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    const Tensor& y = (*out)[0].second.tensor();
    ASSERT_EQ(y.shape(), (Shape{p.n, p.m, oh, ow}));
    const std::vector<float> want = naive_conv(p, x, w, b, oh, ow);
    const std::vector<float> got = y.to_float_vector();
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << "element " << i;
  }
}

TEST(NnTest, ShapeInferenceKeepsSymbolicBatch) {
  ModelBuilder mb;
  mb.inputs = {{"x", DType::kFloat32, {-1, 3, 32, 32}, {"batch"}}};
  mb.outputs = {{"p", DType::kFloat32, {}, {}}};
  mb.initializers = {{"w", {8, 3, 3, 3}, random_floats(8 * 27, 7)}};
  mb.nodes = {{"Conv", {"x", "w"}, {"c"}, {attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1})}},
              {"MaxPool", {"c"}, {"m"}, {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}),
                                          attr_int("ceil_mode", 1)}},
              {"GlobalAveragePool", {"m"}, {"p"}, {}}};
  auto s = load(mb);
  ASSERT_TRUE(s);
  const graph::Graph& g = s->graph();
  EXPECT_EQ(g.values[g.find("c")].type.to_string(), "float32[batch, 8, 16, 16]");
  EXPECT_EQ(g.values[g.find("m")].type.to_string(), "float32[batch, 8, 8, 8]");
  EXPECT_EQ(g.values[g.find("p")].type.to_string(), "float32[batch, 8, 1, 1]");
  auto out = s->run({{"x", Value(Tensor::from_vector<float>({2, 3, 32, 32}, random_floats(2 * 3 * 32 * 32, 8)))}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].second.tensor().shape(), (Shape{2, 8, 1, 1}));
}

TEST(NnTest, ConvTransposeIsTheAdjointOfConv) {
  // <conv(x), y> == <x, conv_transpose(y)> for the same weights (no bias).
  const std::vector<float> x = random_floats(1 * 3 * 7 * 7, 11), w = random_floats(4 * 3 * 3 * 3, 12);
  const std::vector<float> y = random_floats(1 * 4 * 4 * 4, 13);
  ModelBuilder mb;
  mb.inputs = {{"x", DType::kFloat32, {1, 3, 7, 7}, {}}, {"y", DType::kFloat32, {1, 4, 4, 4}, {}}};
  mb.outputs = {{"cx", DType::kFloat32, {}, {}}, {"ty", DType::kFloat32, {}, {}}};
  mb.initializers = {{"w", {4, 3, 3, 3}, w}};
  const std::vector<testing::AttrSpec> attrs = {attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1})};
  mb.nodes = {{"Conv", {"x", "w"}, {"cx"}, attrs}, {"ConvTranspose", {"y", "w"}, {"ty"}, attrs}};
  auto s = load(mb);
  ASSERT_TRUE(s);
  auto out = s->run({{"x", Value(Tensor::from_vector<float>({1, 3, 7, 7}, x))},
                     {"y", Value(Tensor::from_vector<float>({1, 4, 4, 4}, y))}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& cx = (*out)[0].second.tensor();
  const Tensor& ty = (*out)[1].second.tensor();
  ASSERT_EQ(cx.shape(), (Shape{1, 4, 4, 4}));
  ASSERT_EQ(ty.shape(), (Shape{1, 3, 7, 7}));
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < y.size(); ++i) lhs += cx.data<float>()[i] * y[i];
  for (size_t i = 0; i < x.size(); ++i) rhs += ty.data<float>()[i] * x[i];
  EXPECT_NEAR(lhs, rhs, 1e-3);
}

TEST(NnTest, BadInputsGiveActionableErrors) {
  ModelBuilder mb;
  mb.inputs = {{"x", DType::kFloat32, {1, -1, 5, 5}, {"", "c"}}};
  mb.outputs = {{"y", DType::kFloat32, {}, {}}};
  mb.initializers = {{"w", {2, 3, 3, 3}, std::vector<float>(54, 1.0f)}};
  mb.nodes = {{"Conv", {"x", "w"}, {"y"}, {}}};
  auto s = load(mb);
  ASSERT_TRUE(s);
  auto out = s->run({{"x", Value(Tensor::from_vector<float>({1, 4, 5, 5}, std::vector<float>(100)))}});
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.status().message().find("channels"), std::string::npos) << out.status().to_string();

  ModelBuilder pool;
  pool.inputs = {{"x", DType::kFloat32, {1, 1, 2, 2}, {}}};
  pool.outputs = {{"y", DType::kFloat32, {}, {}}};
  pool.nodes = {{"MaxPool", {"x"}, {"y"}, {attr_ints("kernel_shape", {3, 3})}}};
  auto sp = Session::load(as_bytes(pool.build()));
  if (sp.is_ok()) {
    auto r = (*sp)->run({{"x", Value(Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4}))}});
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("larger than the padded input"), std::string::npos) << r.status().to_string();
  }
}

TEST(NnTest, ResizeLinearAndNearest) {
  ModelBuilder mb;
  mb.opset = 13;
  mb.inputs = {{"x", DType::kFloat32, {1, 1, 1, 2}, {}}};
  mb.outputs = {{"lin", DType::kFloat32, {}, {}}, {"nn", DType::kFloat32, {}, {}}};
  mb.initializers = {{"scales", {4}, {1, 1, 1, 2}}};
  testing::AttrSpec linear{"mode", testing::AttrSpec::kString, 0, 0, {}, "linear"};
  mb.nodes = {{"Resize", {"x", "", "scales"}, {"lin"}, {linear}}, {"Resize", {"x", "", "scales"}, {"nn"}, {}}};
  auto s = load(mb);
  ASSERT_TRUE(s);
  auto out = s->run({{"x", Value(Tensor::from_vector<float>({1, 1, 1, 2}, {0, 4}))}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  // half_pixel: source coordinates -0.25, 0.25, 0.75, 1.25.
  EXPECT_EQ((*out)[0].second.tensor().to_float_vector(), (std::vector<float>{0, 1, 3, 4}));
  EXPECT_EQ((*out)[1].second.tensor().to_float_vector(), (std::vector<float>{0, 0, 4, 4}));
  EXPECT_EQ(s->graph().values[s->graph().find("lin")].type.to_string(), "float32[1, 1, 1, 4]");
}

}  // namespace
}  // namespace tandem
