// Quantization kernels: rounding, per-axis/per-row zero points, integer
// convolution against a direct loop, and clear errors on bad inputs.
#include <gtest/gtest.h>

#include <random>

#include "core/runtime/session.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::attr_int;
using testing::attr_ints;
using testing::ModelBuilder;
using testing::run_model;

TEST(QuantizationTest, QuantizeRoundsHalfToEvenAndSaturates) {
  ModelBuilder b;
  b.opset = 13;
  b.inputs = {{"x", DType::kFloat32, {8}}, {"s", DType::kFloat32, {}}, {"z", DType::kUInt8, {}}};
  b.outputs = {{"y", DType::kUInt8, {8}}};
  b.nodes = {{"QuantizeLinear", {"x", "s", "z"}, {"y"}, {}}};
  auto r = run_model(b, {{"x", Tensor::from_vector<float>({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300, -300, 3.4f})},
                         {"s", Tensor::scalar_float(1.0f)},
                         {"z", Tensor::from_vector<uint8_t>({}, {10})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Tensor& y = (*r)[0].second.tensor();
  const std::vector<uint8_t> expect = {10, 12, 12, 10, 8, 255, 0, 13};
  for (size_t i = 0; i < expect.size(); ++i) EXPECT_EQ(y.data<uint8_t>()[i], expect[i]) << i;
}

TEST(QuantizationTest, DequantizePerAxisAndRejectsWrongScaleLength) {
  ModelBuilder b;
  b.opset = 13;
  b.inputs = {{"x", DType::kInt8, {2, 3}}, {"s", DType::kFloat32, {3}}, {"z", DType::kInt8, {3}}};
  b.outputs = {{"y", DType::kFloat32, {2, 3}}};
  b.nodes = {{"DequantizeLinear", {"x", "s", "z"}, {"y"}, {attr_int("axis", 1)}}};
  auto r = run_model(b, {{"x", Tensor::from_vector<int8_t>({2, 3}, {-128, 0, 127, 1, 2, 3})},
                         {"s", Tensor::from_vector<float>({3}, {1.0f, 0.5f, 2.0f})},
                         {"z", Tensor::from_vector<int8_t>({3}, {0, 2, -1})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const std::vector<float> expect = {-128, -1, 256, 1, 0, 8};
  for (size_t i = 0; i < expect.size(); ++i) EXPECT_FLOAT_EQ((*r)[0].second.tensor().data<float>()[i], expect[i]);

  b.inputs[1].dims = {2};
  b.inputs[2].dims = {2};
  auto bad = run_model(b, {{"x", Tensor::from_vector<int8_t>({2, 3}, {0, 0, 0, 0, 0, 0})},
                           {"s", Tensor::from_vector<float>({2}, {1, 1})},
                           {"z", Tensor::from_vector<int8_t>({2}, {0, 0})}});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("per-axis scale"), std::string::npos) << bad.status().to_string();
}

TEST(QuantizationTest, MatMulIntegerPerRowZeroPointsAndBatchBroadcast) {
  ModelBuilder b;
  b.inputs = {{"a", DType::kUInt8, {2, 2, 3}}, {"b", DType::kInt8, {3, 2}}, {"az", DType::kUInt8, {2}},
              {"bz", DType::kInt8, {}}};
  b.outputs = {{"y", DType::kInt32, {2, 2, 2}}};
  b.nodes = {{"MatMulInteger", {"a", "b", "az", "bz"}, {"y"}, {}}};
  const std::vector<uint8_t> a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const std::vector<int8_t> bm = {1, -1, 2, 0, -3, 4};
  const std::vector<uint8_t> az = {1, 2};
  const int8_t bz = -1;
  auto r = run_model(b, {{"a", Tensor::from_vector<uint8_t>({2, 2, 3}, a)},
                         {"b", Tensor::from_vector<int8_t>({3, 2}, bm)},
                         {"az", Tensor::from_vector<uint8_t>({2}, az)},
                         {"bz", Tensor::from_vector<int8_t>({}, {bz})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Tensor& y = (*r)[0].second.tensor();
  ASSERT_EQ(y.shape(), (Shape{2, 2, 2}));
  for (int bt = 0; bt < 2; ++bt) {
    for (int m = 0; m < 2; ++m) {
      for (int n = 0; n < 2; ++n) {
        int32_t acc = 0;
        for (int k = 0; k < 3; ++k) acc += (a[bt * 6 + m * 3 + k] - az[m]) * (bm[k * 2 + n] - bz);
        EXPECT_EQ(y.data<int32_t>()[bt * 4 + m * 2 + n], acc);
      }
    }
  }
}

TEST(QuantizationTest, ConvIntegerMatchesDirectLoopWithPadsStridesAndGroups) {
  const int64_t N = 1, C = 4, H = 5, W = 6, M = 4, G = 2, KH = 3, KW = 2, SH = 2, SW = 1, P = 1;
  ModelBuilder b;
  b.inputs = {{"x", DType::kUInt8, {N, C, H, W}}, {"w", DType::kUInt8, {M, C / G, KH, KW}},
              {"xz", DType::kUInt8, {}}, {"wz", DType::kUInt8, {M}}};
  b.outputs = {{"y", DType::kInt32, {-1, -1, -1, -1}, {"a", "b", "c", "d"}}};
  b.nodes = {{"ConvInteger", {"x", "w", "xz", "wz"}, {"y"},
              {attr_int("group", G), attr_ints("strides", {SH, SW}), attr_ints("pads", {P, P, P, P})}}};
  std::mt19937 rng(7);
  std::vector<uint8_t> x(static_cast<size_t>(N * C * H * W)), w(static_cast<size_t>(M * C / G * KH * KW));
  for (auto& v : x) v = static_cast<uint8_t>(rng() % 256);
  for (auto& v : w) v = static_cast<uint8_t>(rng() % 256);
  const uint8_t xz = 100;
  const std::vector<uint8_t> wz = {3, 130, 0, 255};
  auto r = run_model(b, {{"x", Tensor::from_vector<uint8_t>({N, C, H, W}, x)},
                         {"w", Tensor::from_vector<uint8_t>({M, C / G, KH, KW}, w)},
                         {"xz", Tensor::from_vector<uint8_t>({}, {xz})},
                         {"wz", Tensor::from_vector<uint8_t>({M}, wz)}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Tensor& y = (*r)[0].second.tensor();
  const int64_t OH = (H + 2 * P - KH) / SH + 1, OW = (W + 2 * P - KW) / SW + 1;
  ASSERT_EQ(y.shape(), (Shape{N, M, OH, OW}));
  for (int64_t m = 0; m < M; ++m) {
    const int64_t g = m / (M / G);
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        int32_t acc = 0;
        for (int64_t c = 0; c < C / G; ++c) {
          for (int64_t kh = 0; kh < KH; ++kh) {
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t ih = oh * SH - P + kh, iw = ow * SW - P + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const int32_t xv = x[static_cast<size_t>(((g * (C / G) + c) * H + ih) * W + iw)] - xz;
              const int32_t wv = w[static_cast<size_t>(((m * (C / G) + c) * KH + kh) * KW + kw)] - wz[m];
              acc += xv * wv;
            }
          }
        }
        EXPECT_EQ(y.data<int32_t>()[(m * OH + oh) * OW + ow], acc) << m << "," << oh << "," << ow;
      }
    }
  }
}

TEST(QuantizationTest, QLinearMatMulRejectsInnerDimMismatch) {
  ModelBuilder b;
  b.opset = 10;
  b.inputs = {{"a", DType::kUInt8, {-1, -1}, {"M", "K"}}, {"as", DType::kFloat32, {}}, {"az", DType::kUInt8, {}},
              {"b", DType::kUInt8, {-1, -1}, {"K2", "N"}}, {"bs", DType::kFloat32, {}}, {"bz", DType::kUInt8, {}},
              {"ys", DType::kFloat32, {}}, {"yz", DType::kUInt8, {}}};
  b.outputs = {{"y", DType::kUInt8, {-1, -1}, {"M", "N"}}};
  b.nodes = {{"QLinearMatMul", {"a", "as", "az", "b", "bs", "bz", "ys", "yz"}, {"y"}, {}}};
  auto u8 = [](Shape s) { return Tensor::allocate(DType::kUInt8, std::move(s)).value(); };
  auto r = run_model(b, {{"a", u8({2, 3})}, {"as", Tensor::scalar_float(1)}, {"az", u8({})},
                         {"b", u8({4, 2})}, {"bs", Tensor::scalar_float(1)}, {"bz", u8({})},
                         {"ys", Tensor::scalar_float(1)}, {"yz", u8({})}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("inner dimensions"), std::string::npos) << r.status().to_string();
}

}  // namespace
}  // namespace tandem
