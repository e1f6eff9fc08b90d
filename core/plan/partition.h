// Capability-based partitioning: each node goes to the first backend (in
// priority order) that supports it; consecutive nodes of one backend form a
// partition. Nodes nobody supports are reported together in one error. Nodes
// whose outputs were all folded to constants are left out: nothing runs them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/runtime/backend.h"

namespace tandem::plan {

struct Partition {
  size_t backend_index = 0;
  std::vector<size_t> nodes;  // indices into graph.nodes, in execution order
};

Result<std::vector<Partition>> partition_graph(const graph::Graph& graph,
                                               const std::vector<std::shared_ptr<Backend>>& backends);

}  // namespace tandem::plan
