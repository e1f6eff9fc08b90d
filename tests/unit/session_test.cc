// Session: feeds are checked against the model's inputs with actionable errors;
// the memory plan is what run() really allocates.
#include <gtest/gtest.h>

#include <cmath>

#include "core/runtime/session.h"
#include "core/runtime/tandem.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::as_bytes;
using testing::ModelBuilder;

std::unique_ptr<Session> load(const ModelBuilder& b) {
  auto s = Session::load(as_bytes(b.build()));
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return s.is_ok() ? std::move(s).value() : nullptr;
}

ModelBuilder add_model() {
  ModelBuilder b;
  b.inputs = {{"a", DType::kFloat32, {-1, 3}, {"batch"}}, {"b", DType::kFloat32, {-1, 3}, {"batch"}}};
  b.outputs = {{"y", DType::kFloat32, {-1, 3}, {"batch"}}};
  b.nodes = {{"Add", {"a", "b"}, {"y"}, {}}};
  return b;
}

Value floats(Shape shape, std::vector<float> v) { return Value(Tensor::from_vector<float>(std::move(shape), v)); }

TEST(SessionTest, RunsAndReportsIoMetadata) {
  auto s = load(add_model());
  ASSERT_TRUE(s);
  ASSERT_EQ(s->inputs().size(), 2u);
  EXPECT_EQ(s->inputs()[0].type.to_string(), "float32[batch, 3]");
  auto out = s->run({{"a", floats({1, 3}, {1, 2, 3})}, {"b", floats({1, 3}, {10, 20, 30})}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].first, "y");
  EXPECT_EQ((*out)[0].second.tensor().to_float_vector(), (std::vector<float>{11, 22, 33}));
}

TEST(SessionTest, BadFeedsGetActionableErrors) {
  auto s = load(add_model());
  ASSERT_TRUE(s);
  const Value ok = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  auto wrong_name = s->run({{"a", ok}, {"c", ok}});
  ASSERT_FALSE(wrong_name.is_ok());
  EXPECT_NE(wrong_name.status().message().find("no input named 'c'"), std::string::npos);
  EXPECT_NE(wrong_name.status().message().find("'a', 'b'"), std::string::npos);

  auto missing = s->run({{"a", ok}});
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("'b' is missing"), std::string::npos);

  auto wrong_dtype = s->run({{"a", ok}, {"b", Value(Tensor::from_vector<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6}))}});
  ASSERT_FALSE(wrong_dtype.is_ok());
  EXPECT_NE(wrong_dtype.status().message().find("expects dtype float32 but got int64"), std::string::npos);

  auto wrong_shape = s->run({{"a", ok}, {"b", floats({2, 4}, std::vector<float>(8))}});
  ASSERT_FALSE(wrong_shape.is_ok());
  EXPECT_NE(wrong_shape.status().message().find("expects shape float32[batch, 3] but got [2, 4]"), std::string::npos)
      << wrong_shape.status().to_string();

  auto batch_mismatch = s->run({{"a", ok}, {"b", floats({1, 3}, {1, 2, 3})}});
  ASSERT_FALSE(batch_mismatch.is_ok());
  EXPECT_NE(batch_mismatch.status().message().find("dimension 'batch' is 2"), std::string::npos);

  // The session still works after errors.
  EXPECT_TRUE(s->run({{"a", ok}, {"b", ok}}).is_ok());
}

// x -> Relu -> Neg -> Exp -> Sigmoid -> y, each [1000] floats: with in-place
// reuse every intermediate shares one slot.
ModelBuilder chain_model() {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {1000}}};
  b.outputs = {{"y", DType::kFloat32, {1000}}};
  b.nodes = {{"Relu", {"x"}, {"a"}, {}}, {"Neg", {"a"}, {"b"}, {}}, {"Exp", {"b"}, {"c"}, {}},
             {"Sigmoid", {"c"}, {"y"}, {}}};
  return b;
}

TEST(MemoryPlanTest, ChainReusesOneSlotAndRunMatchesPlan) {
  auto s = load(chain_model());
  ASSERT_TRUE(s);
  auto facts = s->memory_facts({});
  ASSERT_TRUE(facts.is_ok()) << facts.status().to_string();
  EXPECT_EQ(facts->weight_bytes, 0u);
  EXPECT_EQ(facts->input_bytes, 4000u);
  EXPECT_EQ(facts->output_bytes, 4000u);
  EXPECT_EQ(facts->arena_bytes, 4032u);  // one 64-byte-aligned slot for a, b and c
  std::vector<float> x(1000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) / 500.0f - 1.0f;
  RunStats stats;
  auto out = s->run({{"x", floats({1000}, x)}}, &stats);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(stats.unplanned_allocations, 0u);
  EXPECT_EQ(stats.arena_bytes, facts->arena_bytes);
  const auto y = (*out)[0].second.tensor().to_float_vector();
  for (size_t i = 0; i < x.size(); ++i) {
    const float expect = 1.0f / (1.0f + std::exp(-std::exp(-std::max(x[i], 0.0f))));
    ASSERT_NEAR(y[i], expect, 1e-6) << i;
  }
}

TEST(MemoryPlanTest, LiveValuesNeverShareBytes) {
  // a is read again by the last node, so b and c must not overwrite it.
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {256}}};
  b.outputs = {{"y", DType::kFloat32, {256}}};
  b.nodes = {{"Relu", {"x"}, {"a"}, {}}, {"Neg", {"a"}, {"b"}, {}}, {"Exp", {"b"}, {"c"}, {}},
             {"Add", {"a", "c"}, {"y"}, {}}};
  auto s = load(b);
  ASSERT_TRUE(s);
  auto facts = s->memory_facts({});
  ASSERT_TRUE(facts.is_ok());
  EXPECT_EQ(facts->arena_bytes, 2048u);  // a + (b, c in place)
  std::vector<float> x(256);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) / 128.0f - 1.0f;
  RunStats stats;
  auto out = s->run({{"x", floats({256}, x)}}, &stats);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(stats.unplanned_allocations, 0u);
  const auto y = (*out)[0].second.tensor().to_float_vector();
  for (size_t i = 0; i < x.size(); ++i) {
    const float a = std::max(x[i], 0.0f);
    ASSERT_NEAR(y[i], a + std::exp(-a), 1e-6) << i;
  }
}

TEST(MemoryPlanTest, WeightBytesCountInitializers) {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {-1, 4}, {"batch"}}};
  b.outputs = {{"y", DType::kFloat32, {-1, 2}, {"batch"}}};
  b.initializers = {{"w", {4, 2}, std::vector<float>(8, 0.5f)}};
  b.nodes = {{"MatMul", {"x", "w"}, {"h"}, {}}, {"Relu", {"h"}, {"y"}, {}}};
  auto s = load(b);
  ASSERT_TRUE(s);
  auto facts = s->memory_facts({{"x", {16, 4}}});
  ASSERT_TRUE(facts.is_ok()) << facts.status().to_string();
  EXPECT_EQ(facts->weight_bytes, 32u);
  EXPECT_EQ(facts->arena_bytes, 128u);  // h: 16x2 floats
  EXPECT_EQ(facts->output_bytes, 128u);
  auto unknown = s->memory_facts({});
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("give concrete dimensions"), std::string::npos);
}

TEST(MemoryPlanTest, WeightsInsideSubgraphsCount) {
  // ONNX's test_if keeps a 5-float Constant in each branch: both are held in memory.
  auto s = Session::load(std::string(TANDEM_ONNX_NODE_TESTS) + "/test_if/model.onnx");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto facts = (*s)->memory_facts({});
  ASSERT_TRUE(facts.is_ok()) << facts.status().to_string();
  EXPECT_EQ(facts->weight_bytes, 40u);
}

TEST(CApiTest, LoadsRunsAndReportsErrors) {
  const std::string bytes = add_model().build();
  tandem_session* s = nullptr;
  ASSERT_EQ(tandem_session_load_bytes(bytes.data(), bytes.size(), &s), TANDEM_OK) << tandem_last_error();
  ASSERT_EQ(tandem_session_input_count(s), 2u);
  EXPECT_STREQ(tandem_session_input_name(s, 1), "b");
  const int64_t shape[] = {1, 3};
  const float a[] = {1, 2, 3}, b[] = {4, 5, 6};
  tandem_tensor *ta = nullptr, *tb = nullptr, *ty = nullptr;
  ASSERT_EQ(tandem_tensor_create(1, shape, 2, a, sizeof a, &ta), TANDEM_OK);
  ASSERT_EQ(tandem_tensor_create(1, shape, 2, b, sizeof b, &tb), TANDEM_OK);
  EXPECT_EQ(tandem_tensor_create(1, shape, 2, b, 4, &ty), TANDEM_INVALID_ARGUMENT);
  const tandem_tensor* inputs[] = {ta, tb};
  ASSERT_EQ(tandem_session_run(s, inputs, 2, &ty, 1), TANDEM_OK) << tandem_last_error();
  const float* y = static_cast<const float*>(tandem_tensor_data(ty));
  EXPECT_EQ(y[0], 5);
  EXPECT_EQ(y[2], 9);
  tandem_tensor_free(ty);
  EXPECT_EQ(tandem_session_run(s, inputs, 1, &ty, 1), TANDEM_INVALID_ARGUMENT);
  tandem_tensor_free(ta);
  tandem_tensor_free(tb);
  tandem_session_free(s);
  tandem_session* bad = nullptr;
  EXPECT_EQ(tandem_session_load_bytes("junk", 4, &bad), TANDEM_INVALID_MODEL);
  EXPECT_NE(std::string(tandem_last_error()).find("InvalidModel"), std::string::npos);
}

TEST(CApiTest, OptionsMetadataPlacementAndMemoryFacts) {
  ModelBuilder mb;
  mb.inputs = {{"x", DType::kFloat32, {-1, 4}, {"batch"}}};
  mb.outputs = {{"y", DType::kFloat32, {-1, 2}, {"batch"}}};
  mb.initializers = {{"w", {4, 2}, std::vector<float>(8, 0.5f)}};
  mb.nodes = {{"MatMul", {"x", "w"}, {"h"}, {}}, {"Relu", {"h"}, {"y"}, {}}};
  const std::string bytes = mb.build();
  tandem_session_options options;
  tandem_session_options_init(&options);
  EXPECT_EQ(options.struct_size, sizeof(tandem_session_options));
  EXPECT_EQ(options.optimize, 1);
  options.threads = 1;
  tandem_session* s = nullptr;
  ASSERT_EQ(tandem_session_load_bytes_with(bytes.data(), bytes.size(), &options, &s), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(tandem_session_io_dtype(s, 0, 0), 1);
  EXPECT_EQ(tandem_session_io_rank(s, 0, 0), 2);
  EXPECT_EQ(tandem_session_io_dim(s, 0, 0, 0), -1);
  EXPECT_STREQ(tandem_session_io_dim_name(s, 0, 0, 0), "batch");
  EXPECT_EQ(tandem_session_io_dim(s, 1, 0, 1), 2);
  EXPECT_STREQ(tandem_session_io_dim_name(s, 1, 0, 1), "");
  EXPECT_EQ(tandem_session_io_rank(s, 1, 5), -1);  // out of range: unknown, not a crash
  EXPECT_EQ(tandem_session_io_dtype(s, 0, 9), 0);
  const int64_t dims[] = {16, 4};
  const size_t ranks[] = {2};
  tandem_memory_facts facts{};
  ASSERT_EQ(tandem_session_memory_facts(s, dims, ranks, 1, &facts), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(facts.weight_bytes, 32u);
  EXPECT_EQ(facts.peak_bytes, facts.weight_bytes + facts.arena_bytes + facts.input_bytes + facts.output_bytes);
  EXPECT_NE(std::string(tandem_session_placement(s)).find("nodes"), std::string::npos);
  EXPECT_EQ(tandem_session_memory_facts(s, dims, ranks, 2, &facts), TANDEM_INVALID_ARGUMENT);
  // Model facts: one per line; the op counts add up to the node count.
  const std::string info = tandem_session_model_info(s);
  EXPECT_NE(info.find("ir_version\t8\n"), std::string::npos) << info;
  EXPECT_NE(info.find("opset\tai.onnx\t17\n"), std::string::npos) << info;
  size_t nodes = 0;
  size_t op_total = 0;
  size_t at = 0;
  while (at < info.size()) {
    const size_t end = info.find('\n', at);
    ASSERT_NE(end, std::string::npos) << "every line ends with a newline: " << info;
    const std::string line = info.substr(at, end - at);
    if (line.rfind("nodes\t", 0) == 0) nodes = std::stoul(line.substr(6));
    if (line.rfind("op\t", 0) == 0) op_total += std::stoul(line.substr(line.rfind('\t') + 1));
    at = end + 1;
  }
  EXPECT_GT(nodes, 0u);
  EXPECT_EQ(op_total, nodes) << info;
  tandem_session_free(s);
}

TEST(SessionTest, MemoryLimitRefusesBeforeCompiling) {
  // 1 MB of weights and a [batch, 65536] intermediate: ~2.3 MB at batch 1.
  ModelBuilder mb;
  mb.inputs = {{"x", DType::kFloat32, {-1, 4}, {"batch"}}};
  mb.outputs = {{"y", DType::kFloat32, {-1, 65536}, {"batch"}}};
  mb.initializers = {{"w", {4, 65536}, std::vector<float>(4 * 65536, 0.25f)}};
  mb.nodes = {{"MatMul", {"x", "w"}, {"h"}, {}}, {"Relu", {"h"}, {"y"}, {}}};
  const std::string bytes = mb.build();
  SessionOptions small;
  small.optimize = false;  // keep h: no MatMul+Relu fusion
  small.memory_limit_bytes = 1 << 20;
  auto refused = Session::load(as_bytes(bytes), small);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kOutOfMemory);
  EXPECT_NE(refused.status().message().find("needs 2.5 MB"), std::string::npos) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("but 1.0 MB is available"), std::string::npos);
  SessionOptions enough;
  enough.memory_limit_bytes = 64 << 20;
  EXPECT_TRUE(Session::load(as_bytes(bytes), enough).is_ok());
}

TEST(SessionTest, MemoryLimitCountsValuesLargerThanSizeT) {
  // An 8 GiB intermediate: planned in 64 bits even where size_t is 32 (wasm32), so it is refused
  // at load (by the limit natively, by the largest-block check on wasm32), not at run time.
  ModelBuilder mb;
  mb.inputs = {{"x", DType::kFloat32, {1, 1}, {}}};
  mb.outputs = {{"y", DType::kFloat32, {1, 1}, {}}};
  mb.nodes = {{"Constant", {}, {"shape"}, {testing::attr_ints("value_ints", {65536, 32768})}},
              {"Expand", {"x", "shape"}, {"h"}, {}},
              {"ReduceMax", {"h"}, {"y"}, {}}};
  SessionOptions options;
  options.memory_limit_bytes = uint64_t{1} << 30;
  auto refused = Session::load(as_bytes(mb.build()), options);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kOutOfMemory) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("8192.0 MB"), std::string::npos) << refused.status().to_string();
}

}  // namespace
}  // namespace tandem
