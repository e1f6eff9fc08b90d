// In-process tests of the server's pieces: tensor codecs, config parsing, model names, percent
// decoding, API keys, Prometheus text, and the scheduler (batched results equal Session::run).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/remote/oip_codec.h"
#include "native/lib/backends.h"
#include "native/serve/auth.h"
#include "native/serve/http_server.h"
#include "native/serve/metrics.h"
#include "native/serve/repository.h"
#include "native/serve/scheduler.h"
#include "tests/unit/model_builder.h"

namespace tandem::serve {
// The OIP v2 wire format, shared with the remote client (backends/remote).
using namespace ::tandem::oip;  // NOLINT(google-build-using-namespace)
namespace {

rapidjson::Document parse(const char* text) {
  rapidjson::Document d;
  d.Parse<kJsonParseFlags>(text);
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

std::string json_data(const Tensor& t) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  write_json_data(t, w);
  return sb.GetString();
}

TEST(TensorCodec, DatatypeNamesRoundTrip) {
  for (const char* n : {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
                        "FP32", "FP64", "BYTES", "BF16"}) {
    auto dt = dtype_from_oip(n);
    ASSERT_TRUE(dt.has_value()) << n;
    EXPECT_STREQ(oip_datatype(*dt), n);
  }
  EXPECT_FALSE(dtype_from_oip("FP8").has_value());
  EXPECT_FALSE(dtype_from_oip("fp32").has_value());
}

TEST(TensorCodec, NestedAndFlatDataAreTheSame) {
  auto flat = tensor_from_json(DType::kFloat32, {2, 2}, parse("[1, 2.5, -3, 4]"));
  auto nested = tensor_from_json(DType::kFloat32, {2, 2}, parse("[[1, 2.5], [-3, 4]]"));
  ASSERT_TRUE(flat.is_ok() && nested.is_ok());
  EXPECT_EQ(json_data(*flat), json_data(*nested));
  EXPECT_EQ(json_data(*flat), "[1.0,2.5,-3.0,4.0]");
}

TEST(TensorCodec, RefusesWrongCountsTypesAndRanges) {
  EXPECT_FALSE(tensor_from_json(DType::kFloat32, {3}, parse("[1, 2]")).is_ok());
  EXPECT_FALSE(tensor_from_json(DType::kFloat32, {1}, parse("[\"a\"]")).is_ok());
  EXPECT_FALSE(tensor_from_json(DType::kUInt8, {1}, parse("[256]")).is_ok());
  EXPECT_FALSE(tensor_from_json(DType::kInt8, {1}, parse("[-129]")).is_ok());
  EXPECT_FALSE(tensor_from_json(DType::kInt32, {1}, parse("[1.5]")).is_ok());
  EXPECT_FALSE(tensor_from_json(DType::kUInt64, {1}, parse("[-1]")).is_ok());
  EXPECT_FALSE(tensor_from_json(DType::kBool, {1}, parse("[2]")).is_ok());
  EXPECT_FALSE(tensor_from_json(DType::kString, {1}, parse("[1]")).is_ok());
  EXPECT_FALSE(shape_from_json(parse("[1, -2]")).is_ok());
  EXPECT_FALSE(shape_from_json(parse("[4294967296, 4294967296, 4294967296]")).is_ok());
}

TEST(TensorCodec, Int64ExtremesSurviveJson) {
  auto t = tensor_from_json(DType::kInt64, {2}, parse("[-9223372036854775808, 9223372036854775807]"));
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(json_data(*t), "[-9223372036854775808,9223372036854775807]");
  auto u = tensor_from_json(DType::kUInt64, {1}, parse("[18446744073709551615]"));
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(json_data(*u), "[18446744073709551615]");
}

TEST(TensorCodec, HalfAndNonFiniteFloats) {
  auto h = tensor_from_json(DType::kFloat16, {3}, parse("[1, -2, 0.5]"));
  ASSERT_TRUE(h.is_ok());
  EXPECT_EQ(h->data<uint16_t>()[0], 0x3c00);
  EXPECT_EQ(h->data<uint16_t>()[1], 0xc000);
  EXPECT_EQ(json_data(*h), "[1.0,-2.0,0.5]");
  auto f = tensor_from_json(DType::kFloat32, {3}, parse("[NaN, Infinity, -Infinity]"));
  ASSERT_TRUE(f.is_ok());
  EXPECT_EQ(json_data(*f), "[NaN,Infinity,-Infinity]");
  // FP32 as the shortest decimal of the float (not of the double it widens to), read back exactly.
  const std::vector<float> values = {0.1f, 0.031236203f, 1e-30f, -3.4028235e38f, 1e7f, 2.5f};
  const Tensor g = Tensor::from_vector<float>({6}, values);
  EXPECT_EQ(json_data(g), "[0.1,0.031236203,1e-30,-3.4028235e+38,1e+07,2.5]");
  const std::string text = json_data(g);
  auto back = tensor_from_json(DType::kFloat32, {6}, parse(text.c_str()));
  ASSERT_TRUE(back.is_ok());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(back->data<float>()[i], values[i]);
}

TEST(TensorCodec, BinaryBytesLayout) {
  Tensor s = Tensor::from_strings({2}, {"ab", std::string("\0\xff", 2)});
  const std::string bin = to_binary(s);
  EXPECT_EQ(bin, std::string("\x02\0\0\0ab\x02\0\0\0\0\xff", 12));
  auto back = tensor_from_binary(DType::kString, {2}, bin);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->strings(), s.strings());
  EXPECT_FALSE(tensor_from_binary(DType::kString, {2}, bin.substr(0, 10)).is_ok());  // inside an element
  EXPECT_FALSE(tensor_from_binary(DType::kString, {2}, bin.substr(0, 6)).is_ok());   // one element short
  EXPECT_FALSE(tensor_from_binary(DType::kString, {1}, bin.substr(0, 2)).is_ok());   // inside a prefix
  EXPECT_FALSE(tensor_from_binary(DType::kFloat32, {2}, std::string(7, '\0')).is_ok());
  auto b = tensor_from_binary(DType::kBool, {2}, std::string("\x00\x07", 2));
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(json_data(*b), "[false,true]");
}

TEST(ModelNames, RefuseTraversalAndOddCharacters) {
  for (const char* ok : {"seed_mlp", "resnet-18", "bert.v2", "A1"}) EXPECT_TRUE(valid_model_name(ok)) << ok;
  for (const char* bad : {"", ".", "..", ".hidden", "a/b", "../x", "a\\b", "a b", "a\nb", "%2e"}) {
    EXPECT_FALSE(valid_model_name(bad)) << bad;
  }
  EXPECT_FALSE(valid_model_name(std::string("a\0b", 3)));
  EXPECT_FALSE(valid_model_name(std::string(129, 'a')));
}

TEST(PercentDecode, DecodesAndRefusesBadEscapes) {
  std::string out;
  EXPECT_TRUE(percent_decode("..%2F..%2fetc", &out));
  EXPECT_EQ(out, "../../etc");
  EXPECT_FALSE(percent_decode("%zz", &out));
  EXPECT_FALSE(percent_decode("abc%2", &out));
  EXPECT_FALSE(percent_decode("%", &out));
}

TEST(ModelConfig, ParsesOursAndTritonsSpelling) {
  auto c = parse_model_config(
      R"({"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_us": 500}, "instance_count": 2,
          "max_queue_size": 3, "inputs": ["input"], "outputs": [{"name": "probabilities"}]})",
      64);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->batching.max_batch_size, 8);
  EXPECT_EQ(c->batching.max_queue_delay.count(), 500);
  EXPECT_EQ(c->instance_count, 2);
  EXPECT_EQ(c->batching.max_queue_size, 3u);
  EXPECT_EQ(c->inputs, std::vector<std::string>{"input"});
  EXPECT_EQ(c->outputs, std::vector<std::string>{"probabilities"});
  auto t = parse_model_config(R"({"dynamic_batching": {"max_queue_delay_microseconds": 100}})", 64);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->batching.max_queue_delay.count(), 100);
  EXPECT_EQ(t->batching.max_queue_size, 64u);
  for (const char* bad : {"{", "[]", R"({"max_batch_size": -1})", R"({"instance_count": 0})",
                          R"({"instance_count": "2"})", R"({"dynamic_batching": 5})", R"({"inputs": [3]})"}) {
    EXPECT_FALSE(parse_model_config(bad, 64).is_ok()) << bad;
  }
}

TEST(Auth, KeysFromFileAndEnvironment) {
  const std::string file = std::filesystem::temp_directory_path() / "tandem_serve_keys_test.txt";
  {
    std::ofstream f(file);
    f << "# a comment\n  file-key  \n\n";
  }
  auto auth = Auth::load(file, "env-a, env-b");
  std::remove(file.c_str());
  ASSERT_TRUE(auth.is_ok());
  EXPECT_TRUE(auth->enabled());
  EXPECT_EQ(auth->key_count(), 3u);
  for (const char* h : {"Bearer file-key", "bearer env-a", "BEARER env-b"}) {
    const std::string s = h;
    EXPECT_TRUE(auth->allows(&s)) << h;
  }
  for (const char* h :
       {"Bearer", "Bearer ", "Bearer file-ke", "Bearer file-keyy", "env-a", "Basic env-a", "# a comment"}) {
    const std::string s = h;
    EXPECT_FALSE(auth->allows(&s)) << h;
  }
  EXPECT_FALSE(auth->allows(nullptr));
  auto none = Auth::load("", nullptr);
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->allows(nullptr));
  EXPECT_FALSE(Auth::load("/nonexistent/keys", nullptr).is_ok());
}

TEST(Metrics, PrometheusHistogramsAreCumulative) {
  Metrics m;
  m.record_execution("m", "1", 1, 1'000'000);
  m.record_execution("m", "1", 3, 1'000'000);
  m.record_request("m", "1", true, 2'000'000, 500'000, 1'000'000);
  m.record_request("m", "1", false, 10, 0, 0);
  m.record_http(200);
  const std::string text = m.prometheus();
  EXPECT_NE(text.find("tandem_inference_batch_size_bucket{model=\"m\",version=\"1\",le=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("tandem_inference_batch_size_bucket{model=\"m\",version=\"1\",le=\"4\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("tandem_inference_batch_size_bucket{model=\"m\",version=\"1\",le=\"+Inf\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("tandem_inference_requests_total{model=\"m\",version=\"1\",status=\"fail\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("tandem_http_responses_total{code=\"200\"} 1\n"), std::string::npos);
  const auto snap = m.snapshot();
  const ModelStats& s = snap.at({"m", "1"});
  EXPECT_EQ(s.execution_count, 2u);
  EXPECT_EQ(s.batches.at(3).count, 1u);
}

// The scheduler with real sessions of the seed MLP (generated at build time).
class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(TANDEM_SERVE_TEST_MODEL)) GTEST_SKIP() << "no " << TANDEM_SERVE_TEST_MODEL;
    auto backends = backends_named("reference");
    ASSERT_TRUE(backends.is_ok());
    options_.backends = *backends;
  }
  std::unique_ptr<Session> session() {
    auto s = Session::load(TANDEM_SERVE_TEST_MODEL, options_);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return std::move(s).value();
  }
  static Tensor input(int64_t rows, int seed) {
    std::vector<float> v(static_cast<size_t>(rows) * 784);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((static_cast<int>(i) * 7 + seed * 13) % 17) / 17.0f;
    return Tensor::from_vector<float>({rows, 784}, v);
  }
  SessionOptions options_;
};

struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<JobResult> results;
  size_t expected = 0;
  std::function<void(JobResult)> slot(size_t i) {
    return [this, i](JobResult r) {
      std::lock_guard<std::mutex> lock(mu);
      results[i] = std::move(r);
      ++done;
      cv.notify_all();
    };
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == expected; });
  }
  size_t done = 0;
};

TEST_F(SchedulerTest, BatchedResultsEqualSessionRun) {
  auto reference = session();
  std::vector<std::unique_ptr<Session>> sessions;
  sessions.push_back(session());
  std::vector<int64_t> batches;
  std::mutex batches_mu;
  BatchingConfig cfg;
  cfg.max_batch_size = 8;
  cfg.max_queue_delay = std::chrono::milliseconds(500);  // long: every job below joins one batch
  Scheduler sched("test", std::move(sessions), cfg, /*batchable=*/true, [&](int64_t b, uint64_t) {
    std::lock_guard<std::mutex> lock(batches_mu);
    batches.push_back(b);
  });
  ASSERT_TRUE(sched.batching());
  const std::vector<int64_t> rows = {1, 2, 1, 3, 1};  // 8 rows: the batch fills and runs at once
  Collector c;
  c.expected = rows.size();
  c.results.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    Job job;
    job.feeds = {{"input", Value(input(rows[i], static_cast<int>(i)))}};
    job.done = c.slot(i);
    ASSERT_TRUE(sched.submit(std::move(job)).is_ok());
  }
  c.wait();
  EXPECT_EQ(batches, std::vector<int64_t>{8});
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(c.results[i].outcome, JobOutcome::kDone);
    ASSERT_TRUE(c.results[i].outputs.is_ok());
    EXPECT_EQ(c.results[i].batch, 5);
    auto direct = reference->run({{"input", Value(input(rows[i], static_cast<int>(i)))}});
    ASSERT_TRUE(direct.is_ok());
    const Tensor& got = (*c.results[i].outputs)[0].second.tensor();
    const Tensor& want = (*direct)[0].second.tensor();
    ASSERT_EQ(got.shape(), want.shape());
    for (int64_t k = 0; k < want.numel(); ++k) EXPECT_EQ(got.data<float>()[k], want.data<float>()[k]) << i << "/" << k;
  }
}

// A recurrent model batched like silero VAD: X [1, N, 3] and its states [1, N, 4] batch on axis 1,
// Y [1, 1, N, 4] on axis 2, and the scalar `gain` is shared (requests batch only with equal gains).
TEST(SchedulerBatchAxesTest, StateOnAxisOneAndSharedScalarMatchSessionRun) {
  constexpr int64_t H = 4, I = 3;
  auto values = [](size_t n, float scale, uint32_t seed) {
    std::vector<float> v(n);
    for (float& x : v) {
      seed = seed * 1664525u + 1013904223u;
      x = scale * (static_cast<float>(seed >> 8) / static_cast<float>(1u << 24) - 0.5f);
    }
    return v;
  };
  testing::ModelBuilder b;
  b.initializers = {testing::InitSpec{"W", {1, 4 * H, I}, values(4 * H * I, 1.f, 1), ""},
                    testing::InitSpec{"R", {1, 4 * H, H}, values(4 * H * H, 1.f, 2), ""},
                    testing::InitSpec{"B", {1, 8 * H}, values(8 * H, 1.f, 3), ""}};
  b.inputs = {{"X", DType::kFloat32, {1, -1, I}, {"", "N"}},
              {"h0", DType::kFloat32, {1, -1, H}, {"", "N"}},
              {"c0", DType::kFloat32, {1, -1, H}, {"", "N"}},
              {"gain", DType::kFloat32, {}, {}}};
  b.outputs = {{"Y", DType::kFloat32, {-1, -1, -1, -1}, {"a", "b", "c", "d"}},
               {"Yh", DType::kFloat32, {-1, -1, -1}, {"e", "f", "g"}}};
  b.nodes = {{"Mul", {"X", "gain"}, {"Xg"}, {}, ""},
             {"LSTM", {"Xg", "W", "R", "B", "", "h0", "c0"}, {"Y", "Yh"}, {testing::attr_int("hidden_size", H)}, ""}};
  const std::string bytes = b.build();
  auto load = [&] {
    auto s = Session::load(testing::as_bytes(bytes));
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return std::move(s).value();
  };
  auto feeds = [&](int64_t n, uint32_t seed, float gain) {
    return NamedValues{{"X", Value(Tensor::from_vector<float>({1, n, I}, values(n * I, 2.f, seed)))},
                       {"c0", Value(Tensor::from_vector<float>({1, n, H}, values(n * H, 1.f, seed + 100)))},
                       {"gain", Value(Tensor::scalar_float(gain))},
                       {"h0", Value(Tensor::from_vector<float>({1, n, H}, values(n * H, 1.f, seed + 200)))}};
  };
  auto reference = load();
  std::vector<std::unique_ptr<Session>> sessions;
  sessions.push_back(load());
  BatchingConfig cfg;
  cfg.max_batch_size = 4;
  cfg.max_queue_delay = std::chrono::milliseconds(500);
  cfg.batch_axes = {{"X", 1}, {"h0", 1}, {"c0", 1}, {"Y", 2}, {"Yh", 1}};
  std::vector<int64_t> batches;
  std::mutex batches_mu;
  Scheduler sched("test", std::move(sessions), cfg, /*batchable=*/true, [&](int64_t rows, uint64_t) {
    std::lock_guard<std::mutex> lock(batches_mu);
    batches.push_back(rows);
  });
  // Rows 1 + 2 + 1 fill one batch of 4; the job with another gain waits for its own run.
  const std::vector<int64_t> rows = {1, 2, 1, 1};
  const std::vector<float> gains = {0.5f, 0.5f, 0.5f, 2.0f};
  Collector c;
  c.expected = rows.size();
  c.results.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    Job job;
    job.feeds = feeds(rows[i], static_cast<uint32_t>(i + 1), gains[i]);
    job.done = c.slot(i);
    ASSERT_TRUE(sched.submit(std::move(job)).is_ok());
  }
  c.wait();
  std::sort(batches.begin(), batches.end());
  EXPECT_EQ(batches, (std::vector<int64_t>{1, 4}));
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(c.results[i].outcome, JobOutcome::kDone) << c.results[i].outputs.status().to_string();
    EXPECT_EQ(c.results[i].batch, i < 3 ? 3 : 1);
    auto direct = reference->run(feeds(rows[i], static_cast<uint32_t>(i + 1), gains[i]));
    ASSERT_TRUE(direct.is_ok());
    for (size_t o = 0; o < 2; ++o) {
      const Tensor& got = (*c.results[i].outputs)[o].second.tensor();
      const Tensor& want = (*direct)[o].second.tensor();
      ASSERT_EQ(got.shape(), want.shape()) << i << "/" << o;
      for (int64_t k = 0; k < want.numel(); ++k)
        EXPECT_NEAR(got.data<float>()[k], want.data<float>()[k], 1e-6) << i << "/" << o << "/" << k;
    }
  }
}

TEST(ModelConfigTest, BatchAxes) {
  auto c =
      parse_model_config(R"({"max_batch_size": 8, "dynamic_batching": {"batch_axes": {"state": 1, "stateN": 1}}})", 64);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->batching.batch_axes, (BatchAxes{{"state", 1}, {"stateN", 1}}));
  for (const char* bad :
       {R"({"dynamic_batching": {"batch_axes": [1]}})", R"({"dynamic_batching": {"batch_axes": {"s": -1}}})",
        R"({"dynamic_batching": {"batch_axes": {"s": "1"}}})"}) {
    EXPECT_FALSE(parse_model_config(bad, 64).is_ok()) << bad;
  }
}

TEST_F(SchedulerTest, StopDrainsQueuedJobsAndRefusesNewOnes) {
  std::vector<std::unique_ptr<Session>> sessions;
  sessions.push_back(session());
  BatchingConfig cfg;
  cfg.max_queue_size = 16;
  Scheduler sched("test", std::move(sessions), cfg, false, [](int64_t, uint64_t) {});
  Collector c;
  c.expected = 6;
  c.results.resize(6);
  for (size_t i = 0; i < 6; ++i) {
    Job job;
    job.feeds = {{"input", Value(input(1, static_cast<int>(i)))}};
    job.done = c.slot(i);
    if (i == 5) job.deadline = Clock::now() - std::chrono::seconds(1);  // already late: never runs
    ASSERT_TRUE(sched.submit(std::move(job)).is_ok());
  }
  sched.stop_and_join();
  EXPECT_EQ(c.done, 6u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(c.results[i].outcome, JobOutcome::kDone);
  EXPECT_EQ(c.results[5].outcome, JobOutcome::kDeadline);
  Job late;
  late.feeds = {{"input", Value(input(1, 0))}};
  late.done = [](JobResult) {};
  EXPECT_EQ(sched.submit(std::move(late)).code(), StatusCode::kUnavailable);
}

// Many clients at once on several instances, with and without batching: every job is answered
// (none lost between a submit and a sleeping worker), and within a bound, not at shutdown.
TEST_F(SchedulerTest, ConcurrentClientsAreAllAnswered) {
  for (const bool batch : {false, true}) {
    std::vector<std::unique_ptr<Session>> sessions;
    for (int i = 0; i < 3; ++i) sessions.push_back(session());
    BatchingConfig cfg;
    cfg.max_queue_size = 1024;
    cfg.max_batch_size = batch ? 4 : 1;
    cfg.max_queue_delay = std::chrono::milliseconds(2);
    Scheduler sched("test", std::move(sessions), cfg, /*batchable=*/true, [](int64_t, uint64_t) {});
    constexpr int kClients = 6, kPerClient = 40;
    Collector c;
    c.expected = kClients * kPerClient;
    c.results.resize(c.expected);
    std::vector<std::thread> clients;
    for (int t = 0; t < kClients; ++t) {
      clients.emplace_back([&, t] {
        for (int k = 0; k < kPerClient; ++k) {
          Job job;
          job.feeds = {{"input", Value(input(1 + (k % 3), k))}};
          job.done = c.slot(static_cast<size_t>(t * kPerClient + k));
          EXPECT_TRUE(sched.submit(std::move(job)).is_ok());
          if (k % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300 * (t + 1)));
        }
      });
    }
    for (auto& th : clients) th.join();
    {
      std::unique_lock<std::mutex> lock(c.mu);
      ASSERT_TRUE(c.cv.wait_for(lock, std::chrono::seconds(60), [&] { return c.done == c.expected; }))
          << (batch ? "batching: " : "") << c.done << " of " << c.expected << " answered before stop";
    }
    for (const JobResult& r : c.results) EXPECT_EQ(r.outcome, JobOutcome::kDone);
  }
}

TEST(Scheduler, FullQueueRefuses) {
  // No instances: nothing drains the queue, so its bound is all that decides.
  BatchingConfig cfg;
  cfg.max_queue_size = 2;
  Scheduler sched("test", {}, cfg, false, [](int64_t, uint64_t) {});
  std::vector<StatusCode> codes;
  for (int i = 0; i < 3; ++i) {
    Job job;
    job.feeds = {{"input", Value(Tensor::scalar_float(1))}};
    job.done = [](JobResult) {};
    codes.push_back(sched.submit(std::move(job)).code());
  }
  EXPECT_EQ(codes, (std::vector<StatusCode>{StatusCode::kOk, StatusCode::kOk, StatusCode::kUnavailable}));
}

}  // namespace
}  // namespace tandem::serve
