#include "core/route/router.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace tandem::route {

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::kLocalOnly:
      return "local-only";
    case Mode::kPreferLocal:
      return "prefer-local";
    case Mode::kPreferRemote:
      return "prefer-remote";
    case Mode::kRemoteOnly:
      return "remote-only";
  }
  return "?";
}

Result<Mode> parse_mode(std::string_view text) {
  if (text == "local-only" || text == "local") return Mode::kLocalOnly;
  if (text == "prefer-local" || text == "auto") return Mode::kPreferLocal;
  if (text == "prefer-remote") return Mode::kPreferRemote;
  if (text == "remote-only" || text == "remote") return Mode::kRemoteOnly;
  return invalid_argument("unknown placement '" + std::string(text) +
                          "'; choose auto (prefer-local), local (local-only), remote (remote-only) or prefer-remote");
}

const char* side_name(Side side) {
  switch (side) {
    case Side::kNone:
      return "none";
    case Side::kLocal:
      return "local";
    case Side::kRemote:
      return "remote";
  }
  return "?";
}

std::string megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

uint64_t ModelFacts::local_bytes_needed() const {
  // Headroom measured with bench/route.mjs (peak RSS against this estimate): XNNPACK's packed
  // layout (padding, biases) is about 2% larger than the weights it packs; 1/16 + 1 MiB covers it.
  constexpr uint64_t kMiB = 1024 * 1024;
  if (!planned) return 2 * download_bytes + download_bytes / 16 + kMiB;
  const uint64_t read_and_decoded = download_bytes + weight_bytes;
  const uint64_t decoded_and_packed = 2 * weight_bytes + weight_bytes / 16 + arena_bytes + io_bytes;
  return std::max(read_and_decoded, decoded_and_packed) + kMiB;
}

DeviceBudget effective_budget(const DeviceBudget& device, const Policy& policy) {
  if (policy.memory_cap_bytes == 0) return device;
  if (device.available_bytes != 0 && device.available_bytes <= policy.memory_cap_bytes) return device;
  return {policy.memory_cap_bytes, "memory cap " + megabytes(policy.memory_cap_bytes)};
}

namespace {

// Whether the model can run here, and a clause saying why (not).
struct Verdict {
  bool ok = false;
  std::string why;
};

Verdict judge_local(const ModelFacts& m, const DeviceBudget& budget, const Policy& policy) {
  if (!m.local_failure.empty()) return {false, "the local load failed: " + m.local_failure};
  if (!m.local_copy) return {false, "no local copy of the model"};
  if (!m.unsupported_ops.empty()) {
    std::string ops;
    for (const std::string& op : m.unsupported_ops) ops += (ops.empty() ? "" : ", ") + op;
    return {false, "this build cannot run " + ops};
  }
  const uint64_t need = m.local_bytes_needed();
  const std::string estimate = m.planned ? "" : " (estimated from the file size)";
  if (budget.available_bytes != 0 && need > budget.available_bytes) {
    return {false, "the model needs " + megabytes(need) + estimate + " but " + megabytes(budget.available_bytes) +
                       " is available (" + budget.source + ")"};
  }
  if (policy.max_local_flops != 0 && m.flops > policy.max_local_flops) {
    return {false, "the model needs " + std::to_string(m.flops / 1000000) +
                       " MFLOPs per run, above the local limit of " + std::to_string(policy.max_local_flops / 1000000)};
  }
  if (budget.available_bytes == 0) return {true, "device memory unknown"};
  return {true, "needs " + megabytes(need) + estimate + " of " + megabytes(budget.available_bytes) + " available (" +
                    budget.source + ")"};
}

Verdict judge_remote(const RemoteHealth& r, const Policy& policy) {
  if (policy.privacy) return {false, "the privacy flag forbids remote calls"};
  if (!r.configured) return {false, "no remote server is configured"};
  if (!r.available) return {false, "the remote is unavailable: " + r.reason};
  return {true, ""};
}

}  // namespace

Placement decide(const ModelFacts& model, const DeviceBudget& device, const Policy& policy,
                 const RemoteHealth& remote) {
  const DeviceBudget budget = effective_budget(device, policy);
  const Verdict local = judge_local(model, budget, policy);
  const Verdict far = judge_remote(remote, policy);
  Placement p;
  p.budget_bytes = budget.available_bytes;
  p.needed_bytes = model.local_bytes_needed();
  const std::string mode = std::string(mode_name(policy.mode)) + ": ";
  auto place = [&](Side primary, Side fallback, std::string reason) {
    p.primary = primary;
    p.fallback = fallback;
    p.reason = mode + std::move(reason);
    return p;
  };
  const Side local_or_none = local.ok ? Side::kLocal : Side::kNone;
  const Side remote_or_none = far.ok ? Side::kRemote : Side::kNone;
  switch (policy.mode) {
    case Mode::kLocalOnly:
      if (local.ok) return place(Side::kLocal, Side::kNone, "local, " + local.why);
      return place(Side::kNone, Side::kNone, "cannot run locally: " + local.why);
    case Mode::kRemoteOnly:
      if (far.ok) return place(Side::kRemote, Side::kNone, "remote, as the policy requires");
      return place(Side::kNone, Side::kNone, "cannot run remotely: " + far.why);
    case Mode::kPreferLocal:
      if (local.ok) return place(Side::kLocal, remote_or_none, "local, " + local.why);
      if (far.ok) return place(Side::kRemote, Side::kNone, "remote, because " + local.why);
      return place(Side::kNone, Side::kNone, "cannot run locally (" + local.why + ") nor remotely (" + far.why + ")");
    case Mode::kPreferRemote:
      if (far.ok) return place(Side::kRemote, local_or_none, "remote, as preferred");
      if (local.ok) return place(Side::kLocal, Side::kNone, "local, because " + far.why);
      return place(Side::kNone, Side::kNone, "cannot run remotely (" + far.why + ") nor locally (" + local.why + ")");
  }
  return p;
}

Result<uint64_t> parse_bytes(std::string_view text) {
  const std::string t(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(t.c_str(), &end);
  double unit = 1;
  const std::string suffix = end == nullptr ? "" : std::string(end);
  if (suffix == "K" || suffix == "k")
    unit = 1024.0;
  else if (suffix == "M" || suffix == "m")
    unit = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "g")
    unit = 1024.0 * 1024 * 1024;
  else if (!suffix.empty())
    unit = -1;
  if (t.empty() || end == t.c_str() || errno != 0 || unit < 0 || !(v > 0) || v * unit > 1e18) {
    return invalid_argument("--memory-cap takes a size such as 64M, 1.5G or 1000000 (bytes), got '" + t + "'");
  }
  return static_cast<uint64_t>(v * unit);
}

}  // namespace tandem::route
