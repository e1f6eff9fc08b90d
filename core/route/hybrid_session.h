// HybridSession: one run() that goes local or remote, with fallbacks both ways.
//
//   route::HybridOptions o;
//   o.remote = *route::connect_remote({.url = "http://127.0.0.1:8000", .model = "resnet18"});
//   auto s = route::HybridSession::open("resnet18.onnx", std::move(o));
//   auto out = (*s)->run(feeds, {}, &report);   // report.ran_on, report.fallback_reason, timings
//   (*s)->placement().reason                    // "prefer-local: local, needs 95.1 MB of ..."
//
// open() decides before any weight is read (file size vs the device's budget), then again with
// the memory plan before any weight is packed; a model too large for the device never starts a
// local load that would fail. run() follows the placement; a failure on one side goes to the other
// when the policy allows and the caller's deadline has time left; otherwise one error names both.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/route/remote.h"
#include "core/route/router.h"
#include "core/runtime/session.h"

namespace tandem::route {

// What happened, for an event callback (the onRoute hook) and for logs.
struct RouteEvent {
  enum class Kind { kPlaced, kFallback, kRan };
  Kind kind = Kind::kPlaced;
  Side side = Side::kNone;  // where it is placed / falls back to / ran
  std::string reason;
};

struct HybridOptions {
  Policy policy;
  SessionOptions local;                 // backends, threads, ... for the local side
  std::shared_ptr<RemoteModel> remote;  // null = no remote
  // Probed from the device when not set (core/route/device_memory.h).
  std::optional<DeviceBudget> device;
  int deadline_ms = 0;  // default per-call deadline; 0 = the remote's timeout_ms
  std::function<void(const RouteEvent&)> on_route;
};

struct RunOptions {
  std::optional<Mode> mode;  // this call only
  bool privacy = false;      // this call only: can tighten the session's policy, never loosen it
  int deadline_ms = 0;       // 0 = the session's default
};

struct RunReport {
  Side ran_on = Side::kNone;
  std::string where;  // "local (xnnpack: 60 nodes)" / "remote http://... model 'x'"
  bool fell_back = false;
  std::string fallback_reason;  // why the first choice did not give the answer
  double total_ms = 0;
  double compute_ms = 0;  // local run, or the server's compute when it reports it
  double queue_ms = 0;    // the server's queue (remote only)
  double network_ms = 0;  // remote only: total - server time
  int remote_attempts = 0;
};

class HybridSession {
 public:
  // `path` may be empty when the model only exists on the server (remote-only, or prefer-local
  // on a device without a copy).
  static Result<std::unique_ptr<HybridSession>> open(const std::string& path, HybridOptions options);

  // Where calls go by default, and why. Updated when a fallback or the breaker changes it.
  Placement placement() const;
  const ModelFacts& model_facts() const { return facts_; }
  const DeviceBudget& device_budget() const { return device_; }
  const std::vector<ValueInfo>& inputs() const { return inputs_; }
  const std::vector<ValueInfo>& outputs() const { return outputs_; }
  // The local session, when one is loaded (null otherwise).
  Session* local() { return local_.get(); }

  Result<NamedValues> run(const NamedValues& feeds, const RunOptions& options = {}, RunReport* report = nullptr);

 private:
  HybridSession() = default;
  Status init(const std::string& path);
  Status load_local();
  Status fetch_remote_signature(Deadline deadline);
  Placement decide_now(const Policy& policy) const;
  Result<NamedValues> run_on(Side side, const NamedValues& feeds, Deadline deadline, RunReport* report);
  void emit(RouteEvent::Kind kind, Side side, const std::string& reason) const;

  HybridOptions options_;
  std::string path_;
  ModelFacts facts_;
  DeviceBudget device_;
  std::vector<ValueInfo> inputs_, outputs_;
  std::unique_ptr<Session> local_;
  Status local_failure_;                   // why the local side cannot be used (load failed), once known
  bool remote_checked_ = false;            // the remote's signature was read
  std::atomic<double> last_local_ms_{-1};  // the last local run's time: the fallback's reserve
  mutable std::mutex mutex_;               // guards the lazily loaded local side and placement_
  Placement placement_;
};

}  // namespace tandem::route
