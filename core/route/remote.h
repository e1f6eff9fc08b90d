// A model served by a remote Open Inference Protocol v2 server, as the core sees it.
//
// The core routes to it but never speaks HTTP itself: the target supplies the client
// (native/: libcurl, backends/remote; the browser build does its calls with fetch in web/),
// just as it supplies default_backends().
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/route/router.h"
#include "core/runtime/session.h"

namespace tandem::route {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;  // Deadline::max() = none

struct RemoteOptions {
  std::string url;               // "http://127.0.0.1:8000"; https:// for TLS
  std::string model;             // the model's name on the server
  std::string version;           // empty = the server's choice
  std::string api_key;           // sent as "Authorization: Bearer <key>"
  std::string ca_file;           // PEM bundle that signs the server (empty = the system's store)
  std::string client_cert_file;  // mutual TLS (PEM), with client_key_file
  std::string client_key_file;
  bool binary = true;  // the binary tensor extension; JSON when false or the server refuses it
  int connect_timeout_ms = 2000;
  int timeout_ms = 30000;  // a call's deadline when the caller gives none
  // Attempts after the first, only when the request provably did not run the model (connection
  // refused, 503/429 before queuing), with exponential backoff inside the deadline.
  int retries = 2;
  int breaker_failures = 3;        // consecutive failed calls that open the circuit breaker
  int breaker_cooldown_ms = 5000;  // open this long, then one trial call (half-open)
  uint64_t max_response_bytes = uint64_t{1} << 30;
};

struct RemoteSignature {
  std::vector<ValueInfo> inputs, outputs;
};

// Where the time of one remote call went. The server's share comes from its Server-Timing header
// (tandem serve sends queue and compute); a server that does not send it leaves those at 0.
struct RemoteTimings {
  double total_ms = 0;
  double network_ms = 0;  // total - queue - compute: transfer, encoding, the connection
  double queue_ms = 0;
  double compute_ms = 0;
  int attempts = 0;
  bool binary = true;  // whether the binary extension carried the tensors
};

class RemoteModel {
 public:
  virtual ~RemoteModel() = default;
  // "http://127.0.0.1:8000 model 'seed_mlp'"
  virtual std::string describe() const = 0;
  // The model's inputs and outputs as the server declares them (GET /v2/models/NAME).
  virtual Result<RemoteSignature> metadata(Deadline deadline) = 0;
  // POST /v2/models/NAME/infer. Feeds are checked against the metadata first, so a caller's
  // mistake is an InvalidArgument and never counts against the server's health.
  virtual Result<NamedValues> infer(const NamedValues& feeds, Deadline deadline, RemoteTimings* timings) = 0;
  // The circuit breaker's view; the router reads it.
  virtual RemoteHealth health() const = 0;
};

// Defined by the target. Makes a client without contacting the server (so a privacy-flagged
// session that is given an endpoint still opens no socket).
Result<std::shared_ptr<RemoteModel>> connect_remote(const RemoteOptions& options);

}  // namespace tandem::route
