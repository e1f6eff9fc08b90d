// Counters and histograms per model version, read by /v2/models/{m}/stats (OIP statistics
// extension, Triton's field names) and by /metrics (Prometheus text format).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tandem::serve {

struct Histogram {
  std::vector<double> bounds;    // upper bounds, ascending; +Inf is implicit
  std::vector<uint64_t> counts;  // per bucket (not cumulative), bounds.size() + 1
  double sum = 0;
  uint64_t count = 0;
  explicit Histogram(std::vector<double> b = {}) : bounds(std::move(b)), counts(bounds.size() + 1) {}
  void observe(double v);
};

struct Duration {
  uint64_t count = 0;
  uint64_t ns = 0;
};

struct ModelStats {
  Duration success, fail, queue, compute;  // requests; queue and compute per request
  uint64_t inference_count = 0;            // requests run (each counts once, batched or not)
  uint64_t execution_count = 0;            // Session::run calls (a batch is one)
  uint64_t last_inference_ms = 0;          // Unix time of the last completed request
  std::map<int64_t, Duration> batches;     // batch size (rows along axis 0) -> runs and their compute time
  Histogram queue_seconds, compute_seconds, batch_size;
  ModelStats();
};

class Metrics {
 public:
  // One finished request. `ok` = answered 200.
  void record_request(const std::string& model, const std::string& version, bool ok, uint64_t request_ns,
                      uint64_t queue_ns, uint64_t compute_ns);
  // One Session::run over `batch` rows (one request or several batched together).
  void record_execution(const std::string& model, const std::string& version, int64_t batch, uint64_t compute_ns);
  void record_http(int status);

  // (model, version) -> stats; a snapshot.
  std::map<std::pair<std::string, std::string>, ModelStats> snapshot() const;
  std::string prometheus() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, ModelStats> models_;
  std::map<int, uint64_t> http_;
};

}  // namespace tandem::serve
