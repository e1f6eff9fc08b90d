// The router as a table: model facts x device budget x policy x remote health -> placement.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/route/device_memory.h"
#include "core/route/router.h"

namespace tandem::route {
namespace {

constexpr uint64_t kMB = 1024 * 1024;
constexpr uint64_t kGB = 1024 * kMB;

ModelFacts file_of(uint64_t bytes) {
  ModelFacts m;
  m.download_bytes = bytes;
  return m;
}

ModelFacts planned(uint64_t file, uint64_t weights, uint64_t arena, uint64_t io = 0) {
  ModelFacts m = file_of(file);
  m.planned = true;
  m.weight_bytes = weights;
  m.arena_bytes = arena;
  m.io_bytes = io;
  return m;
}

DeviceBudget device(uint64_t bytes) { return {bytes, "test"}; }
RemoteHealth up() { return {true, true, ""}; }
RemoteHealth down() { return {true, false, "breaker open"}; }
RemoteHealth none() { return {false, true, ""}; }
Policy mode(Mode m) {
  Policy p;
  p.mode = m;
  return p;
}

struct Case {
  const char* name;
  ModelFacts model;
  DeviceBudget device;
  Policy policy;
  RemoteHealth remote;
  Side primary, fallback;
  const char* reason_has;
};

TEST(Router, DecisionTable) {
  Policy privacy = mode(Mode::kPreferLocal);
  privacy.privacy = true;
  Policy capped = mode(Mode::kPreferLocal);
  capped.memory_cap_bytes = 64 * kMB;
  Policy cap_above_device = mode(Mode::kPreferLocal);
  cap_above_device.memory_cap_bytes = 8 * kGB;
  Policy flops_limit = mode(Mode::kPreferLocal);
  flops_limit.max_local_flops = 1000000;
  ModelFacts heavy = planned(10 * kMB, 10 * kMB, 1 * kMB);
  heavy.flops = 5000000;
  ModelFacts unsupported = planned(kMB, kMB, kMB);
  unsupported.unsupported_ops = {"Foo", "Bar"};
  ModelFacts failed = file_of(kMB);
  failed.local_failure = "OutOfMemory: packing ran out";
  ModelFacts no_copy = file_of(0);
  no_copy.local_copy = false;

  const std::vector<Case> cases = {
      {"small model, prefer-local: local, remote behind it", file_of(1 * kMB), device(8 * kGB),
       mode(Mode::kPreferLocal), up(), Side::kLocal, Side::kRemote,
       "local, needs 3.1 MB (estimated from the file size) of 8192.0 MB"},
      {"small model, no remote: local, no fallback", file_of(1 * kMB), device(8 * kGB), mode(Mode::kPreferLocal),
       none(), Side::kLocal, Side::kNone, "local"},
      {"too large before loading: remote", file_of(90 * kMB), device(64 * kMB), mode(Mode::kPreferLocal), up(),
       Side::kRemote, Side::kNone, "needs 186.6 MB (estimated from the file size) but 64.0 MB is available"},
      {"too large, remote down: nowhere, both causes", file_of(90 * kMB), device(64 * kMB), mode(Mode::kPreferLocal),
       down(), Side::kNone, Side::kNone, "nor remotely (the remote is unavailable: breaker open)"},
      {"plan says the arena does not fit", planned(10 * kMB, 10 * kMB, 100 * kMB), device(64 * kMB),
       mode(Mode::kPreferLocal), up(), Side::kRemote, Side::kNone, "needs 121.6 MB but 64.0 MB"},
      {"plan fits exactly", planned(16 * kMB, 16 * kMB, 30 * kMB), device(64 * kMB), mode(Mode::kPreferLocal), up(),
       Side::kLocal, Side::kRemote, "needs 64.0 MB of 64.0 MB"},
      {"one byte over: remote", planned(16 * kMB, 16 * kMB, 30 * kMB + 1), device(64 * kMB), mode(Mode::kPreferLocal),
       up(), Side::kRemote, Side::kNone, "needs 64.0 MB but 64.0 MB"},
      {"memory cap lowers the budget", file_of(40 * kMB), device(8 * kGB), capped, up(), Side::kRemote, Side::kNone,
       "memory cap 64.0 MB"},
      {"a cap above the device keeps the device's number", file_of(40 * kMB), device(64 * kMB), cap_above_device, up(),
       Side::kRemote, Side::kNone, "(test)"},
      {"privacy: never remote, even when too large", file_of(90 * kMB), device(64 * kMB), privacy, up(), Side::kNone,
       Side::kNone, "privacy flag forbids remote calls"},
      {"privacy: local with no fallback", file_of(1 * kMB), device(8 * kGB), privacy, up(), Side::kLocal, Side::kNone,
       "local"},
      {"local-only, too large: nowhere", file_of(90 * kMB), device(64 * kMB), mode(Mode::kLocalOnly), up(), Side::kNone,
       Side::kNone, "cannot run locally"},
      {"local-only fits: no fallback", file_of(1 * kMB), device(8 * kGB), mode(Mode::kLocalOnly), up(), Side::kLocal,
       Side::kNone, "local"},
      {"remote-only: remote, no fallback", file_of(1 * kMB), device(8 * kGB), mode(Mode::kRemoteOnly), up(),
       Side::kRemote, Side::kNone, "remote"},
      {"remote-only, breaker open: nowhere", file_of(1 * kMB), device(8 * kGB), mode(Mode::kRemoteOnly), down(),
       Side::kNone, Side::kNone, "breaker open"},
      {"prefer-remote: remote, local behind it", file_of(1 * kMB), device(8 * kGB), mode(Mode::kPreferRemote), up(),
       Side::kRemote, Side::kLocal, "remote, as preferred"},
      {"prefer-remote, too large: remote without local fallback", file_of(90 * kMB), device(64 * kMB),
       mode(Mode::kPreferRemote), up(), Side::kRemote, Side::kNone, "remote"},
      {"prefer-remote, breaker open: local", file_of(1 * kMB), device(8 * kGB), mode(Mode::kPreferRemote), down(),
       Side::kLocal, Side::kNone, "local, because the remote is unavailable: breaker open"},
      {"unsupported operators: remote, naming them", unsupported, device(8 * kGB), mode(Mode::kPreferLocal), up(),
       Side::kRemote, Side::kNone, "this build cannot run Foo, Bar"},
      {"a failed local load is not retried", failed, device(8 * kGB), mode(Mode::kPreferLocal), up(), Side::kRemote,
       Side::kNone, "the local load failed: OutOfMemory"},
      {"no local copy: remote", no_copy, device(8 * kGB), mode(Mode::kPreferLocal), up(), Side::kRemote, Side::kNone,
       "no local copy"},
      {"no local copy, no remote: nowhere", no_copy, device(8 * kGB), mode(Mode::kPreferLocal), none(), Side::kNone,
       Side::kNone, "no remote server is configured"},
      {"unknown device memory: trust the local load", file_of(90 * kMB), device(0), mode(Mode::kPreferLocal), up(),
       Side::kLocal, Side::kRemote, "device memory unknown"},
      {"FLOPs above the local limit: remote", heavy, device(8 * kGB), flops_limit, up(), Side::kRemote, Side::kNone,
       "5 MFLOPs per run, above the local limit of 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Placement p = decide(c.model, c.device, c.policy, c.remote);
    EXPECT_EQ(side_name(p.primary), std::string(side_name(c.primary)));
    EXPECT_EQ(side_name(p.fallback), std::string(side_name(c.fallback)));
    EXPECT_NE(p.reason.find(c.reason_has), std::string::npos) << p.reason;
    EXPECT_EQ(p.reason.rfind(mode_name(c.policy.mode), 0), 0u) << "the reason starts with the mode: " << p.reason;
  }
}

// The target as a sweep: models of 1 MB to 90 MB, budgets of 64 MB to 8 GB. Under
// prefer-local the router never places locally what does not fit, and never remotely what does.
TEST(Router, NeverLocalWhenTooLargeNeverRemoteWhenItFits) {
  int local = 0, remote = 0;
  for (uint64_t file = kMB; file <= 90 * kMB; file += 7 * kMB) {
    for (uint64_t budget = 64 * kMB; budget <= 8 * kGB; budget *= 2) {
      for (const bool with_plan : {false, true}) {
        const ModelFacts m = with_plan ? planned(file, file, file / 4, kMB) : file_of(file);
        const Placement p = decide(m, device(budget), mode(Mode::kPreferLocal), up());
        const bool fits = m.local_bytes_needed() <= budget;
        EXPECT_EQ(p.primary, fits ? Side::kLocal : Side::kRemote) << file << " in " << budget << ": " << p.reason;
        (fits ? local : remote)++;
      }
    }
  }
  EXPECT_GT(local, 0);
  EXPECT_GT(remote, 0);
}

TEST(Router, ModesParse) {
  EXPECT_EQ(*parse_mode("auto"), Mode::kPreferLocal);
  EXPECT_EQ(*parse_mode("local"), Mode::kLocalOnly);
  EXPECT_EQ(*parse_mode("remote"), Mode::kRemoteOnly);
  for (Mode m : {Mode::kLocalOnly, Mode::kPreferLocal, Mode::kPreferRemote, Mode::kRemoteOnly}) {
    EXPECT_EQ(*parse_mode(mode_name(m)), m);
  }
  auto bad = parse_mode("cloud");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("choose auto"), std::string::npos);
}

TEST(DeviceMemory, ParsesMemAvailable) {
  EXPECT_EQ(parse_mem_available("MemTotal: 100 kB\nMemAvailable:   2048 kB\n"), 2048u * 1024);
  EXPECT_EQ(parse_mem_available("MemTotal: 100 kB\n"), 0u);
}

#ifndef __EMSCRIPTEN__
// A made-up /proc and /sys: the tightest cgroup level wins, at any depth, v1 or v2.
TEST(DeviceMemory, CgroupLimitsLowerTheBudget) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() /
                        ("tandem-cgroup-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  auto put = [&](const fs::path& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  };
  put("proc/meminfo", "MemAvailable: 8388608 kB\n");  // 8 GiB
  // v2: the parent limits to 1 GiB with 256 MiB used; the leaf has no limit.
  put("proc/self/cgroup", "0::/app/worker\n");
  put("sys/fs/cgroup/app/memory.max", "1073741824\n");
  put("sys/fs/cgroup/app/memory.current", "268435456\n");
  put("sys/fs/cgroup/app/worker/memory.max", "max\n");
  DeviceBudget b = probe_device_budget(root.string());
  EXPECT_EQ(b.available_bytes, 768u * kMB);
  EXPECT_EQ(b.source, "cgroup memory.max");

  // v1: a 512 MiB limit with 100 MiB used; the root's "no limit" sentinel is ignored.
  put("proc/self/cgroup", "4:memory:/job\n1:cpu:/\n");
  put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  put("sys/fs/cgroup/memory/job/memory.limit_in_bytes", "536870912\n");
  put("sys/fs/cgroup/memory/job/memory.usage_in_bytes", "104857600\n");
  b = probe_device_budget(root.string());
  EXPECT_EQ(b.available_bytes, 412u * kMB);
  EXPECT_EQ(b.source, "cgroup memory.limit_in_bytes");

  // No cgroup limit at all: MemAvailable.
  put("proc/self/cgroup", "0::/\n");
  b = probe_device_budget(root.string());
  EXPECT_EQ(b.available_bytes, 8 * kGB);
  EXPECT_EQ(b.source, "MemAvailable");
  fs::remove_all(root);
}

TEST(DeviceMemory, ThisMachineHasABudget) {
  const DeviceBudget b = probe_device_budget();
  EXPECT_GT(b.available_bytes, 0u);
  EXPECT_FALSE(b.source.empty());
}
#endif

}  // namespace
}  // namespace tandem::route
