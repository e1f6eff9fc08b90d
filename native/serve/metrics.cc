#include "native/serve/metrics.h"

#include <chrono>
#include <cstdio>

namespace tandem::serve {
namespace {

std::vector<double> duration_bounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Prometheus label values escape backslash, quote and newline.
std::string label(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void write_histogram(std::string& out, const std::string& name, const std::string& labels, const Histogram& h) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    const std::string le = i < h.bounds.size() ? num(h.bounds[i]) : "+Inf";
    out += name + "_bucket{" + labels + ",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum{" + labels + "} " + num(h.sum) + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(h.count) + "\n";
}

}  // namespace

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++count;
}

ModelStats::ModelStats()
    : queue_seconds(duration_bounds()), compute_seconds(duration_bounds()), batch_size({1, 2, 4, 8, 16, 32, 64, 128}) {}

void Metrics::record_request(const std::string& model, const std::string& version, bool ok, uint64_t request_ns,
                             uint64_t queue_ns, uint64_t compute_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  ModelStats& s = models_[{model, version}];
  Duration& d = ok ? s.success : s.fail;
  ++d.count;
  d.ns += request_ns;
  if (ok) {
    ++s.queue.count;
    s.queue.ns += queue_ns;
    ++s.compute.count;
    s.compute.ns += compute_ns;
    ++s.inference_count;
    s.queue_seconds.observe(static_cast<double>(queue_ns) * 1e-9);
    s.last_inference_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
  }
}

void Metrics::record_execution(const std::string& model, const std::string& version, int64_t batch,
                               uint64_t compute_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  ModelStats& s = models_[{model, version}];
  ++s.execution_count;
  Duration& b = s.batches[batch];
  ++b.count;
  b.ns += compute_ns;
  s.compute_seconds.observe(static_cast<double>(compute_ns) * 1e-9);
  s.batch_size.observe(static_cast<double>(batch));
}

void Metrics::record_http(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++http_[status];
}

std::map<std::pair<std::string, std::string>, ModelStats> Metrics::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return models_;
}

std::string Metrics::prometheus() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out += "# HELP tandem_http_responses_total HTTP responses by status code.\n";
  out += "# TYPE tandem_http_responses_total counter\n";
  for (const auto& [code, n] : http_) {
    out += "tandem_http_responses_total{code=\"" + std::to_string(code) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP tandem_inference_requests_total Inference requests by model, version and outcome.\n";
  out += "# TYPE tandem_inference_requests_total counter\n";
  for (const auto& [key, s] : models_) {
    const std::string l = "model=\"" + label(key.first) + "\",version=\"" + label(key.second) + "\"";
    out += "tandem_inference_requests_total{" + l + ",status=\"success\"} " + std::to_string(s.success.count) + "\n";
    out += "tandem_inference_requests_total{" + l + ",status=\"fail\"} " + std::to_string(s.fail.count) + "\n";
  }
  out += "# HELP tandem_inference_executions_total Session runs (a batch counts once).\n";
  out += "# TYPE tandem_inference_executions_total counter\n";
  for (const auto& [key, s] : models_) {
    out += "tandem_inference_executions_total{model=\"" + label(key.first) + "\",version=\"" + label(key.second) +
           "\"} " + std::to_string(s.execution_count) + "\n";
  }
  const struct {
    const char* name;
    const char* help;
    Histogram ModelStats::*h;
  } hists[] = {
      {"tandem_inference_queue_duration_seconds", "Time requests wait in the model's queue.",
       &ModelStats::queue_seconds},
      {"tandem_inference_compute_duration_seconds", "Time of each Session run.", &ModelStats::compute_seconds},
      {"tandem_inference_batch_size", "Rows (along axis 0) per Session run.", &ModelStats::batch_size},
  };
  for (const auto& h : hists) {
    out += std::string("# HELP ") + h.name + " " + h.help + "\n";
    out += std::string("# TYPE ") + h.name + " histogram\n";
    for (const auto& [key, s] : models_) {
      write_histogram(out, h.name, "model=\"" + label(key.first) + "\",version=\"" + label(key.second) + "\"",
                      s.*(h.h));
    }
  }
  return out;
}

}  // namespace tandem::serve
