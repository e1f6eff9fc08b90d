// HybridSession and the OIP client against a real `tandem serve` on loopback (started here), and
// against a fault server for what a healthy server never does (hang, 500, cut a body short,
// speak another protocol). Every fault must end in the documented fallback or a clear error
// inside the deadline.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/model/npy.h"
#include "core/route/hybrid_session.h"
#include "core/runtime/tandem.h"
#include "tests/unit/model_builder.h"

extern char** environ;

namespace tandem::route {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const std::string kSeedMlp = TANDEM_SEED_MLP;

// ---- a real tandem serve -----------------------------------------------------------------------

class Server {
 public:
  // Starts `tandem serve` on a free loopback port; `extra` are more arguments.
  explicit Server(const fs::path& repo, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {TANDEM_BINARY,        "serve",      "--host", "127.0.0.1", "--http-port", "0",
                                     "--model-repository", repo.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe(out) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    if (posix_spawn(&pid_, TANDEM_BINARY, &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    // "listening on http://127.0.0.1:PORT" within 20 s.
    std::string text;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (pid_ > 0 && port_ == 0 && std::chrono::steady_clock::now() < until) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[512];
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
      for (const char* scheme : {"http", "https"}) {
        const std::string banner = std::string("listening on ") + scheme + "://127.0.0.1:";
        const size_t at = text.find(banner);
        if (at == std::string::npos) continue;
        port_ = std::atoi(text.c_str() + at + banner.size());
        scheme_ = scheme;
      }
    }
    // Keep reading what the server still writes: a full pipe would block the writing thread
    // (once a debug build's XNNPACK log froze a worker mid-request so).
    drain_ = std::thread([fd = out[0]] {
      char buf[4096];
      while (read(fd, buf, sizeof buf) > 0) {
      }
      close(fd);
    });
  }
  ~Server() {
    kill_now(SIGTERM);
    if (drain_.joinable()) drain_.join();  // EOF once the server is gone
  }
  void kill_now(int sig = SIGKILL) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string url() const { return scheme_ + "://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string scheme_ = "http";
  std::thread drain_;
};

// ---- a fault server: one behaviour for every connection ----------------------------------------

class FaultServer {
 public:
  // Every mode but kSilent and kGarbage answers GET (metadata) like tandem serve does for the
  // seed MLP, and misbehaves on POST (inference).
  enum class Mode { kHang, k500, k503, k400, kTruncated, kGarbage, kSilent };

  explicit FaultServer(Mode mode) : mode_(mode) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~FaultServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    for (int c : clients_) close(c);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return accepted_.load(); }
  int posts() const { return posts_.load(); }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++accepted_;
      clients_.push_back(c);
      serve(c);
    }
  }

  // Reads one request (headers + Content-Length body); false when the client went away.
  bool read_request(int c, bool* is_get) {
    std::string got;
    char buf[65536];
    size_t need = std::string::npos;
    while (got.size() < need) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 2000) <= 0) return false;
      const ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) return false;
      got.append(buf, static_cast<size_t>(n));
      const size_t end = got.find("\r\n\r\n");
      if (end != std::string::npos && need == std::string::npos) {
        size_t body = 0;
        std::string lower = got.substr(0, end);
        for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        const size_t cl = lower.find("content-length:");
        if (cl != std::string::npos) body = std::strtoull(lower.c_str() + cl + 15, nullptr, 10);
        need = end + 4 + body;
      }
    }
    *is_get = got.rfind("GET ", 0) == 0;
    if (!*is_get) ++posts_;
    return true;
  }

  void send_all(int c, const std::string& s) { (void)::send(c, s.data(), s.size(), MSG_NOSIGNAL); }

  void serve(int c) {
    if (mode_ == Mode::kSilent) return;  // kept open until the end, never answered
    if (mode_ == Mode::kGarbage) {
      send_all(c, "SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n");
      shutdown(c, SHUT_WR);
      return;
    }
    bool is_get = false;
    while (read_request(c, &is_get)) {
      if (is_get) {
        static const std::string meta =
            "{\"name\":\"seed_mlp\",\"versions\":[\"1\"],\"platform\":\"onnx\",\"inputs\":[{\"name\":\"input\","
            "\"datatype\":\"FP32\",\"shape\":[-1,784]}],\"outputs\":[{\"name\":\"probabilities\",\"datatype\":"
            "\"FP32\",\"shape\":[-1,10]}]}";
        send_all(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(meta.size()) + "\r\n\r\n" + meta);
        continue;
      }
      switch (mode_) {
        case Mode::kHang:
          break;  // read it, never answer
        case Mode::k500:
          send_all(c,
                   "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n"
                   "{\"error\": \"boom!!\"}\n");
          break;
        case Mode::k503:
          send_all(c,
                   "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 17\r\n\r\n"
                   "{\"error\": \"full\"}");
          break;
        case Mode::k400:
          send_all(c,
                   "HTTP/1.1 400 Bad Request\r\nContent-Length: 45\r\n\r\n"
                   "{\"error\": \"cannot parse the request as JSON\"}");
          break;
        case Mode::kTruncated:
          send_all(c,
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
                   "{\"model_name\": \"seed_mlp\", \"outputs\": [");
          shutdown(c, SHUT_WR);
          return;
        default:
          break;
      }
      if (mode_ == Mode::kHang) return;
    }
  }

  Mode mode_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0}, posts_{0};
  std::vector<int> clients_;
  std::thread thread_;
};

// A port with nothing listening: bind, read the port, close.
std::string dead_url() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

// ---- fixtures ------------------------------------------------------------------------------------

constexpr int64_t kWide = 262144;  // 1 MB of float32

fs::path make_repo() {
  const fs::path repo = fs::temp_directory_path() / ("tandem-hybrid-" + std::to_string(getpid()));
  fs::remove_all(repo);
  fs::create_directories(repo / "seed_mlp" / "1");
  fs::copy_file(kSeedMlp, repo / "seed_mlp" / "1" / "model.onnx");
  testing::ModelBuilder wide;
  wide.inputs = {{"x", DType::kFloat32, {1, kWide}, {}}};
  wide.outputs = {{"y", DType::kFloat32, {1, kWide}, {}}};
  wide.nodes = {{"Relu", {"x"}, {"h"}, {}, ""}, {"Relu", {"h"}, {"y"}, {}, ""}};
  fs::create_directories(repo / "wide_relu" / "1");
  std::ofstream(repo / "wide_relu" / "1" / "model.onnx", std::ios::binary) << wide.build();
  return repo;
}

NamedValues mlp_feeds(uint32_t seed, int64_t batch = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(batch) * 784);
  for (float& v : x) v = u(rng);
  return {{"input", Value(Tensor::from_vector<float>({batch, 784}, x))}};
}

std::shared_ptr<RemoteModel> client(const std::string& url, RemoteOptions o = {}) {
  o.url = url;
  if (o.model.empty()) o.model = "seed_mlp";
  auto c = connect_remote(o);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  return *c;
}

HybridOptions hybrid(std::shared_ptr<RemoteModel> remote, Mode mode = Mode::kPreferLocal) {
  HybridOptions o;
  o.remote = std::move(remote);
  o.policy.mode = mode;
  return o;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  EXPECT_EQ(a.dtype(), b.dtype());
  double worst = 0;
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return INFINITY;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::abs(a.get_as_double(i) - b.get_as_double(i)));
  return worst;
}

double elapsed_ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

class Hybrid : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new fs::path(make_repo());
    server_ = new Server(*repo_);
    ASSERT_GT(server_->port(), 0) << "tandem serve did not start";
  }
  static void TearDownTestSuite() {
    delete server_;
    fs::remove_all(*repo_);
    delete repo_;
  }
  static fs::path* repo_;
  static Server* server_;
};
fs::path* Hybrid::repo_ = nullptr;
Server* Hybrid::server_ = nullptr;

// ---- placement and parity -------------------------------------------------------------------------

TEST_F(Hybrid, SmallModelRunsLocallyAndSaysWhy) {
  std::vector<RouteEvent> events;
  HybridOptions o = hybrid(client(server_->url()));
  o.on_route = [&](const RouteEvent& e) { events.push_back(e); };
  auto s = HybridSession::open(kSeedMlp, std::move(o));
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  const Placement p = (*s)->placement();
  EXPECT_EQ(p.primary, Side::kLocal);
  EXPECT_EQ(p.fallback, Side::kRemote);
  EXPECT_NE(p.reason.find("prefer-local: local, needs"), std::string::npos) << p.reason;
  EXPECT_TRUE((*s)->model_facts().planned);
  EXPECT_GT((*s)->model_facts().flops, 2u * 784 * 256);
  RunReport r;
  auto out = (*s)->run(mlp_feeds(1), {}, &r);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(r.ran_on, Side::kLocal);
  EXPECT_FALSE(r.fell_back);
  EXPECT_NE(r.where.find("local (xnnpack"), std::string::npos) << r.where;
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().kind, RouteEvent::Kind::kPlaced);
  EXPECT_EQ(events.back().kind, RouteEvent::Kind::kRan);
}

TEST_F(Hybrid, TooLargeForTheBudgetGoesRemoteBeforeLoading) {
  HybridOptions o = hybrid(client(server_->url()));
  o.policy.memory_cap_bytes = 512 * 1024;  // the seed MLP's file alone is 940 KB
  auto s = HybridSession::open(kSeedMlp, std::move(o));
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ((*s)->placement().primary, Side::kRemote);
  EXPECT_NE((*s)->placement().reason.find("estimated from the file size) but 0.5 MB is available (memory cap"),
            std::string::npos)
      << (*s)->placement().reason;
  EXPECT_EQ((*s)->local(), nullptr) << "no weight may be read for a model that does not fit";
  ASSERT_EQ((*s)->inputs().size(), 1u);  // the signature comes from the server
  EXPECT_EQ((*s)->inputs()[0].name, "input");
  RunReport r;
  auto out = (*s)->run(mlp_feeds(2), {}, &r);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(r.ran_on, Side::kRemote);
  EXPECT_NE(r.where.find("remote http://127.0.0.1:"), std::string::npos);
  EXPECT_GT(r.compute_ms, 0) << "tandem serve reports compute in Server-Timing";
  EXPECT_GE(r.total_ms, r.compute_ms + r.queue_ms);
  EXPECT_EQ(r.remote_attempts, 1);
}

TEST_F(Hybrid, PlanTooLargeAfterDecodingGoesRemoteBeforePacking) {
  // A 200-byte file whose plan needs 3 MB (1 MB in, 1 MB between, 1 MB out): the file size lets
  // it through, the memory plan (made before any packing) moves it.
  RemoteOptions ro;
  ro.model = "wide_relu";
  HybridOptions o = hybrid(client(server_->url(), ro));
  o.policy.memory_cap_bytes = 1536 * 1024;
  auto s = HybridSession::open((*repo_ / "wide_relu" / "1" / "model.onnx").string(), std::move(o));
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ((*s)->placement().primary, Side::kRemote);
  EXPECT_NE((*s)->placement().reason.find("the local load failed: "), std::string::npos) << (*s)->placement().reason;
  EXPECT_EQ((*s)->local(), nullptr);
  RunReport r;
  std::vector<float> x(kWide, -1.f);
  x[5] = 2.5f;
  auto out = (*s)->run({{"x", Value(Tensor::from_vector<float>({1, kWide}, x))}}, {}, &r);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(r.ran_on, Side::kRemote);
  EXPECT_EQ((*out)[0].second.tensor().data<float>()[5], 2.5f);
  EXPECT_EQ((*out)[0].second.tensor().data<float>()[6], 0.f);
}

TEST_F(Hybrid, LocalAndRemoteAgreeBinaryAndJson) {
  auto s = HybridSession::open(kSeedMlp, hybrid(client(server_->url())));
  RemoteOptions json;
  json.binary = false;
  auto sj = HybridSession::open(kSeedMlp, hybrid(client(server_->url(), json), Mode::kRemoteOnly));
  ASSERT_TRUE(s.is_ok() && sj.is_ok());
  for (int64_t batch : {1, 3}) {
    const NamedValues feeds = mlp_feeds(4, batch);
    RunReport rl, rr, rj;
    RunOptions local_only{Mode::kLocalOnly}, remote_only{Mode::kRemoteOnly};
    auto a = (*s)->run(feeds, local_only, &rl);
    auto b = (*s)->run(feeds, remote_only, &rr);
    auto c = (*sj)->run(feeds, {}, &rj);
    ASSERT_TRUE(a.is_ok() && b.is_ok() && c.is_ok());
    EXPECT_EQ(rl.ran_on, Side::kLocal);
    EXPECT_EQ(rr.ran_on, Side::kRemote);
    EXPECT_EQ(rj.ran_on, Side::kRemote);
    EXPECT_LE(max_abs_diff((*a)[0].second.tensor(), (*b)[0].second.tensor()), 1e-5);
    EXPECT_LE(max_abs_diff((*a)[0].second.tensor(), (*c)[0].second.tensor()), 1e-5);
  }
}

// The model-parity set (exported by tests/models/prepare.sh, seeded inputs beside each model) and
// silero VAD from npm: local vs remote within 1e-5.
TEST(HybridParity, ModelSetLocalEqualsRemote) {
  const fs::path generated = fs::path(TANDEM_SOURCE_DIR) / "tests/models/generated";
  const fs::path vad = fs::path(TANDEM_SOURCE_DIR) / "node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx";
  const fs::path repo = fs::temp_directory_path() / ("tandem-parity-" + std::to_string(getpid()));
  fs::remove_all(repo);
  std::vector<std::pair<std::string, fs::path>> models;
  for (const char* name : {"resnet18", "mobilenetv2", "bert_encoder"}) {
    if (fs::exists(generated / (std::string(name) + ".onnx")))
      models.emplace_back(name, generated / (std::string(name) + ".onnx"));
  }
  if (fs::exists(vad)) models.emplace_back("silero_vad_v5", vad);
  ASSERT_GE(models.size(), 3u) << "run tests/models/prepare.sh (the model_export fixture) first";
  for (const auto& [name, path] : models) {
    fs::create_directories(repo / name / "1");
    fs::create_symlink(fs::absolute(path), repo / name / "1" / "model.onnx");
  }
  Server server(repo);
  ASSERT_GT(server.port(), 0);
  for (const auto& [name, path] : models) {
    SCOPED_TRACE(name);
    RemoteOptions ro;
    ro.model = name;
    // The sanitizer build runs ResNet-18 for seconds on a loaded machine; bounded, so that a stuck
    // server fails here with the deadline rather than hanging the suite.
    ro.timeout_ms = 240000;
    auto s = HybridSession::open(path.string(), hybrid(client(server.url(), ro)));
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    NamedValues feeds;
    for (const ValueInfo& in : (*s)->inputs()) {
      const fs::path npy = generated / name / (in.name + ".npy");
      if (fs::exists(npy)) {
        auto t = model::read_npy(npy.string());
        ASSERT_TRUE(t.is_ok()) << t.status().to_string();
        feeds.emplace_back(in.name, Value(*t));
      } else if (in.name == "sr") {
        feeds.emplace_back(in.name, Value(Tensor::scalar_int64(16000)));
      } else {  // silero: [1, 576] audio, [2, 1, 128] state
        Shape shape;
        if (in.name == "input") shape = {1, 576};
        if (in.name == "state") shape = {2, 1, 128};
        ASSERT_FALSE(shape.empty()) << "no seeded values for input '" << in.name << "'";
        std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
        std::mt19937 rng(7);
        std::uniform_real_distribution<float> u(-0.5f, 0.5f);
        for (float& x : v) x = u(rng);
        feeds.emplace_back(in.name, Value(Tensor::from_vector<float>(shape, v)));
      }
    }
    RunReport rl, rr;
    auto a = (*s)->run(feeds, {Mode::kLocalOnly}, &rl);
    auto b = (*s)->run(feeds, {Mode::kRemoteOnly}, &rr);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    EXPECT_EQ(rl.ran_on, Side::kLocal);
    EXPECT_EQ(rr.ran_on, Side::kRemote);
    ASSERT_EQ(a->size(), b->size());
    for (size_t i = 0; i < a->size(); ++i) {
      EXPECT_EQ((*a)[i].first, (*b)[i].first);
      EXPECT_LE(max_abs_diff((*a)[i].second.tensor(), (*b)[i].second.tensor()), 1e-5) << (*a)[i].first;
    }
  }
  fs::remove_all(repo);
}

// ---- policy ------------------------------------------------------------------------------------

TEST_F(Hybrid, PrivacyOpensNoSocket) {
  FaultServer listener(FaultServer::Mode::kSilent);
  {
    HybridOptions o = hybrid(client(listener.url()));
    o.policy.privacy = true;
    o.policy.memory_cap_bytes = 512 * 1024;  // too large locally: only the remote could run it
    auto s = HybridSession::open(kSeedMlp, std::move(o));
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.status().message().find("privacy flag forbids remote calls"), std::string::npos)
        << s.status().message();
  }
  {
    HybridOptions o = hybrid(client(listener.url()), Mode::kRemoteOnly);
    o.policy.privacy = true;
    EXPECT_FALSE(HybridSession::open(kSeedMlp, std::move(o)).is_ok());
  }
  {
    // A session that may go remote, and one call that may not.
    HybridOptions o = hybrid(client(listener.url()), Mode::kPreferRemote);
    o.deadline_ms = 300;  // the listener never answers: open falls back to local
    auto s = HybridSession::open(kSeedMlp, std::move(o));
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    RunOptions private_call;
    private_call.mode = Mode::kRemoteOnly;
    private_call.privacy = true;
    const int before = listener.connections();
    auto out = (*s)->run(mlp_feeds(5), private_call);
    EXPECT_FALSE(out.is_ok());
    EXPECT_NE(out.status().message().find("privacy"), std::string::npos) << out.status().message();
    EXPECT_EQ(listener.connections(), before) << "a privacy-flagged call opened a connection";
  }
  std::this_thread::sleep_for(milliseconds(100));  // an attempt in flight would show by now
  EXPECT_EQ(listener.connections(), 1) << "only the prefer-remote session (no privacy) may connect";
}

TEST_F(Hybrid, PerCallOverride) {
  auto s = HybridSession::open(kSeedMlp, hybrid(client(server_->url())));
  ASSERT_TRUE(s.is_ok());
  RunReport r;
  ASSERT_TRUE((*s)->run(mlp_feeds(6), {Mode::kRemoteOnly}, &r).is_ok());
  EXPECT_EQ(r.ran_on, Side::kRemote);
  ASSERT_TRUE((*s)->run(mlp_feeds(6), {}, &r).is_ok());
  EXPECT_EQ(r.ran_on, Side::kLocal);
  EXPECT_EQ((*s)->placement().primary, Side::kLocal) << "a per-call override leaves the session's placement";
}

TEST_F(Hybrid, BadInputIsTheCallersErrorOnBothSides) {
  auto s = HybridSession::open(kSeedMlp, hybrid(client(server_->url())));
  ASSERT_TRUE(s.is_ok());
  const NamedValues wrong = {{"input", Value(Tensor::from_vector<float>({1, 5}, std::vector<float>(5, 1.f)))}};
  for (Mode m : {Mode::kLocalOnly, Mode::kRemoteOnly, Mode::kPreferLocal, Mode::kPreferRemote}) {
    RunReport r;
    auto out = (*s)->run(wrong, {m}, &r);
    ASSERT_FALSE(out.is_ok());
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << out.status().to_string();
    EXPECT_FALSE(r.fell_back) << "a wrong shape must not fall back: the other side would refuse it too";
  }
  const NamedValues ints = {{"input", Value(Tensor::from_vector<int64_t>({1, 784}, std::vector<int64_t>(784, 1)))}};
  auto out = (*s)->run(ints, {Mode::kRemoteOnly});
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("expects dtype float32 but got int64"), std::string::npos);
}

TEST_F(Hybrid, ApiKey) {
  const fs::path keys = *repo_ / ".." / ("tandem-keys-" + std::to_string(getpid()));
  std::ofstream(keys) << "s3cret-key-0123456789\n";
  Server secured(*repo_, {"--api-key-file", keys.string()});
  ASSERT_GT(secured.port(), 0);
  RemoteOptions with;
  with.api_key = "s3cret-key-0123456789";
  auto ok = client(secured.url(), with)->infer(mlp_feeds(7), Deadline::max(), nullptr);
  EXPECT_TRUE(ok.is_ok()) << ok.status().to_string();
  auto refused = client(secured.url())->infer(mlp_feeds(7), Deadline::max(), nullptr);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("HTTP 401"), std::string::npos) << refused.status().message();
  fs::remove(keys);
}

TEST_F(Hybrid, Tls) {
  // A self-signed certificate for 127.0.0.1 (the openssl CLI, as the server's own tests do).
  const fs::path dir = fs::temp_directory_path() / ("tandem-hybrid-tls-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  Server tls(*repo_, {"--tls-cert", cert, "--tls-key", key});
  ASSERT_GT(tls.port(), 0);
  ASSERT_EQ(tls.url().rfind("https://", 0), 0u);
  RemoteOptions trusted;
  trusted.ca_file = cert;
  auto ok = client(tls.url(), trusted)->infer(mlp_feeds(12), Deadline::max(), nullptr);
  EXPECT_TRUE(ok.is_ok()) << ok.status().to_string();
  // Without the CA the handshake fails: a clear error, not a plaintext fallback.
  auto untrusted = client(tls.url())->infer(mlp_feeds(12), Deadline::max(), nullptr);
  ASSERT_FALSE(untrusted.is_ok());
  EXPECT_EQ(untrusted.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(untrusted.status().message().find("certificate"), std::string::npos) << untrusted.status().message();
  fs::remove_all(dir);
}

// ---- faults ------------------------------------------------------------------------------------

TEST_F(Hybrid, ServerDownAtStart) {
  // prefer-remote falls back to local at open, and says so.
  auto s = HybridSession::open(kSeedMlp, hybrid(client(dead_url()), Mode::kPreferRemote));
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ((*s)->placement().primary, Side::kLocal);
  EXPECT_NE((*s)->placement().reason.find("cannot connect"), std::string::npos) << (*s)->placement().reason;
  // remote-only: a clear error, fast.
  const auto t0 = std::chrono::steady_clock::now();
  auto r = HybridSession::open(kSeedMlp, hybrid(client(dead_url()), Mode::kRemoteOnly));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("is the server running?"), std::string::npos) << r.status().message();
  EXPECT_LT(elapsed_ms(t0), 2000);
  // Too large locally and the server down: one error naming both causes.
  HybridOptions o = hybrid(client(dead_url()));
  o.policy.memory_cap_bytes = 512 * 1024;
  auto both = HybridSession::open(kSeedMlp, std::move(o));
  ASSERT_FALSE(both.is_ok());
  EXPECT_NE(both.status().message().find("cannot connect"), std::string::npos) << both.status().message();
  EXPECT_NE(both.status().message().find("0.5 MB is available"), std::string::npos) << both.status().message();
}

TEST_F(Hybrid, ServerKilledMidRunFallsBackToLocal) {
  Server doomed(*repo_);
  ASSERT_GT(doomed.port(), 0);
  auto s = HybridSession::open(kSeedMlp, hybrid(client(doomed.url()), Mode::kPreferRemote));
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  RunReport r;
  ASSERT_TRUE((*s)->run(mlp_feeds(8), {}, &r).is_ok());
  EXPECT_EQ(r.ran_on, Side::kRemote);
  doomed.kill_now(SIGKILL);
  auto out = (*s)->run(mlp_feeds(8), {}, &r);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(r.ran_on, Side::kLocal);
  EXPECT_TRUE(r.fell_back);
  EXPECT_NE(r.fallback_reason.find("remote failed: Unavailable"), std::string::npos) << r.fallback_reason;
}

TEST_F(Hybrid, SlowServerPastTheDeadline) {
  FaultServer slow(FaultServer::Mode::kHang);
  // remote-only: DeadlineExceeded, on time.
  auto c = client(slow.url());
  const auto t0 = std::chrono::steady_clock::now();
  auto out = c->infer(mlp_feeds(9), Clock::now() + milliseconds(300), nullptr);
  double ms = elapsed_ms(t0);
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), StatusCode::kDeadlineExceeded) << out.status().to_string();
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 1500);
  // prefer-remote: the remote gets part of the deadline, local the rest; the answer comes in time.
  HybridOptions o = hybrid(client(slow.url()), Mode::kPreferRemote);
  o.deadline_ms = 600;
  auto s = HybridSession::open(kSeedMlp, std::move(o));
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ((*s)->placement().primary, Side::kRemote);
  const auto t1 = std::chrono::steady_clock::now();
  RunReport r;
  auto answer = (*s)->run(mlp_feeds(9), {}, &r);
  ms = elapsed_ms(t1);
  ASSERT_TRUE(answer.is_ok()) << answer.status().to_string();
  EXPECT_EQ(r.ran_on, Side::kLocal);
  EXPECT_TRUE(r.fell_back);
  EXPECT_NE(r.fallback_reason.find("DeadlineExceeded"), std::string::npos) << r.fallback_reason;
  EXPECT_LT(ms, 600 + 200);
}

TEST_F(Hybrid, RemoteFailuresFallBackWithinTheDeadline) {
  // prefer-remote with the signature from the (healthy-looking) metadata; inference misbehaves:
  // each call falls back to local, and a remote-only call reports the fault, inside the deadline.
  struct Fault {
    FaultServer::Mode mode;
    const char* says;
  };
  for (const Fault& f :
       {Fault{FaultServer::Mode::k500, "HTTP 500: boom!!"}, Fault{FaultServer::Mode::kTruncated, "cut short"},
        Fault{FaultServer::Mode::kHang, "no answer within the deadline"}}) {
    SCOPED_TRACE(f.says);
    FaultServer bad(f.mode);
    RemoteOptions ro;
    ro.breaker_failures = 100;
    HybridOptions o = hybrid(client(bad.url(), ro), Mode::kPreferRemote);
    o.deadline_ms = 500;
    auto s = HybridSession::open(kSeedMlp, std::move(o));
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    EXPECT_EQ((*s)->placement().primary, Side::kRemote);
    auto t0 = std::chrono::steady_clock::now();
    RunReport r;
    auto out = (*s)->run(mlp_feeds(10), {}, &r);
    EXPECT_LT(elapsed_ms(t0), 500 + 200);
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    EXPECT_EQ(r.ran_on, Side::kLocal);
    EXPECT_NE(r.fallback_reason.find(f.says), std::string::npos) << r.fallback_reason;
    t0 = std::chrono::steady_clock::now();
    auto err = (*s)->run(mlp_feeds(10), {Mode::kRemoteOnly}, &r);
    EXPECT_LT(elapsed_ms(t0), 500 + 200);
    ASSERT_FALSE(err.is_ok());
    EXPECT_NE(err.status().message().find(f.says), std::string::npos) << err.status().message();
  }
  // Another protocol on the port: a clear error at open.
  FaultServer ssh(FaultServer::Mode::kGarbage);
  auto s = HybridSession::open(kSeedMlp, hybrid(client(ssh.url()), Mode::kRemoteOnly));
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("not an HTTP answer"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("Open Inference Protocol v2 server?"), std::string::npos);
}

TEST_F(Hybrid, RetriesOnlyWhatDidNotRunAndTheBreakerOpens) {
  {
    FaultServer full(FaultServer::Mode::k503);
    RemoteOptions ro;
    ro.retries = 2;
    ro.breaker_failures = 100;
    auto c = client(full.url(), ro);
    auto out = c->infer(mlp_feeds(11), Deadline::max(), nullptr);
    ASSERT_FALSE(out.is_ok());
    EXPECT_EQ(out.status().code(), StatusCode::kUnavailable);
    EXPECT_EQ(full.posts(), 3) << "503 is retried: the server turned the request away";
  }
  {
    FaultServer broken(FaultServer::Mode::k500);
    RemoteOptions ro;
    ro.retries = 2;
    ro.breaker_failures = 3;
    ro.breaker_cooldown_ms = 60000;
    auto c = client(broken.url(), ro);
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(c->infer(mlp_feeds(11), Deadline::max(), nullptr).is_ok());
    EXPECT_EQ(broken.posts(), 3) << "500 is not retried: the model may have run";
    EXPECT_FALSE(c->health().available);
    EXPECT_NE(c->health().reason.find("circuit breaker open after 3 consecutive failures"), std::string::npos);
    // Open breaker: calls fail fast without a request, and the router routes around it.
    auto fast = c->infer(mlp_feeds(11), Deadline::max(), nullptr);
    EXPECT_NE(fast.status().message().find("circuit breaker open"), std::string::npos);
    EXPECT_EQ(broken.posts(), 3);
    auto s = HybridSession::open(kSeedMlp, hybrid(c, Mode::kPreferRemote));
    ASSERT_TRUE(s.is_ok());
    EXPECT_EQ((*s)->placement().primary, Side::kLocal);
    EXPECT_NE((*s)->placement().reason.find("circuit breaker open"), std::string::npos);
    EXPECT_EQ(broken.posts(), 3);
  }
  {
    // 400 to the binary request: once more in JSON (a server without the extension), then the
    // caller's error, which does not count against the server.
    FaultServer picky(FaultServer::Mode::k400);
    auto c = client(picky.url());
    auto out = c->infer(mlp_feeds(11), Deadline::max(), nullptr);
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << out.status().to_string();
    EXPECT_EQ(picky.posts(), 2);
    EXPECT_TRUE(c->health().available);
  }
}

TEST_F(Hybrid, BreakerClosesAgainWhenTheServerComesBack) {
  RemoteOptions ro;
  ro.breaker_failures = 1;
  ro.breaker_cooldown_ms = 200;
  ro.retries = 0;
  const std::string url = dead_url();
  auto c = client(url, ro);
  EXPECT_FALSE(c->metadata(Deadline::max()).is_ok());
  EXPECT_FALSE(c->health().available);
  std::this_thread::sleep_for(milliseconds(250));
  EXPECT_TRUE(c->health().available) << "half-open after the cooldown";
  auto good = client(server_->url(), ro);
  EXPECT_TRUE(good->metadata(Deadline::max()).is_ok());
  EXPECT_TRUE(good->health().available);
}

TEST_F(Hybrid, CApi) {
  tandem_hybrid_options o;
  tandem_hybrid_options_init(&o);
  const std::string url = server_->url();
  o.remote_url = url.c_str();
  o.remote_model = "seed_mlp";
  o.memory_cap_bytes = 512 * 1024;
  struct Seen {
    int32_t kind, side;
    std::string reason;
  };
  std::vector<Seen> events;
  o.on_route = [](void* user, int32_t kind, int32_t side, const char* reason) {
    static_cast<std::vector<Seen>*>(user)->push_back({kind, side, reason});
  };
  o.on_route_user_data = &events;
  tandem_hybrid* h = nullptr;
  ASSERT_EQ(tandem_hybrid_open(kSeedMlp.c_str(), &o, &h), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(tandem_hybrid_placement_side(h), TANDEM_SIDE_REMOTE);
  ASSERT_FALSE(events.empty()) << "the callback hears the placement";
  EXPECT_EQ(events[0].kind, TANDEM_ROUTE_PLACED);
  EXPECT_EQ(events[0].side, TANDEM_SIDE_REMOTE);
  EXPECT_NE(events[0].reason.find("memory cap 0.5 MB"), std::string::npos) << events[0].reason;
  events.clear();
  EXPECT_NE(std::string(tandem_hybrid_placement_reason(h)).find("memory cap 0.5 MB"), std::string::npos);
  ASSERT_EQ(tandem_hybrid_input_count(h), 1u);
  EXPECT_STREQ(tandem_hybrid_input_name(h, 0), "input");
  const std::vector<float> x(784, 0.5f);
  const int64_t shape[] = {1, 784};
  tandem_tensor* in = nullptr;
  ASSERT_EQ(tandem_tensor_create(1, shape, 2, x.data(), x.size() * sizeof(float), &in), TANDEM_OK);
  tandem_tensor* out = nullptr;
  tandem_run_report r{};
  r.struct_size = sizeof r;
  ASSERT_EQ(tandem_hybrid_run(h, -1, 0, &in, 1, &out, 1, &r), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(r.ran_on, TANDEM_SIDE_REMOTE);
  EXPECT_NE(std::string(r.where).find("remote http://127.0.0.1:"), std::string::npos);
  ASSERT_EQ(tandem_tensor_rank(out), 2u);
  EXPECT_EQ(tandem_tensor_shape(out)[1], 10);
  float sum = 0;
  for (int i = 0; i < 10; ++i) sum += static_cast<const float*>(tandem_tensor_data(out))[i];
  EXPECT_NEAR(sum, 1.0f, 1e-5);  // softmax
  tandem_tensor_free(out);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, TANDEM_ROUTE_RAN);
  EXPECT_EQ(events.back().side, TANDEM_SIDE_REMOTE);
  // local-only for this call: the cap forbids it, with the reason.
  EXPECT_EQ(tandem_hybrid_run(h, TANDEM_LOCAL_ONLY, 0, &in, 1, &out, 1, &r), TANDEM_UNAVAILABLE);
  EXPECT_NE(std::string(tandem_last_error()).find("cannot run locally"), std::string::npos) << tandem_last_error();
  EXPECT_EQ(tandem_hybrid_run(h, 7, 0, &in, 1, &out, 1, &r), TANDEM_INVALID_ARGUMENT);
  tandem_tensor_free(in);
  tandem_hybrid_free(h);
  o.struct_size = 8;
  EXPECT_EQ(tandem_hybrid_open(kSeedMlp.c_str(), &o, &h), TANDEM_INVALID_ARGUMENT);
}

TEST(HybridErrors, BadConfiguration) {
  RemoteOptions o;
  o.url = "ftp://example";
  o.model = "m";
  EXPECT_EQ(connect_remote(o).status().code(), StatusCode::kInvalidArgument);
  o.url = "http://127.0.0.1:1";
  o.model = "";
  EXPECT_EQ(connect_remote(o).status().code(), StatusCode::kInvalidArgument);
  // No model anywhere: no path, no remote.
  auto s = HybridSession::open("", HybridOptions{});
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("no remote server is configured"), std::string::npos) << s.status().message();
  auto missing = HybridSession::open("/nonexistent/model.onnx", HybridOptions{});
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().to_string();
}

}  // namespace
}  // namespace tandem::route
