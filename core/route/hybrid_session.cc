#include "core/route/hybrid_session.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "core/route/device_memory.h"

namespace tandem::route {
namespace {

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string join_placement(const std::vector<std::string>& parts) {
  std::string s;
  for (const std::string& p : parts) s += (s.empty() ? "" : ", ") + p;
  return s;
}

// Errors that are the caller's, not a side's: another side would fail them the same way.
bool is_callers_mistake(const Status& st) { return st.code() == StatusCode::kInvalidArgument; }

}  // namespace

Result<std::unique_ptr<HybridSession>> HybridSession::open(const std::string& path, HybridOptions options) {
  std::unique_ptr<HybridSession> s(new HybridSession());
  s->options_ = std::move(options);
  s->path_ = path;
  TANDEM_RETURN_IF_ERROR(s->init(path));
  return s;
}

Status HybridSession::init(const std::string& path) {
  device_ = options_.device.has_value() ? *options_.device : probe_device_budget();
  facts_.local_copy = !path.empty();
  if (!path.empty()) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) {
      facts_.local_copy = false;
      local_failure_ = not_found("cannot open '" + path + "': " + ec.message());
      facts_.local_failure = local_failure_.message();
    } else {
      facts_.download_bytes = size;
    }
  }

  // First decision: before any weight is read.
  const Policy& policy = options_.policy;
  placement_ = decide_now(policy);
  emit(RouteEvent::Kind::kPlaced, placement_.primary, placement_.reason);
  // Loading plans memory before packing: a model the file size let through but the plan does not
  // fails here (as does an unsupported operator), and the router moves it.
  if (placement_.primary == Side::kLocal) {
    const bool loaded = load_local().is_ok();
    placement_ = decide_now(policy);  // now with the plan's numbers, or the load's failure
    if (!loaded && placement_.ok()) emit(RouteEvent::Kind::kFallback, placement_.primary, placement_.reason);
  }
  if (placement_.primary == Side::kRemote) {
    const Deadline deadline =
        options_.deadline_ms > 0 ? Clock::now() + std::chrono::milliseconds(options_.deadline_ms) : Deadline::max();
    Status st = fetch_remote_signature(deadline);
    if (!st.is_ok()) {
      // Unreachable at start: local when the policy and the device allow, else one error naming both.
      const RemoteHealth down{true, false, st.to_string()};
      placement_ = decide(facts_, device_, policy, down);
      if (placement_.primary == Side::kLocal && !load_local().is_ok())
        placement_ = decide(facts_, device_, policy, down);
      if (!placement_.ok()) return Status(st.code(), "cannot run the model anywhere: " + placement_.reason);
      emit(RouteEvent::Kind::kFallback, placement_.primary, placement_.reason);
    }
  }
  if (!placement_.ok()) {
    const StatusCode code = local_failure_.is_ok() ? StatusCode::kUnavailable : local_failure_.code();
    return Status(code, "cannot run the model anywhere: " + placement_.reason);
  }
  return Status::ok();
}

Status HybridSession::load_local() {
  if (local_ != nullptr) return Status::ok();
  if (!local_failure_.is_ok()) return local_failure_;
  SessionOptions so = options_.local;
  const DeviceBudget budget = effective_budget(device_, options_.policy);
  if (so.memory_limit_bytes == 0 || (budget.available_bytes != 0 && budget.available_bytes < so.memory_limit_bytes)) {
    so.memory_limit_bytes = budget.available_bytes;
  }
  auto loaded = Session::load(path_, std::move(so));
  if (!loaded.is_ok()) {
    local_failure_ = loaded.status();
    facts_.local_failure = local_failure_.message();
    return local_failure_;
  }
  local_ = std::move(loaded).value();
  // The plan's numbers replace the file-size estimate (symbolic dimensions taken as 1).
  std::map<std::string, Shape> shapes;
  for (const ValueInfo& in : local_->inputs()) shapes[in.name] = in.type.smallest_shape();
  if (auto mf = local_->memory_facts(shapes); mf.is_ok()) {
    facts_.planned = true;
    facts_.weight_bytes = mf->weight_bytes;
    facts_.arena_bytes = mf->arena_bytes;
    facts_.io_bytes = mf->input_bytes + mf->output_bytes;
    facts_.flops = mf->flops;
  }
  inputs_ = local_->inputs();
  outputs_ = local_->outputs();
  return Status::ok();
}

Status HybridSession::fetch_remote_signature(Deadline deadline) {
  if (remote_checked_) return Status::ok();
  if (options_.remote == nullptr) return unavailable("no remote server is configured");
  TANDEM_ASSIGN_OR_RETURN(RemoteSignature sig, options_.remote->metadata(deadline));
  if (local_ == nullptr) {
    inputs_ = sig.inputs;
    outputs_ = sig.outputs;
  }
  remote_checked_ = true;
  return Status::ok();
}

Placement HybridSession::decide_now(const Policy& policy) const {
  RemoteHealth health;
  if (options_.remote != nullptr && !policy.privacy) health = options_.remote->health();
  health.configured = options_.remote != nullptr;
  return decide(facts_, device_, policy, health);
}

Placement HybridSession::placement() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return placement_;
}

void HybridSession::emit(RouteEvent::Kind kind, Side side, const std::string& reason) const {
  if (options_.on_route) options_.on_route(RouteEvent{kind, side, reason});
}

Result<NamedValues> HybridSession::run_on(Side side, const NamedValues& feeds, Deadline deadline, RunReport* report) {
  if (side == Side::kLocal) {
    Session* local = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      TANDEM_RETURN_IF_ERROR(load_local());
      local = local_.get();
    }
    RunStats stats;
    auto out = local->run(feeds, &stats);
    if (out.is_ok()) {
      report->where = "local (" + join_placement(local->placement()) + ")";
      report->compute_ms = stats.milliseconds;
      last_local_ms_.store(stats.milliseconds);
    }
    return out;
  }
  if (options_.remote == nullptr) return unavailable("no remote server is configured");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    TANDEM_RETURN_IF_ERROR(fetch_remote_signature(deadline));
  }
  RemoteTimings t;
  auto out = options_.remote->infer(feeds, deadline, &t);
  report->remote_attempts += t.attempts;
  if (out.is_ok()) {
    report->where = "remote " + options_.remote->describe();
    report->compute_ms = t.compute_ms;
    report->queue_ms = t.queue_ms;
    report->network_ms = t.network_ms;
  }
  return out;
}

Result<NamedValues> HybridSession::run(const NamedValues& feeds, const RunOptions& options, RunReport* report) {
  const auto start = Clock::now();
  RunReport local_report;
  RunReport& r = report != nullptr ? *report : local_report;
  r = RunReport{};
  Policy policy = options_.policy;
  if (options.mode) policy.mode = *options.mode;
  if (options.privacy) policy.privacy = true;
  const int deadline_ms = options.deadline_ms > 0 ? options.deadline_ms : options_.deadline_ms;
  const Deadline deadline = deadline_ms > 0 ? start + std::chrono::milliseconds(deadline_ms) : Deadline::max();

  Placement p;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    p = decide_now(policy);
    if (!options.mode && !options.privacy) placement_ = p;  // the breaker or a failed load moved it
  }
  if (!p.ok()) return unavailable("cannot run: " + p.reason);
  // A remote call with a local fallback leaves the fallback time to answer before the deadline:
  // twice the last local run, or a quarter of the budget before any local run; at most half.
  Deadline first_deadline = deadline;
  if (p.primary == Side::kRemote && p.fallback == Side::kLocal && deadline != Deadline::max()) {
    const auto budget = deadline - start;
    const double last = last_local_ms_.load();
    auto reserve = last >= 0 ? std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double, std::milli>(std::max(2 * last, 5.0)))
                             : budget / 4;
    first_deadline = deadline - std::min(reserve, budget / 2);
  }
  auto out = run_on(p.primary, feeds, first_deadline, &r);
  if (out.is_ok() || is_callers_mistake(out.status()) || p.fallback == Side::kNone) {
    r.ran_on = out.is_ok() ? p.primary : Side::kNone;
    r.total_ms = ms_since(start);
    if (out.is_ok()) emit(RouteEvent::Kind::kRan, r.ran_on, r.where);
    if (!out.is_ok() && !is_callers_mistake(out.status())) {
      return out.status().with_context(std::string(side_name(p.primary)) + " run failed (" + p.reason +
                                       "; no fallback)");
    }
    return out;
  }
  const Status first = out.status();
  r.fell_back = true;
  r.fallback_reason = std::string(side_name(p.primary)) + " failed: " + first.to_string();
  if (Clock::now() >= deadline) {
    return unavailable(r.fallback_reason + "; no time left before the deadline for the " + side_name(p.fallback) +
                       " fallback");
  }
  emit(RouteEvent::Kind::kFallback, p.fallback, r.fallback_reason);
  auto second = run_on(p.fallback, feeds, deadline, &r);
  r.total_ms = ms_since(start);
  if (!second.is_ok()) {
    return Status(second.status().code(), r.fallback_reason + "; the " + side_name(p.fallback) +
                                              " fallback failed too: " + second.status().to_string());
  }
  r.ran_on = p.fallback;
  emit(RouteEvent::Kind::kRan, r.ran_on, r.where);
  return second;
}

}  // namespace tandem::route
