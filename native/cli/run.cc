// tandem run: one run on given or seeded random inputs; summary and .npy outputs.
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "core/model/npy.h"
#include "core/route/hybrid_session.h"
#include "native/cli/cli.h"

namespace tandem::cli {
namespace {

std::string summarize(const Tensor& t) {
  std::ostringstream os;
  os << dtype_name(t.dtype()) << shape_to_string(t.shape());
  if (t.dtype() == DType::kString || t.numel() == 0) return os.str();
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.get_as_double(i);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  os << "  min " << lo << "  max " << hi << "  mean " << sum / static_cast<double>(t.numel()) << "  first [";
  for (int64_t i = 0; i < std::min<int64_t>(t.numel(), 5); ++i) os << (i ? ", " : "") << t.get_as_double(i);
  os << (t.numel() > 5 ? ", ...]" : "]");
  return os.str();
}

// The server's name for a model file: its stem, or NAME for a repository's NAME/1/model.onnx.
std::string model_name_of(const std::string& path) {
  std::string p = path;
  const size_t slash = p.find_last_of('/');
  std::string stem = slash == std::string::npos ? p : p.substr(slash + 1);
  if (const size_t dot = stem.rfind('.'); dot != std::string::npos) stem = stem.substr(0, dot);
  if (stem != "model" || slash == std::string::npos) return stem;
  p = p.substr(0, slash);  // NAME/1
  const size_t up = p.find_last_of('/');
  p = up == std::string::npos ? "" : p.substr(0, up);  // NAME
  const size_t up2 = p.find_last_of('/');
  return p.empty() ? stem : p.substr(up2 == std::string::npos ? 0 : up2 + 1);
}

Result<std::string> read_api_key(const std::string& file) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, model::read_file(file, 4096));
  std::string key(bytes.begin(), bytes.end());
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) return invalid_argument("--api-key-file '" + file + "' is empty");
  return key;
}

// This process's peak resident set (VmHWM in /proc/self/status), in KiB; 0 when unknown.
long peak_rss_kb() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  long kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb;
}

// `run` through a HybridSession: local or remote by the router, with the placement and where each
// call ran printed.
Result<NamedValues> run_hybrid(const std::string& path, const Options& opts) {
  route::HybridOptions h;
  TANDEM_ASSIGN_OR_RETURN(h.policy.mode, route::parse_mode(opts.placement));
  h.policy.privacy = opts.privacy;
  h.policy.memory_cap_bytes = opts.memory_cap;
  h.local.backends = opts.backends;
  h.local.threads = opts.threads;
  h.deadline_ms = opts.deadline_ms;
  if (!opts.remote_url.empty()) {
    route::RemoteOptions r;
    r.url = opts.remote_url;
    r.model = opts.remote_model.empty() ? model_name_of(path) : opts.remote_model;
    if (!opts.api_key_file.empty()) {
      TANDEM_ASSIGN_OR_RETURN(r.api_key, read_api_key(opts.api_key_file));
    }
    TANDEM_ASSIGN_OR_RETURN(h.remote, route::connect_remote(r));
  }
  h.on_route = [](const route::RouteEvent& e) {
    if (e.kind == route::RouteEvent::Kind::kFallback)
      std::cout << "fallback  to " << route::side_name(e.side) << ": " << e.reason << "\n";
  };
  TANDEM_ASSIGN_OR_RETURN(auto session, route::HybridSession::open(path, std::move(h)));
  const route::Placement p = session->placement();
  std::cout << "placement " << route::side_name(p.primary) << " (" << p.reason << ")\n";
  TANDEM_ASSIGN_OR_RETURN(NamedValues feeds, make_feeds(session->inputs(), opts, &std::cout));
  route::RunReport r;
  TANDEM_ASSIGN_OR_RETURN(NamedValues out, session->run(feeds, {}, &r));
  std::printf("ran on    %s%s\n", r.where.c_str(),
              r.fell_back ? (" after a fallback: " + r.fallback_reason).c_str() : "");
  if (r.ran_on == route::Side::kRemote) {
    std::printf("time      %.3f ms (server queue %.3f ms, compute %.3f ms; network and encoding %.3f ms)\n", r.total_ms,
                r.queue_ms, r.compute_ms, r.network_ms);
  } else {
    std::printf("time      %.3f ms (compute %.3f ms)\n", r.total_ms, r.compute_ms);
  }
  // What the process really used at its peak, next to the budget the router was given. VmHWM,
  // not getrusage's ru_maxrss: that one keeps the forking parent's high-water mark across exec.
  if (const long kb = peak_rss_kb(); kb > 0) {
    std::printf("memory    peak RSS %.1f MB (budget %s)\n", static_cast<double>(kb) / 1024.0,
                p.budget_bytes ? route::megabytes(p.budget_bytes).c_str() : "unknown");
  }
  return out;
}

void print_outputs(const NamedValues& out) {
  for (const auto& [name, v] : out) {
    if (v.is_tensor())
      std::cout << "output " << name << ": " << summarize(v.tensor()) << "\n";
    else
      std::cout << "output " << name << ": "
                << (v.is_sequence() ? "sequence of " + std::to_string(v.items().size()) : "none") << "\n";
  }
}

}  // namespace

int cmd_run(const std::string& path, const Options& opts) {
  NamedValues outputs;
  if (opts.hybrid) {
    auto out = run_hybrid(path, opts);
    if (!out.is_ok()) return die(out.status());
    outputs = std::move(out).value();
    print_outputs(outputs);
  } else {
    auto session = open_session(path, opts);
    if (!session.is_ok()) return die(session.status());
    Session& s = **session;
    auto feeds = make_feeds(s, opts, &std::cout);
    if (!feeds.is_ok()) return die(feeds.status());
    RunStats stats;
    auto out = s.run(*feeds, &stats);
    if (!out.is_ok()) return die(out.status());
    outputs = std::move(out).value();
    print_outputs(outputs);
    std::printf("time   %.3f ms (arena %llu bytes, %zu allocations outside the plan)\n", stats.milliseconds,
                static_cast<unsigned long long>(stats.arena_bytes), stats.unplanned_allocations);
  }
  const NamedValues* out = &outputs;
  if (!opts.output_dir.empty()) {
    mkdir(opts.output_dir.c_str(), 0755);
    for (const auto& [name, v] : *out) {
      if (!v.is_tensor()) continue;
      std::string file = name;
      for (char& c : file) {
        if (c == '/' || c == '\\' || c == ':') c = '_';
      }
      Status st = model::write_npy(opts.output_dir + "/" + file + ".npy", v.tensor());
      if (!st.is_ok()) return die(st);
    }
    std::cout << "wrote  " << out->size() << " outputs to " << opts.output_dir << "\n";
  }
  return 0;
}

}  // namespace tandem::cli
