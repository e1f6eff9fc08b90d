// The Open Inference Protocol v2 REST API (KServe / Triton) over the model repository:
// health, server and model metadata, readiness, infer (JSON and the binary tensor data
// extension), repository index/load/unload, statistics, and Prometheus /metrics.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "native/serve/auth.h"
#include "native/serve/http_server.h"
#include "native/serve/metrics.h"
#include "native/serve/repository.h"

namespace tandem::serve {

// Checks one request input against the model (shared by the REST and gRPC paths, so both give
// the same answers): the model has an input of that name, `datatype` is an OIP name matching
// the input's dtype, and `shape` fits its declared shape. Sets `*dtype`; kInvalidArgument
// (REST 400, gRPC INVALID_ARGUMENT) with a message naming what is wrong otherwise.
Status check_input(const ModelVersion& mv, const std::string& name, std::string_view datatype, DType* dtype);
Status check_input_shape(const ModelVersion& mv, const std::string& name, const Shape& shape);

class OipService {
 public:
  OipService(Repository* repository, Metrics* metrics, const Auth* auth)
      : repository_(repository), metrics_(metrics), auth_(auth) {}

  // The HttpServer handler. Never throws; answers every request exactly once.
  void handle(HttpRequest&& req, Responder respond);
  // The handler of the --metrics-port listener: GET /metrics only, without an API key (it is
  // for Prometheus scrapers inside the cluster, as Triton's metrics port; see README.md).
  void handle_metrics_port(HttpRequest&& req, Responder respond);
  // /v2/health/ready says true only between set_ready(true) and set_ready(false) (draining),
  // and while Repository::not_ready_reason() is empty (strict readiness).
  void set_ready(bool ready) { ready_ = ready; }

 private:
  void route(HttpRequest& req, const Responder& reply);
  void infer(HttpRequest& req, const std::string& model, const std::string& version, const Responder& reply);

  Repository* repository_;
  Metrics* metrics_;
  const Auth* auth_;
  std::atomic<bool> ready_{false};
  std::atomic<uint64_t> next_request_{1};
};

}  // namespace tandem::serve
