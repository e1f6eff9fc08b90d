// What this device has to give a model: the memory the router compares a model's peak with.
#pragma once

#include <string>
#include <string_view>

#include "core/route/router.h"

namespace tandem::route {

// Native: MemAvailable from /proc/meminfo, lowered to the tightest cgroup limit (v1 or v2, every
// level from this process's cgroup up to the root) minus that cgroup's usage, so a container's
// limit counts, not the host's RAM. WebAssembly: the heap's growth ceiling minus what it holds.
// `root` prefixes /proc and /sys (tests point it at a made-up tree).
DeviceBudget probe_device_budget(const std::string& root = "");

// "MemAvailable:   23921712 kB" in /proc/meminfo's text, in bytes; 0 when absent.
uint64_t parse_mem_available(std::string_view meminfo);

}  // namespace tandem::route
