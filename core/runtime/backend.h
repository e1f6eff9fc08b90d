// The backend interface: a backend claims the nodes it can run, compiles a
// partition (a run of consecutive claimed nodes) into an Executable, and runs
// it against an ExecutionFrame that holds every value of the session.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/graph/graph.h"
#include "core/graph/shape_inference.h"
#include "core/runtime/status.h"
#include "core/runtime/value.h"

namespace tandem {

enum class DeviceKind { kCpu, kGpu, kRemote };

struct DeviceFacts {
  std::string name;
  DeviceKind kind = DeviceKind::kCpu;
  uint64_t memory_budget = 0;  // bytes this device may use; 0 = unknown
};

namespace plan {
struct Partition;
class MemoryPlan;
}  // namespace plan

// All values of one run: inputs, constants, intermediates, outputs. Backends
// read inputs from it and allocate outputs through it, so outputs land in the
// arena slot the memory plan gave them.
class ExecutionFrame {
 public:
  ExecutionFrame(const graph::Graph& graph, const plan::MemoryPlan* plan, uint8_t* arena)
      : graph_(graph), plan_(plan), arena_(arena), values_(graph.values.size()) {}

  const graph::Graph& graph() const { return graph_; }
  Value& value(graph::ValueId id) { return values_[static_cast<size_t>(id)]; }
  const Value& value(graph::ValueId id) const { return values_[static_cast<size_t>(id)]; }
  // Storage for value `id`: its arena slot when planned with this exact size,
  // else fresh heap memory (dynamic shapes, strings, graph outputs).
  Result<Tensor> allocate(graph::ValueId id, DType dtype, Shape shape);
  // Drops values whose last reader was node `node_index` (frees heap memory early).
  void release_after(size_t node_index);
  // How many allocations missed their planned slot (shape differed from the plan).
  size_t unplanned_allocations() const { return unplanned_; }

 private:
  const graph::Graph& graph_;
  const plan::MemoryPlan* plan_;
  uint8_t* arena_;
  std::vector<Value> values_;
  size_t unplanned_ = 0;
};

class Executable {
 public:
  virtual ~Executable() = default;
  // Runs the partition's nodes; their inputs are already in the frame.
  virtual Status run(ExecutionFrame& frame) = 0;
};

// State a backend shares across the partitions of one session (a thread pool,
// a weights cache), keyed by backend name. The session owns it.
using SessionState = std::map<std::string, std::shared_ptr<void>, std::less<>>;

struct CompileOptions {
  int threads = 0;  // 0 = the backend's default (one per core)
  SessionState* session_state = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual DeviceFacts device() const = 0;
  virtual bool supports(const graph::Node& node, const graph::Graph& graph) const = 0;
  virtual Result<std::unique_ptr<Executable>> compile(const graph::Graph& graph, const plan::Partition& partition,
                                                      const CompileOptions& options) = 0;
  // Runs one node on constant inputs (constant folding). Optional.
  virtual const graph::NodeEvaluator* evaluator() const { return nullptr; }
};

// The backends a target was built with, best first. Defined by the target
// (native/, web/), never by core/.
std::vector<std::shared_ptr<Backend>> default_backends();

}  // namespace tandem
