// Shared pieces of the tandem command line: options, session loading, inputs.
#pragma once

#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/runtime/session.h"
#include "native/lib/json.h"

namespace tandem::cli {

struct Options {
  bool json = false;
  std::string output_dir;                          // run
  unsigned seed = 0;                               // run, bench
  std::map<std::string, std::string> inputs;       // run, bench: NAME -> .npy/.pb file
  std::map<std::string, Shape> shapes;             // every command: NAME -> dims for inputs not given
  std::string backend = "auto";                    // every command
  std::vector<std::shared_ptr<Backend>> backends;  // resolved from `backend`
  int threads = 0;                                 // 0 = the backend's default
  int runs = 50;                                   // bench
  // run: hybrid placement (core/route). Any of these makes `run` go through a HybridSession.
  bool hybrid = false;
  std::string placement = "auto";  // auto | local | remote | prefer-remote
  std::string remote_url;          // --remote http://host:8000
  std::string remote_model;        // --remote-model NAME (default: the file's stem)
  std::string api_key_file;
  uint64_t memory_cap = 0;  // --memory-cap 64M
  bool privacy = false;
  int deadline_ms = 0;
  int warmup = 5;  // bench
};

int die(const Status& st);  // prints the error, returns 1
using tandem::json_escape;  // native/lib/json.h

// Reads the file and loads it with the chosen backends and threads.
Result<std::unique_ptr<Session>> open_session(const std::string& path, const Options& opts);

// Concrete shape for an input: --shape override, else declared dims with unknowns as 1.
Shape shape_for(const ValueInfo& in, const std::map<std::string, Shape>& overrides);

// The feeds `run` and `bench` use: --input files, seeded random tensors for the rest.
// Each random input is described on `log` when it is not null.
Result<NamedValues> make_feeds(const std::vector<ValueInfo>& inputs, const Options& opts, std::ostream* log);
inline Result<NamedValues> make_feeds(const Session& s, const Options& opts, std::ostream* log) {
  return make_feeds(s.inputs(), opts, log);
}

// Nodes and partitions per backend, in placement order: [("xnnpack", {60, 2}), ("reference", {3, 1})].
struct BackendShare {
  std::string backend;
  long nodes = 0;
  int partitions = 0;
};
std::vector<BackendShare> placement_by_backend(const std::vector<std::string>& placement);
// JSON: ["xnnpack: 60 nodes", ...] and {"xnnpack": {"nodes": 60, "partitions": 2}, ...}.
std::string placement_json(const std::vector<std::string>& placement);
std::string placement_by_backend_json(const std::vector<std::string>& placement);

int cmd_inspect(const std::string& path, const Options& opts);
int cmd_run(const std::string& path, const Options& opts);
int cmd_bench(const std::string& path, const Options& opts);

}  // namespace tandem::cli
