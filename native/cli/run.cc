// tandem run: one run on given or seeded random inputs; summary and .npy outputs.
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "core/model/npy.h"
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

}  // namespace

int cmd_run(const std::string& path, const Options& opts) {
  auto session = open_session(path, opts);
  if (!session.is_ok()) return die(session.status());
  Session& s = **session;
  auto feeds = make_feeds(s, opts, &std::cout);
  if (!feeds.is_ok()) return die(feeds.status());
  RunStats stats;
  auto out = s.run(*feeds, &stats);
  if (!out.is_ok()) return die(out.status());
  for (const auto& [name, v] : *out) {
    if (v.is_tensor()) std::cout << "output " << name << ": " << summarize(v.tensor()) << "\n";
    else std::cout << "output " << name << ": " << (v.is_sequence() ? "sequence of " + std::to_string(v.items().size()) : "none") << "\n";
  }
  std::printf("time   %.3f ms (arena %llu bytes, %zu allocations outside the plan)\n", stats.milliseconds,
              static_cast<unsigned long long>(stats.arena_bytes), stats.unplanned_allocations);
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
