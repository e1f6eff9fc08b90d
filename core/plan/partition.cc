#include "core/plan/partition.h"

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

}  // namespace tandem::plan
