#include "core/plan/partition.h"

#include <algorithm>
#include <set>

namespace tandem::plan {

Result<std::vector<Partition>> partition_graph(const graph::Graph& graph,
                                               const std::vector<std::shared_ptr<Backend>>& backends) {
  std::vector<Partition> partitions;
  std::set<std::string> missing;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const graph::Node& node = graph.nodes[i];
    if (graph::is_folded(graph, node)) continue;  // its outputs are constants: nothing to run
    size_t chosen = backends.size();
    for (size_t b = 0; b < backends.size(); ++b) {
      if (backends[b]->supports(node, graph)) {
        chosen = b;
        break;
      }
    }
    if (chosen == backends.size()) {
      missing.insert((node.domain.empty() ? "" : node.domain + ".") + node.op_type + " (opset " +
                     std::to_string(graph.opset(node.domain)) + ")");
      continue;
    }
    if (partitions.empty() || partitions.back().backend_index != chosen) partitions.push_back({chosen, {}});
    partitions.back().nodes.push_back(i);
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& op : missing) list += (list.empty() ? "" : ", ") + op;
    std::string names;
    for (const auto& b : backends) names += (names.empty() ? "" : ", ") + std::string(b->name());
    return unsupported("no enabled backend (" + names + ") supports these operators: " + list);
  }
  return partitions;
}

using graph::Graph;
using graph::Node;
using graph::ValueId;

Boundary find_boundary(const Graph& g, const std::vector<size_t>& nodes) {
  std::set<size_t> inside(nodes.begin(), nodes.end());
  std::set<ValueId> needed(g.outputs.begin(), g.outputs.end());  // read after the partition
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (inside.count(i)) continue;
    for (ValueId v : g.nodes[i].inputs) needed.insert(v);
    for (ValueId v : g.nodes[i].implicit_inputs) needed.insert(v);
  }
  const std::set<ValueId> read_outside = needed;
  // Live nodes, found backwards: a backend may reject a node nobody reads (XNNPACK aborts).
  Boundary b;
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    const Node& n = g.nodes[*it];
    if (graph::is_folded(g, n)) continue;
    const bool live = std::any_of(n.outputs.begin(), n.outputs.end(), [&](ValueId o) { return needed.count(o) > 0; });
    if (!live) continue;
    b.nodes.insert(b.nodes.begin(), *it);
    needed.insert(n.inputs.begin(), n.inputs.end());
  }
  std::set<ValueId> produced, seen_in;
  for (size_t i : b.nodes) {
    for (ValueId v : g.nodes[i].inputs) {
      if (v == graph::kNoValue || g.values[static_cast<size_t>(v)].constant || produced.count(v)) continue;
      if (seen_in.insert(v).second) b.inputs.push_back(v);
    }
    for (ValueId o : g.nodes[i].outputs) {
      if (o != graph::kNoValue) produced.insert(o);
    }
  }
  for (size_t i : b.nodes) {
    for (ValueId o : g.nodes[i].outputs) {
      if (o != graph::kNoValue && read_outside.count(o) &&
          std::find(b.outputs.begin(), b.outputs.end(), o) == b.outputs.end()) {
        b.outputs.push_back(o);
      }
    }
  }
  return b;
}

}  // namespace tandem::plan
