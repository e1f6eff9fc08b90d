// Misc kernels: DFT paths agree (FFT vs direct sum), NMS selection order,
// TfIdf skip-grams, random generator shapes, and clear errors on bad inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/runtime/session.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::AttrSpec;
using testing::attr_float;
using testing::attr_int;
using testing::attr_ints;
using testing::ModelBuilder;
using testing::run_model;
using testing::attr_string;

// DFT of a real signal of length n (power of two or not) against the definition.
void check_dft(int64_t n, bool onesided) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {1, n, 1}}};
  b.outputs = {{"y", DType::kFloat32, {-1, -1, -1}, {"a", "b", "c"}}};
  b.nodes = {{"DFT", {"x"}, {"y"}, {attr_int("axis", 1), attr_int("onesided", onesided ? 1 : 0)}}};
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = std::sin(0.3f * static_cast<float>(i * i)) + 0.1f;
  auto r = run_model(b, {{"x", Tensor::from_vector<float>({1, n, 1}, x)}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Tensor& y = (*r)[0].second.tensor();
  const int64_t bins = onesided ? n / 2 + 1 : n;
  ASSERT_EQ(y.shape(), (Shape{1, bins, 2}));
  for (int64_t k = 0; k < bins; ++k) {
    double re = 0, im = 0;
    for (int64_t t = 0; t < n; ++t) {
      const double a = -2.0 * std::numbers::pi * static_cast<double>(k * t) / static_cast<double>(n);
      re += x[static_cast<size_t>(t)] * std::cos(a);
      im += x[static_cast<size_t>(t)] * std::sin(a);
    }
    EXPECT_NEAR(y.data<float>()[k * 2], re, 1e-3) << n << " bin " << k;
    EXPECT_NEAR(y.data<float>()[k * 2 + 1], im, 1e-3) << n << " bin " << k;
  }
}

TEST(MiscTest, DftFftAndDirectPathsMatchDefinition) {
  check_dft(16, false);
  check_dft(12, false);
  check_dft(64, true);
  check_dft(9, true);
}

TEST(MiscTest, DftRejectsAxisOnComplexDimension) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {1, 4, 2}}};
  b.outputs = {{"y", DType::kFloat32, {1, 4, 2}}};
  b.nodes = {{"DFT", {"x"}, {"y"}, {attr_int("axis", 2)}}};
  auto r = run_model(b, {{"x", Tensor::allocate(DType::kFloat32, {1, 4, 2}).value()}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().to_string().find("axis"), std::string::npos) << r.status().to_string();
}

TEST(MiscTest, NonMaxSuppressionKeepsBestAndRejectsBadShapes) {
  ModelBuilder b;
  b.opset = 11;
  b.inputs = {{"boxes", DType::kFloat32, {1, 3, 4}}, {"scores", DType::kFloat32, {1, 1, 3}},
              {"max", DType::kInt64, {1}}, {"iou", DType::kFloat32, {1}}};
  b.outputs = {{"sel", DType::kInt64, {-1, 3}}};
  b.nodes = {{"NonMaxSuppression", {"boxes", "scores", "max", "iou"}, {"sel"}, {}}};
  // Box 1 overlaps box 0 heavily; box 2 is apart. Scores favour box 1.
  auto boxes = Tensor::from_vector<float>({1, 3, 4}, {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 5, 5, 6, 6});
  auto r = run_model(b, {{"boxes", boxes},
                         {"scores", Tensor::from_vector<float>({1, 1, 3}, {0.8f, 0.9f, 0.1f})},
                         {"max", Tensor::from_vector<int64_t>({1}, {10})},
                         {"iou", Tensor::from_vector<float>({1}, {0.5f})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Tensor& sel = (*r)[0].second.tensor();
  ASSERT_EQ(sel.shape(), (Shape{2, 3}));
  EXPECT_EQ(sel.data<int64_t>()[2], 1);
  EXPECT_EQ(sel.data<int64_t>()[5], 2);

  auto bad = run_model(b, {{"boxes", boxes},
                           {"scores", Tensor::from_vector<float>({1, 1, 3}, {0, 0, 0})},
                           {"max", Tensor::from_vector<int64_t>({1}, {10})},
                           {"iou", Tensor::from_vector<float>({1}, {1.5f})}});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().to_string().find("iou_threshold"), std::string::npos);
}

TEST(MiscTest, TfIdfCountsSkipGramsAndRejectsBadPool) {
  ModelBuilder b;
  b.opset = 9;
  b.inputs = {{"x", DType::kInt64, {6}}};
  b.outputs = {{"y", DType::kFloat32, {3}}};
  std::vector<AttrSpec> attrs = {attr_string("mode", "TF"), attr_int("min_gram_length", 1),
                                 attr_int("max_gram_length", 2), attr_int("max_skip_count", 1),
                                 attr_ints("ngram_counts", {0, 1}), attr_ints("ngram_indexes", {0, 1, 2}),
                                 attr_ints("pool_int64s", {7, 7, 8, 8, 9})};
  b.nodes = {{"TfIdfVectorizer", {"x"}, {"y"}, attrs}};
  // Unigram 7 twice; bigram (7,8): at skip 0 once (pos 1-2), skip 1 once (pos 0-2); (8,9): skip 1 (pos 2-4).
  auto r = run_model(b, {{"x", Tensor::from_vector<int64_t>({6}, {7, 7, 8, 1, 9, 3})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const float* y = (*r)[0].second.tensor().data<float>();
  EXPECT_EQ(y[0], 2);
  EXPECT_EQ(y[1], 2);
  EXPECT_EQ(y[2], 1);

  b.nodes[0].attrs[6] = attr_ints("pool_int64s", {7, 7, 8, 8});  // bigrams no longer divide the pool
  b.nodes[0].attrs[5] = attr_ints("ngram_indexes", {0, 1, 2});
  auto bad = run_model(b, {{"x", Tensor::from_vector<int64_t>({6}, {7, 7, 8, 1, 9, 3})}});
  ASSERT_FALSE(bad.is_ok());
}

TEST(MiscTest, StringNormalizerUppercasesAndKeepsShape) {
  ModelBuilder b;
  b.opset = 10;
  b.inputs = {{"x", DType::kString, {1, 2}}};
  b.outputs = {{"y", DType::kString, {1, -1}}};
  b.nodes = {{"StringNormalizer", {"x"}, {"y"}, {attr_string("case_change_action", "UPPER")}}};
  auto r = run_model(b, {{"x", Tensor::from_strings({1, 2}, {"abc", "Déf"})}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Tensor& y = (*r)[0].second.tensor();
  ASSERT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_EQ(y.strings()[0], "ABC");
  EXPECT_EQ(y.strings()[1], "DéF");
}

TEST(MiscTest, RandomGeneratorsHonourShapeRangeAndSeed) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {2, 3}}};
  b.outputs = {{"u", DType::kFloat64, {4, 5}}, {"n", DType::kFloat32, {2, 3}}};
  b.nodes = {{"RandomUniform", {}, {"u"}, {attr_int("dtype", 11), attr_ints("shape", {4, 5}), attr_float("low", 2),
                                          attr_float("high", 3), attr_float("seed", 5)}},
             {"RandomNormalLike", {"x"}, {"n"}, {attr_float("seed", 1)}}};
  auto r1 = run_model(b, {{"x", Tensor::allocate(DType::kFloat32, {2, 3}).value()}});
  auto r2 = run_model(b, {{"x", Tensor::allocate(DType::kFloat32, {2, 3}).value()}});
  ASSERT_TRUE(r1.is_ok()) << r1.status().to_string();
  ASSERT_TRUE(r2.is_ok());
  const Tensor& u = (*r1)[0].second.tensor();
  ASSERT_EQ(u.dtype(), DType::kFloat64);
  ASSERT_EQ(u.shape(), (Shape{4, 5}));
  for (int64_t i = 0; i < u.numel(); ++i) {
    EXPECT_GE(u.data<double>()[i], 2.0);
    EXPECT_LT(u.data<double>()[i], 3.0);
    EXPECT_EQ(u.data<double>()[i], (*r2)[0].second.tensor().data<double>()[i]);  // same seed, same values
  }
  EXPECT_EQ((*r1)[1].second.tensor().shape(), (Shape{2, 3}));
}

}  // namespace
}  // namespace tandem
