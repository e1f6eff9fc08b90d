// tandem bench: load time, first run, then warm timings over R runs after W warmups.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>

#include "native/cli/cli.h"

namespace tandem::cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Nearest-rank percentile of sorted samples.
double percentile(const std::vector<double>& sorted, double p) {
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

double median(const std::vector<double>& sorted) {
  const size_t n = sorted.size();
  return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

}  // namespace

int cmd_bench(const std::string& path, const Options& opts) {
  std::ostream* log = opts.json ? nullptr : &std::cout;
  const auto t_load = Clock::now();
  auto session = open_session(path, opts);  // file read + Session::load
  const double load_ms = ms_since(t_load);
  if (!session.is_ok()) return die(session.status());
  Session& s = **session;
  auto feeds = make_feeds(s, opts, log);
  if (!feeds.is_ok()) return die(feeds.status());

  auto timed_run = [&](double* ms) -> Status {
    const auto t0 = Clock::now();
    auto out = s.run(*feeds);
    *ms = ms_since(t0);
    return out.is_ok() ? Status() : out.status();
  };
  double first_ms = 0;
  if (Status st = timed_run(&first_ms); !st.is_ok()) return die(st.with_context("first run"));
  double ms = 0;
  for (int i = 0; i < opts.warmup; ++i) {
    if (Status st = timed_run(&ms); !st.is_ok()) return die(st.with_context("warmup run"));
  }
  std::vector<double> times;
  times.reserve(static_cast<size_t>(opts.runs));
  for (int i = 0; i < opts.runs; ++i) {
    if (Status st = timed_run(&ms); !st.is_ok()) return die(st.with_context("run " + std::to_string(i + 1)));
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  const double med = median(times), lo = times.front(), p90 = percentile(times, 90);
  const double mean = std::accumulate(times.begin(), times.end(), 0.0) / static_cast<double>(times.size());
  const std::vector<std::string> placement = s.placement();

  char buf[512];
  if (opts.json) {
    std::snprintf(buf, sizeof buf,
                  "\"threads\": %d, \"load_ms\": %.3f, \"first_run_ms\": %.3f, \"median_ms\": %.4f, "
                  "\"min_ms\": %.4f, \"mean_ms\": %.4f, \"p90_ms\": %.4f, \"runs\": %d, \"warmup\": %d",
                  opts.threads, load_ms, first_ms, med, lo, mean, p90, opts.runs, opts.warmup);
    std::cout << "{\"model\": \"" << json_escape(path) << "\", \"backend\": \"" << json_escape(opts.backend) << "\", "
              << buf << ", \"placement\": " << placement_json(placement)
              << ", \"placement_by_backend\": " << placement_by_backend_json(placement) << "}\n";
    return 0;
  }
  std::cout << "model      " << path << "\n"
            << "backend    " << opts.backend << ", threads "
            << (opts.threads > 0 ? std::to_string(opts.threads) : std::string("default")) << "\n"
            << "placement ";
  for (const auto& p : placement) std::cout << " [" << p << "]";
  std::snprintf(buf, sizeof buf,
                "\nload       %.3f ms (file read + Session::load)\nfirst run  %.3f ms\n"
                "warm       median %.4f ms, min %.4f ms, mean %.4f ms, p90 %.4f ms (%d runs after %d warmups)\n",
                load_ms, first_ms, med, lo, mean, p90, opts.runs, opts.warmup);
  std::cout << buf;
  return 0;
}

}  // namespace tandem::cli
