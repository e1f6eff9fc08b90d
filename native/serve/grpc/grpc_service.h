// The Open Inference Protocol v2 over gRPC: inference.GRPCInferenceService (grpc_predict_v2.proto)
// on the same Repository, schedulers, metrics and API keys as the REST path (oip.{h,cc}).
// ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata and ModelInfer (typed
// `contents` and `raw_input_contents`). Built on gRPC's callback API: ModelInfer is answered
// from the scheduler's worker thread, so no gRPC thread waits on a queued request.
// This header does not include gRPC; only grpc_service.cc and the tests see the generated code.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/runtime/status.h"
#include "native/serve/auth.h"
#include "native/serve/metrics.h"
#include "native/serve/repository.h"

namespace tandem::serve {

struct GrpcOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8001;  // 0 = any free port; GrpcServer::port() says which
  // Largest request message accepted (--max-body-bytes; gRPC answers RESOURCE_EXHAUSTED above),
  // clamped to what gRPC can take (2 GiB - 1).
  uint64_t max_message_bytes = 64ull << 20;
  // Both set: TLS with this PEM certificate (chain) and key (--tls-cert/--tls-key, as the HTTP
  // port), so API keys never cross the network in the clear on either port.
  std::string tls_cert_file, tls_key_file;
  // With TLS, also set: clients must present a certificate that chains to a CA in this PEM file
  // (--tls-client-ca, as the HTTP port).
  std::string tls_client_ca_file;
};

class GrpcServer {
 public:
  GrpcServer(GrpcOptions options, Repository* repository, Metrics* metrics, const Auth* auth);
  ~GrpcServer();  // begin_shutdown(0) + wait() if still running
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  Status start();  // binds and starts serving
  uint16_t port() const { return port_; }
  // ServerReady says true only between set_ready(true) and set_ready(false) (draining), and
  // while Repository::not_ready_reason() is empty (strict readiness), as /v2/health/ready.
  void set_ready(bool ready);
  // Refuses new calls from now on; calls in flight get until `grace` to be answered (the
  // repository's drain answers them), then are cancelled. Returns at once; wait() joins.
  void begin_shutdown(std::chrono::milliseconds grace);
  void wait();

  struct Impl;  // the generated service; opaque here

 private:
  GrpcOptions options_;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace tandem::serve
