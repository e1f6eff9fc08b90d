// Graph surgery shared by the passes: who reads a value, whether an
// intermediate may be fused away, adding folded constants, replacing and
// removing nodes. Indices stay stable until commit(), which compacts the
// node list, drops constants nothing reads any more and re-finalizes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/passes/passes.h"

namespace tandem::passes {

class Rewriter {
 public:
  explicit Rewriter(graph::Graph& g);

  graph::Graph& graph() { return g_; }
  size_t num_nodes() const { return g_.nodes.size(); }
  bool alive(size_t i) const { return alive_[i]; }
  const graph::Node& node(size_t i) const { return g_.nodes[i]; }
  int64_t opset() const { return g_.opset(""); }

  // The live node that produces v, or -1 (inputs, initializers, outer references).
  int32_t producer(graph::ValueId v) const;
  // Reads of v by live nodes (one entry per input slot or subgraph reference).
  const std::vector<int32_t>& readers(graph::ValueId v) const { return readers_[static_cast<size_t>(v)]; }
  bool is_graph_output(graph::ValueId v) const { return graph_output_[static_cast<size_t>(v)]; }
  // The one live node that reads v, exactly once, when v is not a graph output; else -1.
  // This is the test for "v may disappear into a fused node".
  int32_t sole_reader(graph::ValueId v) const;

  const graph::TypeInfo& type(graph::ValueId v) const { return g_.values[static_cast<size_t>(v)].type; }
  const Tensor* constant(graph::ValueId v) const;
  // Constant float32 tensor of exactly one element, as float.
  bool scalar_f32(graph::ValueId v, float* out) const;
  // Input i of node n when it is a constant float32 tensor, else nullptr.
  const Tensor* const_f32_input(const graph::Node& n, size_t i) const;

  // A new constant value (initializer-like) with a name derived from `base`.
  graph::ValueId add_constant(const std::string& base, Tensor t);
  // Installs `n` at index i (replacing the node there; reads and producers follow).
  void replace(size_t i, graph::Node n);
  void remove(size_t i);

  // Compacts, drops unread constants the rewrites orphaned, sorts and re-finalizes.
  Status commit();

 private:
  void init();
  void add_reads(size_t i);
  void drop_reads(size_t i);

  graph::Graph& g_;
  std::vector<bool> alive_;
  std::vector<std::vector<int32_t>> readers_;
  std::vector<int32_t> producer_;
  std::vector<bool> graph_output_;
  std::vector<graph::ValueId> orphan_candidates_;  // values a removed or replaced node read
  bool changed_ = false;
};

// Relative closeness of a matched constant to the value a pattern needs.
bool near(double value, double expected, double rel = 1e-6);

// Node predicates.
inline bool is_onnx(const graph::Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }
inline bool is_tandem(const graph::Node& n, const char* op) { return n.domain == kTandemDomain && n.op_type == op; }
using graph::is_folded;
// Value v is a float32 tensor (per its inferred type).
bool is_f32(const graph::Graph& g, graph::ValueId v);

// The passes; each returns how many times it fired.
Result<int> fold_batch_norm(Rewriter& rw);
Result<int> fuse_matmul_add(Rewriter& rw);
Result<int> fuse_activations(Rewriter& rw);
Result<int> fuse_gelu(Rewriter& rw);
Result<int> fuse_layer_norm(Rewriter& rw);

}  // namespace tandem::passes
