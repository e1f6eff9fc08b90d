// Liveness-based arena plan for one set of concrete input shapes.
//
// Every intermediate value whose size is known gets an offset in one arena;
// values whose lifetimes do not overlap share bytes. View ops (Reshape,
// Squeeze, ...) share their input's slot, and elementwise ops may write over
// an input that dies at that node. Graph outputs are not in the arena: they
// belong to the caller after run().
#pragma once

#include <cstdint>
#include <vector>

#include "core/graph/graph.h"

namespace tandem::plan {

struct Slot {
  uint64_t offset = 0;
  uint64_t bytes = 0;
  bool planned = false;
};

class MemoryPlan {
 public:
  static MemoryPlan build(const graph::Graph& graph);

  const Slot& slot(graph::ValueId id) const { return slots_[static_cast<size_t>(id)]; }
  // Index of the last node that reads value id; -1 if none (outputs: never released).
  int32_t last_use(graph::ValueId id) const { return last_use_[static_cast<size_t>(id)]; }
  const std::vector<std::vector<graph::ValueId>>& released_after() const { return released_after_; }

  uint64_t arena_bytes() const { return arena_bytes_; }      // what the runtime allocates
  uint64_t weight_bytes() const { return weight_bytes_; }    // initializers + folded constants
  uint64_t output_bytes() const { return output_bytes_; }    // graph outputs (caller-owned)
  uint64_t input_bytes() const { return input_bytes_; }
  // Values whose size is not known before running (data-dependent shapes).
  size_t dynamic_values() const { return dynamic_values_; }

 private:
  std::vector<Slot> slots_;
  std::vector<int32_t> last_use_;
  std::vector<std::vector<graph::ValueId>> released_after_;
  uint64_t arena_bytes_ = 0;
  uint64_t weight_bytes_ = 0;
  uint64_t output_bytes_ = 0;
  uint64_t input_bytes_ = 0;
  size_t dynamic_values_ = 0;
};

// Ops whose output is a view of input 0 (same bytes, other shape).
bool is_view_op(const graph::Node& node);
// Ops that may write their output over input 0 when it dies there.
bool is_inplace_op(const graph::Node& node);

}  // namespace tandem::plan
