// The router: model facts x device budget x policy x remote health -> a placement and the reason.
//
// A pure function of its inputs, so it is cheap (microseconds), testable from tables, and can run
// before any weight is read: with only the file size known it estimates the load's peak; once the
// memory plan is known it uses the plan's numbers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/runtime/status.h"

namespace tandem::route {

// Firebase AI Logic's vocabulary: PREFER_ON_DEVICE is the default.
enum class Mode { kLocalOnly, kPreferLocal, kPreferRemote, kRemoteOnly };

const char* mode_name(Mode mode);  // "local-only", "prefer-local", ...
// Accepts the four names, plus "auto" (prefer-local), "local" (local-only), "remote" (remote-only).
Result<Mode> parse_mode(std::string_view text);

struct Policy {
  Mode mode = Mode::kPreferLocal;
  // No byte leaves the device: the remote is never contacted, not even for metadata.
  bool privacy = false;
  // 0 = the device's own budget. Otherwise the budget is min(cap, what the device has): an
  // app-level budget, or a way to test the remote path on a big machine.
  uint64_t memory_cap_bytes = 0;
  // 0 = no limit. Otherwise models estimated above this many FLOPs per run go remote under
  // prefer-local (a slow device that should not try a heavy model).
  uint64_t max_local_flops = 0;
};

struct ModelFacts {
  bool local_copy = true;                    // the model's bytes are on this device (a path or bytes given)
  uint64_t download_bytes = 0;               // the model file (+ external data): what a local load reads
  bool planned = false;                      // the fields below come from the memory plan
  uint64_t weight_bytes = 0;                 // initializers and folded constants
  uint64_t arena_bytes = 0;                  // intermediates
  uint64_t io_bytes = 0;                     // inputs + outputs
  uint64_t flops = 0;                        // estimated per run; 0 = unknown
  std::vector<std::string> unsupported_ops;  // operators no local backend runs
  // Non-empty: loading the model here failed (out of memory, unsupported operator, a backend's
  // self-test mismatch, a missing file), so local is not tried again. Says why.
  std::string local_failure;

  // Bytes a local load and run needs at its peak. Before the plan: twice the file (the bytes
  // read plus the weights decoded from them; a packing backend's copy takes their place once the
  // read buffer is freed). With the plan: also weights twice (decoded and packed) + arena + io.
  // Both with headroom for the packed layout (1/16 of the weights) and 1 MiB.
  uint64_t local_bytes_needed() const;
};

struct DeviceBudget {
  uint64_t available_bytes = 0;  // 0 = unknown (the router then trusts the local load)
  std::string source;            // where the number came from: "cgroup memory.max", "MemAvailable", ...
};

struct RemoteHealth {
  bool configured = false;  // a remote endpoint was given
  bool available = true;    // false while the circuit breaker is open
  std::string reason;       // why it is unavailable
};

enum class Side { kNone, kLocal, kRemote };
const char* side_name(Side side);  // "none", "local", "remote"

struct Placement {
  Side primary = Side::kNone;
  Side fallback = Side::kNone;  // where a failure of the primary goes; kNone = nowhere
  std::string reason;           // a sentence for the user: where, and why
  uint64_t budget_bytes = 0;    // the budget the decision used (0 = unknown)
  uint64_t needed_bytes = 0;    // the model's estimated local peak
  bool ok() const { return primary != Side::kNone; }
};

// The effective budget: the device's number, lowered to the policy's cap.
DeviceBudget effective_budget(const DeviceBudget& device, const Policy& policy);

Placement decide(const ModelFacts& model, const DeviceBudget& device, const Policy& policy, const RemoteHealth& remote);

// "12.3 MB" (MiB, one decimal): the unit every reason uses.
std::string megabytes(uint64_t bytes);
// "64M", "1.5G", "512K", "1000000": bytes (K, M, G are powers of 1024); for --memory-cap options.
Result<uint64_t> parse_bytes(std::string_view text);

}  // namespace tandem::route
