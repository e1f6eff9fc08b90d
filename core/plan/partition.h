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

// Which partition values cross its boundary, in the order backends bind them.
struct Boundary {
  std::vector<size_t> nodes;            // the nodes to run: not folded, and some output is read
  std::vector<graph::ValueId> inputs;   // read by the partition, produced elsewhere (not constants)
  std::vector<graph::ValueId> outputs;  // produced here and read elsewhere (or graph outputs)
};

// Finds the boundary of `nodes` within `g`. Nodes whose outputs are all constants in `g`
// (folded for these shapes), or that nobody reads, are left out.
Boundary find_boundary(const graph::Graph& g, const std::vector<size_t>& nodes);

Result<std::vector<Partition>> partition_graph(const graph::Graph& graph,
                                               const std::vector<std::shared_ptr<Backend>>& backends);

}  // namespace tandem::plan
