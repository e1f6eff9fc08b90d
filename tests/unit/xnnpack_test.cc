// XNNPACK backend: results match the reference backend, layouts are handled at
// partition edges, new input shapes work, threads give deterministic results.
#if TANDEM_HAS_XNNPACK

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "backends/reference/reference_backend.h"
#include "backends/xnnpack/xnnpack_backend.h"
#include "core/runtime/session.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::attr_int;
using testing::attr_ints;
using testing::ModelBuilder;

std::vector<std::shared_ptr<Backend>> xnnpack_first() {
  auto ref = reference::make_backend();
  return {xnnpack::make_backend(ref), ref};
}

Result<NamedValues> run_with(const ModelBuilder& b, const NamedValues& feeds,
                             std::vector<std::shared_ptr<Backend>> backends, int threads,
                             std::vector<std::string>* placement = nullptr) {
  SessionOptions o;
  o.backends = std::move(backends);
  o.threads = threads;
  const std::string bytes = b.build();
  TANDEM_ASSIGN_OR_RETURN(auto s, Session::load(testing::as_bytes(bytes), o));
  TANDEM_ASSIGN_OR_RETURN(auto out, s->run(feeds));
  if (placement != nullptr) *placement = s->placement();
  return out;
}

void expect_close(const Tensor& got, const Tensor& want, float rtol = 1e-4f, float atol = 1e-5f) {
  ASSERT_EQ(got.shape(), want.shape());
  auto a = got.span<const float>();
  auto b = want.span<const float>();
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_LE(std::fabs(a[i] - b[i]), atol + rtol * std::fabs(b[i])) << "at " << i;
  }
}

Tensor random_tensor(Shape shape, uint32_t seed) {
  const auto n = static_cast<size_t>(shape_numel(shape));
  return Tensor::from_vector<float>(std::move(shape), testing::random_floats(n, seed));
}

// Conv -> Relu -> MaxPool -> residual Add -> GlobalAveragePool -> Flatten -> Gemm,
// with a symbolic batch: NHWC inside, NCHW at the edges.
ModelBuilder small_cnn() {
  ModelBuilder b;
  b.opset = 13;
  b.inputs = {{"x", DType::kFloat32, {-1, 3, 12, 12}, {"batch"}}};
  b.outputs = {{"y", DType::kFloat32, {-1, 5}, {"batch"}}, {"feat", DType::kFloat32, {-1, 8, 6, 6}, {"batch"}}};
  b.initializers = {{"w1", {8, 3, 3, 3}, testing::random_floats(8 * 27, 1)},
                    {"b1", {8}, testing::random_floats(8, 2)},
                    {"w2", {8, 1, 3, 3}, testing::random_floats(8 * 9, 3)},
                    {"fc", {5, 8}, testing::random_floats(40, 4)},
                    {"fcb", {5}, testing::random_floats(5, 5)}};
  b.nodes = {
      {"Conv", {"x", "w1", "b1"}, {"c1"}, {attr_ints("pads", {1, 1, 1, 1})}},
      {"Relu", {"c1"}, {"r1"}},
      {"MaxPool", {"r1"}, {"feat"}, {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})}},
      {"Conv", {"feat", "w2"}, {"dw"}, {attr_int("group", 8), attr_ints("pads", {1, 1, 1, 1})}},
      {"Add", {"dw", "feat"}, {"sum"}},
      {"GlobalAveragePool", {"sum"}, {"gap"}},
      {"Flatten", {"gap"}, {"flat"}},
      {"Gemm", {"flat", "fc", "fcb"}, {"y"}, {attr_int("transB", 1)}},
  };
  return b;
}

TEST(Xnnpack, SmallCnnMatchesReferenceAndRunsOnXnnpack) {
  ModelBuilder b = small_cnn();
  for (int64_t batch : {1, 3}) {  // a second shape reuses the session's packed weights
    NamedValues feeds = {{"x", Value(random_tensor({batch, 3, 12, 12}, 7))}};
    std::vector<std::string> placement;
    auto got = run_with(b, feeds, xnnpack_first(), 1, &placement);
    auto want = run_with(b, feeds, {reference::make_backend()}, 1);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    ASSERT_TRUE(want.is_ok()) << want.status().message();
    ASSERT_EQ(placement.size(), 1u);
    EXPECT_EQ(placement[0], "xnnpack: 7 nodes");  // Conv+Relu fused by core/passes
    for (size_t i = 0; i < 2; ++i) expect_close((*got)[i].second.tensor(), (*want)[i].second.tensor());
  }
}

TEST(Xnnpack, OneSessionServesSeveralShapes) {
  ModelBuilder b = small_cnn();
  SessionOptions o;
  o.backends = xnnpack_first();
  const std::string bytes = b.build();
  auto s = Session::load(testing::as_bytes(bytes), o);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  for (int64_t batch : {2, 1, 2, 4}) {
    NamedValues feeds = {{"x", Value(random_tensor({batch, 3, 12, 12}, static_cast<uint32_t>(batch)))}};
    auto got = (*s)->run(feeds);
    auto want = run_with(b, feeds, {reference::make_backend()}, 1);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    ASSERT_TRUE(want.is_ok());
    expect_close((*got)[0].second.tensor(), (*want)[0].second.tensor());
  }
}

TEST(Xnnpack, ThreadsGiveDeterministicResults) {
  ModelBuilder b = small_cnn();
  NamedValues feeds = {{"x", Value(random_tensor({4, 3, 12, 12}, 11))}};
  auto first = run_with(b, feeds, xnnpack_first(), 2);
  auto second = run_with(b, feeds, xnnpack_first(), 2);
  ASSERT_TRUE(first.is_ok() && second.is_ok());
  auto a = (*first)[0].second.tensor().span<const float>();
  auto c = (*second)[0].second.tensor().span<const float>();
  ASSERT_EQ(a.size(), c.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], c[i]) << "at " << i;
}

// MatMul with dynamic operands, Softmax, Transpose, LayerNormalization: the
// transformer building blocks, in ONNX layout.
TEST(Xnnpack, AttentionBlockMatchesReference) {
  ModelBuilder b;
  b.opset = 17;
  b.inputs = {{"q", DType::kFloat32, {2, 4, 8}}, {"k", DType::kFloat32, {2, 4, 8}}};
  b.outputs = {{"y", DType::kFloat32, {2, 4, 4}}};
  b.initializers = {{"gamma", {4}, testing::random_floats(4, 21)}, {"beta", {4}, testing::random_floats(4, 22)}};
  b.nodes = {
      {"Transpose", {"k"}, {"kt"}, {attr_ints("perm", {0, 2, 1})}},
      {"MatMul", {"q", "kt"}, {"s"}},
      {"Softmax", {"s"}, {"p"}, {attr_int("axis", -1)}},
      {"LayerNormalization", {"p", "gamma", "beta"}, {"y"}, {attr_int("axis", -1)}},
  };
  NamedValues feeds = {{"q", Value(random_tensor({2, 4, 8}, 1))}, {"k", Value(random_tensor({2, 4, 8}, 2))}};
  std::vector<std::string> placement;
  auto got = run_with(b, feeds, xnnpack_first(), 1, &placement);
  auto want = run_with(b, feeds, {reference::make_backend()}, 1);
  ASSERT_TRUE(got.is_ok()) << got.status().message();
  ASSERT_TRUE(want.is_ok());
  EXPECT_EQ(placement, std::vector<std::string>{"xnnpack: 4 nodes"});
  expect_close((*got)[0].second.tensor(), (*want)[0].second.tensor());
}

// Nodes XNNPACK cannot take (integer math) go to the reference backend; values
// cross between the two partitions through the session's frame.
TEST(Xnnpack, MixedPartitionsHandOverValues) {
  ModelBuilder b;
  b.opset = 13;
  b.inputs = {{"x", DType::kFloat32, {1, 2, 4, 4}}};
  b.outputs = {{"y", DType::kFloat32, {1, 2, 4, 4}}};
  b.initializers = {{"w", {2, 2, 1, 1}, testing::random_floats(4, 5)}};
  b.nodes = {
      {"Conv", {"x", "w"}, {"c"}},
      {"Erf", {"c"}, {"e"}},  // no XNNPACK lowering
      {"Conv", {"e", "w"}, {"y"}},
  };
  NamedValues feeds = {{"x", Value(random_tensor({1, 2, 4, 4}, 9))}};
  std::vector<std::string> placement;
  auto got = run_with(b, feeds, xnnpack_first(), 1, &placement);
  auto want = run_with(b, feeds, {reference::make_backend()}, 1);
  ASSERT_TRUE(got.is_ok()) << got.status().message();
  ASSERT_TRUE(want.is_ok());
  EXPECT_EQ(placement, (std::vector<std::string>{"xnnpack: 1 nodes", "reference: 1 nodes", "xnnpack: 1 nodes"}));
  expect_close((*got)[0].second.tensor(), (*want)[0].second.tensor());
}

// Nodes nobody reads are not handed to XNNPACK (its optimizer aborts on a
// consumer it removed itself; found by the loader fuzzer).
TEST(Xnnpack, DeadNodesAreLeftOut) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {1, 4}}};
  b.outputs = {{"z", DType::kFloat32, {1, 4}}};
  b.nodes = {
      {"Relu", {"x"}, {"h"}},
      {"Relu", {"h"}, {"dead"}},  // read by nobody
      {"Sigmoid", {"x"}, {"z"}},
  };
  NamedValues feeds = {{"x", Value(random_tensor({1, 4}, 3))}};
  std::vector<std::string> placement;
  auto got = run_with(b, feeds, xnnpack_first(), 1, &placement);
  auto want = run_with(b, feeds, {reference::make_backend()}, 1);
  ASSERT_TRUE(got.is_ok()) << got.status().message();
  ASSERT_TRUE(want.is_ok());
  expect_close((*got)[0].second.tensor(), (*want)[0].second.tensor());
}

}  // namespace
}  // namespace tandem

#endif  // TANDEM_HAS_XNNPACK
