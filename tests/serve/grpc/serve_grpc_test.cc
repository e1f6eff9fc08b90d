// tandem serve's gRPC endpoint (inference.GRPCInferenceService) through the generated client stub:
// an in-process GrpcServer on loopback over the build's default repository (the seed MLP), whose
// answers are compared with Session::run and with the REST path (OipService) on the same input;
// then the `tandem` binary with --grpc-port 0, asked and drained by SIGTERM.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "grpc_predict_v2.grpc.pb.h"
#include "native/lib/backends.h"
#include "native/serve/auth.h"
#include "native/serve/grpc/grpc_service.h"
#include "backends/remote/json.h"
#include "native/serve/metrics.h"
#include "native/serve/oip.h"
#include "native/serve/repository.h"

extern char** environ;

namespace tandem::serve {
// The OIP v2 wire format, shared with the remote client (backends/remote).
using namespace ::tandem::oip;  // NOLINT(google-build-using-namespace)
namespace {

const std::string kRepo = TANDEM_SERVE_MODELS;
const std::string kModel = "seed_mlp";

std::vector<float> random_input(int rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(rows) * 784);
  for (float& x : v) x = dist(rng);
  return v;
}

std::string as_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// One server (in-process) with its repository, and a client stub on it.
class GrpcServe : public ::testing::Test {
 protected:
  void start(const char* keys = nullptr, uint64_t max_message_bytes = 64ull << 20) {
    if (!std::filesystem::exists(kRepo + "/seed_mlp/1/model.onnx")) GTEST_SKIP() << "no default repository";
    auto auth = Auth::load("", keys);
    ASSERT_TRUE(auth.is_ok());
    auth_ = std::make_unique<Auth>(std::move(auth).value());
    RepositoryOptions ro;
    auto backends = backends_named("reference");
    ASSERT_TRUE(backends.is_ok());
    ro.backends = std::move(backends).value();
    ro.threads = 1;
    repository_ = std::make_unique<Repository>(kRepo, ro, &metrics_);
    repository_->load_all();
    GrpcOptions go;
    go.host = "127.0.0.1";
    go.port = 0;
    go.max_message_bytes = max_message_bytes;
    server_ = std::make_unique<GrpcServer>(go, repository_.get(), &metrics_, auth_.get());
    const Status st = server_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    ASSERT_NE(server_->port(), 0);
    auto channel =
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    stub_ = inference::GRPCInferenceService::NewStub(channel);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->begin_shutdown(std::chrono::milliseconds(5000));
    if (repository_ != nullptr) repository_->stop_all();
    if (server_ != nullptr) server_->wait();
    server_.reset();
    repository_.reset();
  }

  static std::unique_ptr<grpc::ClientContext> context(const char* key = nullptr) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (key != nullptr) ctx->AddMetadata("authorization", std::string("Bearer ") + key);
    return ctx;
  }

  static inference::ModelInferRequest raw_request(const std::vector<float>& input, int rows) {
    inference::ModelInferRequest req;
    req.set_model_name(kModel);
    req.set_id("req-7");
    auto* in = req.add_inputs();
    in->set_name("input");
    in->set_datatype("FP32");
    in->add_shape(rows);
    in->add_shape(784);
    req.add_raw_input_contents(as_bytes(input));
    return req;
  }

  grpc::Status infer(const inference::ModelInferRequest& req, inference::ModelInferResponse* resp,
                     const char* key = nullptr) {
    auto ctx = context(key);
    return stub_->ModelInfer(ctx.get(), req, resp);
  }

  // The same input through Session::run on the reference kernels.
  static std::vector<float> session_run(const std::vector<float>& input, int rows) {
    auto backends = backends_named("reference");
    SessionOptions so;
    so.backends = std::move(backends).value();
    so.threads = 1;
    auto session = Session::load(kRepo + "/seed_mlp/1/model.onnx", so);
    EXPECT_TRUE(session.is_ok()) << session.status().to_string();
    auto out = (*session)->run({{"input", Value(Tensor::from_vector<float>({rows, 784}, input))}});
    EXPECT_TRUE(out.is_ok()) << out.status().to_string();
    const Tensor& t = (*out)[0].second.tensor();
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
  }

  // The same input through the REST path (OipService, JSON in and out), without a socket.
  std::vector<float> rest_run(const std::vector<float>& input, int rows) {
    OipService oip(repository_.get(), &metrics_, auth_.get());
    HttpRequest req;
    req.method = "POST";
    req.target = req.path = "/v2/models/seed_mlp/infer";
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.StartObject();
    w.Key("inputs");
    w.StartArray();
    w.StartObject();
    w.Key("name");
    w.String("input");
    w.Key("datatype");
    w.String("FP32");
    w.Key("shape");
    w.StartArray();
    w.Int(rows);
    w.Int(784);
    w.EndArray();
    w.Key("data");
    w.StartArray();
    for (float x : input) w.Double(x);
    w.EndArray();
    w.EndObject();
    w.EndArray();
    w.EndObject();
    req.body.assign(sb.GetString(), sb.GetSize());
    std::promise<HttpResponse> answered;
    oip.handle(std::move(req), [&answered](HttpResponse r) { answered.set_value(std::move(r)); });
    const HttpResponse r = answered.get_future().get();
    EXPECT_EQ(r.status, 200) << r.body;
    rapidjson::Document doc;
    doc.Parse<kJsonParseFlags>(r.body.data(), r.body.size());
    std::vector<float> out;
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("outputs")) return out;
    for (const auto& v : doc["outputs"][0]["data"].GetArray()) out.push_back(static_cast<float>(v.GetDouble()));
    return out;
  }

  Metrics metrics_;
  std::unique_ptr<Auth> auth_;
  std::unique_ptr<Repository> repository_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(GrpcServe, HealthAndServerMetadata) {
  start();
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub_->ServerLive(context().get(), {}, &live).ok());
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub_->ServerReady(context().get(), {}, &ready).ok());
  EXPECT_FALSE(ready.ready());  // not until set_ready(true), as /v2/health/ready
  server_->set_ready(true);
  ASSERT_TRUE(stub_->ServerReady(context().get(), {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
  inference::ServerMetadataResponse meta;
  ASSERT_TRUE(stub_->ServerMetadata(context().get(), {}, &meta).ok());
  EXPECT_EQ(meta.name(), "tandem");
  EXPECT_FALSE(meta.version().empty());
}

TEST_F(GrpcServe, ModelReadyAndMetadata) {
  start();
  inference::ModelReadyRequest rr;
  rr.set_name(kModel);
  inference::ModelReadyResponse ready;
  ASSERT_TRUE(stub_->ModelReady(context().get(), rr, &ready).ok());
  EXPECT_TRUE(ready.ready());
  rr.set_version("1");
  ASSERT_TRUE(stub_->ModelReady(context().get(), rr, &ready).ok());
  EXPECT_TRUE(ready.ready());
  rr.set_version("9");
  EXPECT_EQ(stub_->ModelReady(context().get(), rr, &ready).error_code(), grpc::StatusCode::NOT_FOUND);
  rr.set_name("no_such_model");
  rr.clear_version();
  EXPECT_EQ(stub_->ModelReady(context().get(), rr, &ready).error_code(), grpc::StatusCode::NOT_FOUND);
  rr.set_name("../etc");
  EXPECT_EQ(stub_->ModelReady(context().get(), rr, &ready).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  inference::ModelMetadataRequest mr;
  mr.set_name(kModel);
  inference::ModelMetadataResponse meta;
  const grpc::Status st = stub_->ModelMetadata(context().get(), mr, &meta);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(meta.name(), kModel);
  EXPECT_EQ(meta.platform(), "onnx");
  ASSERT_EQ(meta.versions_size(), 1);
  EXPECT_EQ(meta.versions(0), "1");
  ASSERT_EQ(meta.inputs_size(), 1);
  EXPECT_EQ(meta.inputs(0).name(), "input");
  EXPECT_EQ(meta.inputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(meta.inputs(0).shape().begin(), meta.inputs(0).shape().end()),
            (std::vector<int64_t>{-1, 784}));
  ASSERT_EQ(meta.outputs_size(), 1);
  EXPECT_EQ(meta.outputs(0).name(), "probabilities");
  EXPECT_EQ(std::vector<int64_t>(meta.outputs(0).shape().begin(), meta.outputs(0).shape().end()),
            (std::vector<int64_t>{-1, 10}));
  mr.set_name("no_such_model");
  EXPECT_EQ(stub_->ModelMetadata(context().get(), mr, &meta).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServe, InferRawAndTypedEqualSessionRunAndRest) {
  start();
  const int rows = 3;
  const std::vector<float> input = random_input(rows, 42);
  const std::vector<float> want = session_run(input, rows);
  ASSERT_EQ(want.size(), 30u);

  // Raw in, raw out (Triton's way).
  inference::ModelInferResponse raw;
  grpc::Status st = infer(raw_request(input, rows), &raw);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(raw.model_name(), kModel);
  EXPECT_EQ(raw.model_version(), "1");
  EXPECT_EQ(raw.id(), "req-7");
  ASSERT_EQ(raw.outputs_size(), 1);
  EXPECT_EQ(raw.outputs(0).name(), "probabilities");
  EXPECT_EQ(raw.outputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(raw.outputs(0).shape().begin(), raw.outputs(0).shape().end()),
            (std::vector<int64_t>{rows, 10}));
  ASSERT_EQ(raw.raw_output_contents_size(), 1);
  ASSERT_EQ(raw.raw_output_contents(0).size(), want.size() * sizeof(float));
  std::vector<float> got(want.size());
  std::memcpy(got.data(), raw.raw_output_contents(0).data(), raw.raw_output_contents(0).size());
  EXPECT_EQ(got, want);

  // Typed in, typed out (the answer mirrors the request).
  inference::ModelInferRequest req = raw_request(input, rows);
  req.clear_raw_input_contents();
  req.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->Add(input.begin(), input.end());
  req.add_outputs()->set_name("probabilities");
  inference::ModelInferResponse typed;
  st = infer(req, &typed);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(typed.raw_output_contents_size(), 0);
  ASSERT_EQ(typed.outputs_size(), 1);
  const auto& c = typed.outputs(0).contents().fp32_contents();
  EXPECT_EQ(std::vector<float>(c.begin(), c.end()), want);

  // The REST path answers the same numbers.
  EXPECT_EQ(rest_run(input, rows), want);

  const auto snap = metrics_.snapshot();
  EXPECT_GE(snap.at({kModel, "1"}).success.count, 2u);
}

// Concurrent calls are batched by the scheduler (seed_mlp batches up to 16 rows); every answer
// still equals its own Session::run.
TEST_F(GrpcServe, ConcurrentCallsAreBatchedAndExact) {
  start();
  constexpr int kThreads = 8, kEach = 4;
  std::vector<std::vector<float>> inputs, wants;
  for (int i = 0; i < kThreads * kEach; ++i) {
    inputs.push_back(random_input(1, 100 + static_cast<uint32_t>(i)));
    wants.push_back(session_run(inputs.back(), 1));
  }
  std::vector<std::vector<float>> got(inputs.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kEach; ++k) {
        const size_t i = static_cast<size_t>(t * kEach + k);
        inference::ModelInferResponse resp;
        if (!infer(raw_request(inputs[i], 1), &resp).ok() || resp.raw_output_contents_size() != 1) continue;
        const std::string& bytes = resp.raw_output_contents(0);
        got[i].resize(bytes.size() / sizeof(float));
        std::memcpy(got[i].data(), bytes.data(), got[i].size() * sizeof(float));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t i = 0; i < inputs.size(); ++i) EXPECT_EQ(got[i], wants[i]) << "request " << i;
}

TEST_F(GrpcServe, BadRequests) {
  start();
  const std::vector<float> input = random_input(1, 7);
  inference::ModelInferResponse resp;
  auto expect = [&](const inference::ModelInferRequest& req, grpc::StatusCode code, const std::string& says) {
    inference::ModelInferResponse r;
    const grpc::Status st = infer(req, &r);
    EXPECT_EQ(st.error_code(), code) << st.error_message();
    EXPECT_NE(st.error_message().find(says), std::string::npos) << st.error_message();
  };

  auto req = raw_request(input, 1);
  req.set_model_name("no_such_model");
  expect(req, grpc::StatusCode::NOT_FOUND, "no_such_model");
  req = raw_request(input, 1);
  req.set_model_version("5");
  expect(req, grpc::StatusCode::NOT_FOUND, "");

  req = raw_request(input, 1);  // wrong shape: 783 columns
  req.mutable_inputs(0)->set_shape(1, 783);
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "expects shape");
  req = raw_request(input, 1);  // wrong byte count: shape says 2 rows
  req.mutable_inputs(0)->set_shape(0, 2);
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "bytes");
  req = raw_request(input, 1);
  req.mutable_raw_input_contents(0)->pop_back();
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "bytes");
  req = raw_request(input, 1);
  req.mutable_inputs(0)->set_datatype("INT64");
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "expects datatype FP32");
  req = raw_request(input, 1);
  req.mutable_inputs(0)->set_datatype("FP8");
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "unknown datatype");
  req = raw_request(input, 1);
  req.mutable_inputs(0)->set_name("pixels");
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "has no input 'pixels'");
  req = raw_request(input, 1);
  req.add_raw_input_contents("extra");
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "raw_input_contents");
  req = raw_request(input, 1);
  req.add_outputs()->set_name("logits");
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "no output 'logits'");
  req = raw_request(input, 1);
  req.clear_inputs();
  req.clear_raw_input_contents();
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "missing");
  req = raw_request(input, 1);  // typed contents, one element short
  req.clear_raw_input_contents();
  req.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->Add(input.begin(), input.end() - 1);
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "fp32_contents has 783 elements");
  req = raw_request(input, 1);  // typed contents in the wrong field
  req.clear_raw_input_contents();
  for (float x : input) req.mutable_inputs(0)->mutable_contents()->add_fp64_contents(x);
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "fp32_contents has 0 elements");
  req = raw_request(input, 1);  // raw and typed at once
  req.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1.0f);
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "raw_input_contents");
  req = raw_request(input, 1);  // Triton's timeout parameter is microseconds, a number
  (*req.mutable_parameters())["timeout"].set_string_param("soon");
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "\"timeout\" (microseconds)");

  // Still answering after all that; a generous timeout does not get in the way.
  EXPECT_TRUE(infer(raw_request(input, 1), &resp).ok());
  req = raw_request(input, 1);
  (*req.mutable_parameters())["timeout"].set_int64_param(10'000'000);
  EXPECT_TRUE(infer(req, &resp).ok());
}

TEST_F(GrpcServe, MessagesOverTheBodyLimitAreRefused) {
  start(nullptr, 1000);
  inference::ModelInferResponse resp;
  EXPECT_EQ(infer(raw_request(random_input(1, 1), 1), &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  inference::ServerLiveResponse live;
  EXPECT_TRUE(stub_->ServerLive(context().get(), {}, &live).ok());
}

TEST_F(GrpcServe, ApiKeys) {
  start("k1,k2");
  // Health is open without a key.
  inference::ServerLiveResponse live;
  EXPECT_TRUE(stub_->ServerLive(context().get(), {}, &live).ok());
  inference::ServerReadyResponse ready;
  EXPECT_TRUE(stub_->ServerReady(context().get(), {}, &ready).ok());
  // Everything else needs one.
  inference::ServerMetadataResponse meta;
  EXPECT_EQ(stub_->ServerMetadata(context().get(), {}, &meta).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub_->ServerMetadata(context("k3").get(), {}, &meta).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(stub_->ServerMetadata(context("k2").get(), {}, &meta).ok());
  inference::ModelReadyRequest rr;
  rr.set_name(kModel);
  inference::ModelReadyResponse mready;
  EXPECT_EQ(stub_->ModelReady(context().get(), rr, &mready).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const auto input = random_input(1, 3);
  inference::ModelInferResponse resp;
  EXPECT_EQ(infer(raw_request(input, 1), &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(infer(raw_request(input, 1), &resp, "k").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const grpc::Status st = infer(raw_request(input, 1), &resp, "k1");
  EXPECT_TRUE(st.ok()) << st.error_message();
}

std::string read_text(const std::string& file) {
  std::ifstream f(file);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A self-signed P-256 certificate for 127.0.0.1 with CN=name: writes dir/name.pem and
// dir/name.key; returns the certificate's PEM (empty if openssl failed).
std::string self_signed(const std::filesystem::path& dir, const std::string& name) {
  const std::string pem = dir / (name + ".pem"), key = dir / (name + ".key");
  const std::string cmd =
      "/usr/bin/openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=" + name +
      " -addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + pem + " 2>/dev/null";
  return std::system(cmd.c_str()) == 0 ? read_text(pem) : std::string();
}

// What the TLS tests share: the demo repository on the reference backend, no API keys.
struct TlsRig {
  static RepositoryOptions options() {
    RepositoryOptions ro;
    ro.backends = backends_named("reference").value();
    ro.threads = 1;
    return ro;
  }
  Metrics metrics;
  Result<Auth> auth = Auth::load("", nullptr);
  Repository repository{kRepo, options(), &metrics};
};

// --tls-cert/--tls-key: the gRPC port speaks TLS with the same certificate; a client trusting
// it is answered, a plaintext client is not.
TEST(GrpcServeTls, ServesOverTlsWithTheHttpCertificate) {
  if (!std::filesystem::exists(kRepo + "/seed_mlp/1/model.onnx")) GTEST_SKIP() << "no default repository";
  if (!std::filesystem::exists("/usr/bin/openssl")) GTEST_SKIP() << "no openssl CLI";
  const auto dir = std::filesystem::temp_directory_path() / ("tandem_grpc_tls_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = dir / "cert.pem", key = dir / "cert.key";
  const std::string cert_pem = self_signed(dir, "cert");
  ASSERT_FALSE(cert_pem.empty());
  TlsRig rig;
  ASSERT_TRUE(rig.auth.is_ok());
  Metrics& metrics = rig.metrics;
  const Auth* auth = &*rig.auth;
  Repository& repository = rig.repository;
  repository.load_all();
  GrpcOptions go;
  go.host = "127.0.0.1";
  go.port = 0;
  go.tls_cert_file = cert;
  go.tls_key_file = key;
  GrpcServer server(go, &repository, &metrics, auth);
  const Status st = server.start();
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  const std::string target = "127.0.0.1:" + std::to_string(server.port());

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = cert_pem;
  auto tls = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(target, grpc::SslCredentials(ssl)));
  grpc::ClientContext c1;
  c1.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  inference::ServerMetadataResponse meta;
  const grpc::Status ok = tls->ServerMetadata(&c1, {}, &meta);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(meta.name(), "tandem");

  auto plain =
      inference::GRPCInferenceService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext c2;
  c2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_FALSE(plain->ServerMetadata(&c2, {}, &meta).ok());

  GrpcOptions missing = go;
  missing.tls_key_file = (dir / "nope.pem").string();
  GrpcServer bad(missing, &repository, &metrics, auth);
  EXPECT_FALSE(bad.start().is_ok());

  // --tls-client-ca: mutual TLS. A client certificate from that CA gets through, none does not.
  const std::string ca = dir / "ca.pem", ca_key = dir / "ca.key", client = dir / "client.pem",
                    client_key = dir / "client.key", csr = dir / "client.csr";
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  ASSERT_EQ(std::system(("/usr/bin/openssl req -x509" + ec + "-days 1 -subj /CN=test-ca -keyout " + ca_key + " -out " +
                         ca + " 2>/dev/null && /usr/bin/openssl req" + ec + "-subj /CN=client -keyout " + client_key +
                         " -out " + csr + " 2>/dev/null && /usr/bin/openssl x509 -req -in " + csr + " -CA " + ca +
                         " -CAkey " + ca_key + " -CAcreateserial -days 1 -out " + client + " 2>/dev/null")
                            .c_str()),
            0);
  GrpcOptions mutual = go;
  mutual.tls_client_ca_file = ca;
  GrpcServer mtls(mutual, &repository, &metrics, auth);
  ASSERT_TRUE(mtls.start().is_ok());
  const std::string mtls_target = "127.0.0.1:" + std::to_string(mtls.port());
  grpc::SslCredentialsOptions with_cert = ssl;
  with_cert.pem_cert_chain = read_text(client);
  with_cert.pem_private_key = read_text(client_key);
  auto good =
      inference::GRPCInferenceService::NewStub(grpc::CreateChannel(mtls_target, grpc::SslCredentials(with_cert)));
  grpc::ClientContext c3;
  c3.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  const grpc::Status mutual_ok = good->ServerMetadata(&c3, {}, &meta);
  EXPECT_TRUE(mutual_ok.ok()) << mutual_ok.error_message();
  auto anonymous =
      inference::GRPCInferenceService::NewStub(grpc::CreateChannel(mtls_target, grpc::SslCredentials(ssl)));
  grpc::ClientContext c4;
  c4.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_FALSE(anonymous->ServerMetadata(&c4, {}, &meta).ok());
  mtls.begin_shutdown(std::chrono::milliseconds(1000));
  mtls.wait();

  server.begin_shutdown(std::chrono::milliseconds(1000));
  repository.stop_all();
  server.wait();
  std::filesystem::remove_all(dir);
}

// A certificate replaced on disk is served to new connections within about a second, without a
// restart (gRPC's file watcher): a client trusting only the new certificate gets through.
TEST(GrpcServeTls, PicksUpARotatedCertificate) {
  if (!std::filesystem::exists(kRepo + "/seed_mlp/1/model.onnx")) GTEST_SKIP() << "no default repository";
  if (!std::filesystem::exists("/usr/bin/openssl")) GTEST_SKIP() << "no openssl CLI";
  const auto dir = std::filesystem::temp_directory_path() / ("tandem_grpc_rotate_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = dir / "cert.pem", key = dir / "key.pem";
  // Key first, then certificate, as a Secret update lands.
  auto install = [&](const std::string& name) {
    std::filesystem::copy_file(dir / (name + ".key"), key, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(dir / (name + ".pem"), cert, std::filesystem::copy_options::overwrite_existing);
  };
  const std::string first = self_signed(dir, "first");
  ASSERT_FALSE(first.empty());
  install("first");
  TlsRig rig;
  ASSERT_TRUE(rig.auth.is_ok());
  GrpcOptions go;
  go.host = "127.0.0.1";
  go.port = 0;
  go.tls_cert_file = cert;
  go.tls_key_file = key;
  GrpcServer server(go, &rig.repository, &rig.metrics, &*rig.auth);
  ASSERT_TRUE(server.start().is_ok());
  const std::string target = "127.0.0.1:" + std::to_string(server.port());
  // A new channel (so a new connection) trusting only `pem`: does ServerLive get through?
  auto live_trusting = [&](const std::string& pem) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // no connection shared across channels
    auto stub =
        inference::GRPCInferenceService::NewStub(grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    inference::ServerLiveResponse live;
    return stub->ServerLive(&ctx, {}, &live).ok();
  };
  EXPECT_TRUE(live_trusting(first));
  const std::string second = self_signed(dir, "second");
  ASSERT_FALSE(second.empty());
  install("second");
  bool rotated = false;
  for (int i = 0; i < 50 && !rotated; ++i) {  // the watcher looks every second
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rotated = live_trusting(second);
  }
  EXPECT_TRUE(rotated);
  EXPECT_FALSE(live_trusting(first));
  server.begin_shutdown(std::chrono::milliseconds(1000));
  rig.repository.stop_all();
  server.wait();
  std::filesystem::remove_all(dir);
}

#ifdef TANDEM_BINARY
// The binary: `tandem serve --grpc-port 0` reports the port on its stdout line, answers, and
// exits 0 on SIGTERM after draining.
TEST(GrpcServeBinary, ServesAndDrainsOnSigterm) {
  if (!std::filesystem::exists(TANDEM_BINARY)) GTEST_SKIP() << "no " << TANDEM_BINARY;
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<std::string> args = {TANDEM_BINARY, "serve",       "--host", "127.0.0.1",       "--http-port",
                                   "0",           "--grpc-port", "0",      "--no-access-log", "--backend",
                                   "reference",   "--threads",   "1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  std::string line;
  char ch = 0;
  while (read(out[0], &ch, 1) == 1 && ch != '\n') line += ch;
  std::smatch m;
  const bool found = std::regex_search(line, m, std::regex("grpc on 127\\.0\\.0\\.1:(\\d+)"));
  EXPECT_TRUE(found) << line;
  if (found) {
    auto stub = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + m[1].str(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext c1;
    c1.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    inference::ServerReadyResponse ready;
    EXPECT_TRUE(stub->ServerReady(&c1, {}, &ready).ok());
    EXPECT_TRUE(ready.ready());
    inference::ModelInferRequest req;
    req.set_model_name(kModel);
    auto* in = req.add_inputs();
    in->set_name("input");
    in->set_datatype("FP32");
    in->add_shape(1);
    in->add_shape(784);
    const auto input = random_input(1, 9);
    in->mutable_contents()->mutable_fp32_contents()->Add(input.begin(), input.end());
    grpc::ClientContext c2;
    c2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    inference::ModelInferResponse resp;
    const grpc::Status st = stub->ModelInfer(&c2, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(resp.outputs_size(), 1);
  }
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  close(out[0]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}
#endif

}  // namespace
}  // namespace tandem::serve
