// The model repository: DIR/<model>/<version>/model.onnx, plus an optional DIR/<model>/config.json
// (or, in single-model mode, DIR is one model's folder):
//   {"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_us": 2000}, "instance_count": 1,
//    "max_queue_size": 64, "inputs": ["input"], "outputs": ["probabilities"]}
// dynamic_batching may also name batch axes other than 0, e.g. a recurrent state [2, N, 128]:
//   "dynamic_batching": {"max_queue_delay_us": 500, "batch_axes": {"state": 1, "stateN": 1}}
// Every numeric version is loaded at start; requests without a version get the highest.
// Loaded versions are shared_ptrs: unload and reload swap the map, and a version being retired
// drains its queue (requests already accepted finish on it) on a reaper thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/runtime/session.h"
#include "native/serve/metrics.h"
#include "native/serve/scheduler.h"

namespace tandem::serve {

struct ModelConfig {
  BatchingConfig batching;
  int instance_count = 1;
  std::vector<std::string> inputs, outputs;  // when given, must match the model's names
};

struct ModelVersion {
  std::string model;
  int64_t version = 0;
  std::string version_str;
  ModelConfig config;
  std::vector<ValueInfo> inputs, outputs;
  std::unique_ptr<Scheduler> scheduler;
};

struct RepositoryOptions {
  std::vector<std::shared_ptr<Backend>> backends;  // empty = the build's defaults
  int threads = 0;
  size_t max_queue_size = 64;    // default for models whose config does not say
  bool strict_readiness = true;  // a model that failed to load makes the server not ready
  // Non-empty: single-model mode (KServe's /mnt/models): the root is this one model's folder,
  // holding one .onnx file (version 1) or <version>/model.onnx, and an optional config.json.
  std::string single_model;
};

// Model names are one path component: letters, digits, '_', '-', '.', not starting with '.'.
bool valid_model_name(const std::string& name);

class Repository {
 public:
  Repository(std::string root, RepositoryOptions options, Metrics* metrics);
  ~Repository();

  // Loads every model found; a model that fails is logged and left unavailable.
  void load_all();
  // (Re)loads every version of one model; the old versions drain in the background.
  Status load(const std::string& model);
  Status unload(const std::string& model);

  // kNotFound (404): no such model or version; kUnavailable (503): known but not loaded.
  // An empty `version` means the highest loaded.
  Result<std::shared_ptr<ModelVersion>> find(const std::string& model, const std::string& version) const;
  // Versions loaded for a model, ascending.
  std::vector<std::shared_ptr<ModelVersion>> versions(const std::string& model) const;

  struct IndexEntry {
    std::string name, version, state, reason;
  };
  std::vector<IndexEntry> index() const;
  // Why the server should not report ready, as far as the models go: with strict readiness
  // (Triton's default), each model whose last load failed, with the reason; empty otherwise.
  // A failed model counts until it loads or is unloaded explicitly.
  std::string not_ready_reason() const;

  // Refuses new requests, drains every queue and joins all workers (graceful shutdown).
  void stop_all();

 private:
  struct Entry {
    std::map<int64_t, std::shared_ptr<ModelVersion>> versions;
    std::string reason;   // why it is not loaded
    bool failed = false;  // the last load failed (an explicit unload clears it)
  };
  Result<std::shared_ptr<ModelVersion>> load_version(const std::string& model, int64_t version, const std::string& path,
                                                     const ModelConfig& config);
  void retire(std::vector<std::shared_ptr<ModelVersion>> old);
  bool exists_on_disk(const std::string& model) const;
  std::filesystem::path model_dir(const std::string& model) const;  // empty: no such model

  std::string root_;
  RepositoryOptions options_;
  Metrics* metrics_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> models_;
  std::mutex load_mu_;  // one load/unload at a time
  std::mutex reaper_mu_;
  struct Reaper {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::vector<Reaper> reapers_;  // joined when finished (at the next retire) or at stop_all
};

// Parses a config.json body; exposed for tests.
Result<ModelConfig> parse_model_config(const std::string& text, size_t default_queue);

}  // namespace tandem::serve
