#include "core/route/device_memory.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#ifdef __EMSCRIPTEN__
#include <emscripten/heap.h>
#endif

namespace tandem::route {

uint64_t parse_mem_available(std::string_view meminfo) {
  const std::string_view key = "MemAvailable:";
  const size_t at = meminfo.find(key);
  if (at == std::string_view::npos) return 0;
  const std::string rest(meminfo.substr(at + key.size(), 32));
  const unsigned long long kb = std::strtoull(rest.c_str(), nullptr, 10);
  return static_cast<uint64_t>(kb) * 1024;
}

#ifndef __EMSCRIPTEN__
namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A cgroup file holding one number ("max" = no limit).
std::optional<uint64_t> read_number(const std::string& path) {
  auto text = read_text(path);
  if (!text || text->empty() || text->rfind("max", 0) == 0) return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text->c_str(), &end, 10);
  if (end == text->c_str()) return std::nullopt;
  return static_cast<uint64_t>(v);
}

struct CgroupLayout {
  std::string dir;    // /sys/fs/cgroup or /sys/fs/cgroup/memory
  std::string path;   // this process's cgroup inside it
  const char* limit;  // memory.max | memory.limit_in_bytes
  const char* usage;  // memory.current | memory.usage_in_bytes
  const char* name;   // for the reason
};

std::vector<CgroupLayout> cgroup_layouts(const std::string& root) {
  std::vector<CgroupLayout> out;
  auto text = read_text(root + "/proc/self/cgroup");
  if (!text) return out;
  std::stringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) {
      out.push_back({root + "/sys/fs/cgroup", path, "memory.max", "memory.current", "cgroup memory.max"});
    } else if (controllers == "memory" || controllers.find("memory,") != std::string::npos ||
               controllers.find(",memory") != std::string::npos) {
      out.push_back({root + "/sys/fs/cgroup/memory", path, "memory.limit_in_bytes", "memory.usage_in_bytes",
                     "cgroup memory.limit_in_bytes"});
    }
  }
  return out;
}

}  // namespace
#endif

DeviceBudget probe_device_budget(const std::string& root) {
#ifdef __EMSCRIPTEN__
  (void)root;
  const uint64_t max = emscripten_get_heap_max();
  const uint64_t size = emscripten_get_heap_size();
  return {max > size ? max - size : 0, "wasm32 heap ceiling"};
#else
  DeviceBudget best;
  if (auto meminfo = read_text(root + "/proc/meminfo")) best = {parse_mem_available(*meminfo), "MemAvailable"};
  for (const CgroupLayout& c : cgroup_layouts(root)) {
    // Every level from this cgroup up to the root limits us; the tightest one counts.
    std::string p = c.path;
    while (true) {
      const std::string dir = c.dir + (p == "/" ? "" : p);
      auto limit = read_number(dir + "/" + c.limit);
      // cgroup v1 reports "no limit" as a huge page-aligned number.
      if (limit && *limit < (uint64_t{1} << 62)) {
        const uint64_t used = read_number(dir + "/" + c.usage).value_or(0);
        const uint64_t left = *limit > used ? *limit - used : 1;  // 1, not 0: 0 means unknown
        if (best.available_bytes == 0 || left < best.available_bytes) best = {left, c.name};
      }
      if (p.empty() || p == "/") break;
      const size_t slash = p.find_last_of('/');
      p = slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
    }
  }
  return best;
#endif
}

}  // namespace tandem::route
