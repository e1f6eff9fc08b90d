// Session: load a model once, run it many times. The one entry point users need.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/graph/graph.h"
#include "core/model/onnx_reader.h"
#include "core/plan/memory_plan.h"
#include "core/plan/partition.h"
#include "core/runtime/backend.h"
#include "core/runtime/value.h"

namespace tandem {

struct SessionOptions {
  // Backends to place nodes on, best first; empty = the target's defaults.
  std::vector<std::shared_ptr<Backend>> backends;
  int threads = 0;  // 0 = backend default (one thread per core)
  model::LoadOptions load;
  // Called while loading with (bytes done, bytes total); for progress bars.
  std::function<void(uint64_t, uint64_t)> progress;
  // Rewrite the graph once after loading (core/passes: BatchNormalization folding,
  // Conv/MatMul/Gemm + bias + activation fusion, GELU and LayerNorm fusion).
  bool optimize = true;
  // 0 = none. Otherwise load() refuses, before any weight is packed for a backend, a model whose
  // memory plan at the smallest input shapes (symbolic dimensions taken as 1) needs more bytes.
  uint64_t memory_limit_bytes = 0;
};

struct ValueInfo {
  std::string name;
  graph::TypeInfo type;
};

using NamedValues = std::vector<std::pair<std::string, Value>>;

// What the memory plan says for one set of input shapes. These are the numbers
// the router compares with a device's budget.
struct MemoryFacts {
  uint64_t weight_bytes = 0;     // initializers and folded constants, held for the session's life
  uint64_t arena_bytes = 0;      // intermediates: the one arena run() allocates
  uint64_t output_bytes = 0;     // outputs handed to the caller
  uint64_t input_bytes = 0;
  size_t dynamic_values = 0;     // values sized only while running (data-dependent shapes)
  uint64_t flops = 0;            // estimated per run (plan::estimate_flops; a lower bound)
  uint64_t peak_bytes() const { return weight_bytes + arena_bytes + output_bytes + input_bytes; }
};

struct RunStats {
  double milliseconds = 0;
  uint64_t arena_bytes = 0;
  size_t unplanned_allocations = 0;  // allocations outside the arena (dynamic shapes)
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> load(const std::string& path, SessionOptions options = {});
  static Result<std::unique_ptr<Session>> load(std::span<const uint8_t> bytes, SessionOptions options = {});

  const std::vector<ValueInfo>& inputs() const { return inputs_; }
  const std::vector<ValueInfo>& outputs() const { return outputs_; }
  const graph::Model& model() const { return model_; }
  const graph::Graph& graph() const { return *model_.graph; }
  // "reference: 12 nodes" per partition, for inspect and diagnostics: the last
  // run's placement, or before any run the placement on the symbolic graph.
  std::vector<std::string> placement() const;

  // Runs the model. Feeds are matched by name; every input must be given.
  Result<NamedValues> run(const NamedValues& feeds, RunStats* stats = nullptr);
  // Memory facts for these input shapes, without running (or copying weights anywhere).
  Result<MemoryFacts> memory_facts(const std::map<std::string, Shape>& input_shapes);

 private:
  // Everything that depends on concrete input shapes: the graph with shapes
  // inferred and shape computations folded, its memory plan, and partitions
  // compiled for it (backends see concrete shapes, so XNNPACK gets whole
  // subgraphs instead of pieces cut apart by Shape/Gather/Concat chains).
  struct SpecializedPlan {
    graph::Graph graph;
    plan::MemoryPlan memory;
    std::vector<plan::Partition> partitions;
    std::vector<std::unique_ptr<Executable>> executables;  // empty until first needed
  };

  Session() = default;
  Status init(graph::Model model, SessionOptions options);
  Status check_feeds(const NamedValues& feeds, std::vector<const Value*>* ordered) const;
  Result<std::shared_ptr<SpecializedPlan>> plan_for(const std::vector<Shape>& input_shapes);
  Status compile(SpecializedPlan& sp);
  Status check_memory_limit();

  graph::Model model_;
  SessionOptions options_;
  std::vector<ValueInfo> inputs_, outputs_;
  std::vector<plan::Partition> partitions_;  // on the symbolic graph: validation and placement before a run
  SessionState backend_state_;  // outlives the executables that use it (declared before plans_)
  const graph::NodeEvaluator* evaluator_ = nullptr;
  std::mutex mutex_;  // run() may be called from several threads; one runs at a time
  std::map<std::string, std::shared_ptr<SpecializedPlan>> plans_;
  std::shared_ptr<SpecializedPlan> last_plan_;  // the plan placement() reports
  Tensor arena_;  // uint8 storage, grown to the largest plan seen
};

}  // namespace tandem
