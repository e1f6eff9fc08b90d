#include "core/plan/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace tandem::plan {
namespace {

constexpr uint64_t kAlign = 64;

uint64_t align_up(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// Bytes of a tensor value whose shape is fully known; 0 when unknown or not plannable.
uint64_t known_bytes(const graph::ValueEntry& v) {
  const graph::TypeInfo& t = v.type;
  if (t.kind != graph::TypeInfo::Kind::kTensor || t.dtype == DType::kString || t.dtype == DType::kUndefined ||
      !t.shape_known()) {
    return 0;
  }
  // Counted in 64 bits whatever size_t is: on wasm32 a 3 GiB value must plan as 3 GiB (and be
  // refused by the memory limit), not as 0 bytes because size_t cannot hold it. Saturates far
  // above any real memory so that sums cannot wrap.
  constexpr uint64_t kSaturated = uint64_t{1} << 56;
  const int64_t n = shape_numel(t.concrete_shape());
  const uint64_t elem = dtype_size(t.dtype);
  if (n < 0 || (elem != 0 && static_cast<uint64_t>(n) > kSaturated / elem)) return kSaturated;
  return static_cast<uint64_t>(n) * elem;
}

// Constants held by subgraphs (If/Loop/Scan bodies: initializers and Constant
// nodes) are weights too: models like silero VAD keep all of theirs inside If
// branches. Every branch counts, as every branch is held in memory.
uint64_t subgraph_weight_bytes(const graph::Graph& graph) {
  uint64_t total = 0;
  for (const graph::Node& node : graph.nodes) {
    for (const graph::Attribute& a : node.attributes) {
      std::vector<const graph::Graph*> subs;
      if (a.g) subs.push_back(a.g.get());
      for (const auto& g : a.graphs) subs.push_back(g.get());
      for (const graph::Graph* sub : subs) {
        for (const graph::ValueEntry& v : sub->values) {
          if (v.constant.has_value() && v.constant->dtype() != DType::kString) total += v.constant->byte_size();
        }
        for (const graph::Node& inner : sub->nodes) {  // Constant nodes: not folded inside bodies
          for (const graph::Attribute& ia : inner.attributes) {
            if (ia.t.defined() && ia.t.dtype() != DType::kString) total += ia.t.byte_size();
          }
        }
        total += subgraph_weight_bytes(*sub);
      }
    }
  }
  return total;
}

}  // namespace

bool is_view_op(const graph::Node& node) {
  if (!node.domain.empty()) return false;
  const std::string& op = node.op_type;
  return op == "Reshape" || op == "Squeeze" || op == "Unsqueeze" || op == "Flatten" || op == "Identity";
}

bool is_inplace_op(const graph::Node& node) {
  if (!node.domain.empty()) return false;
  static const char* const kOps[] = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Exp", "Log", "Neg", "Abs",
                                     "Sqrt", "Erf", "Clip", "HardSigmoid", "HardSwish", "Elu", "Selu",
                                     "Softplus", "Softsign", "Mish", "Gelu", "Sin", "Cos", "Floor", "Ceil",
                                     "Round", "Reciprocal", "PRelu", "Pow", "Add", "Sub", "Mul", "Div"};
  return std::any_of(std::begin(kOps), std::end(kOps), [&](const char* o) { return node.op_type == o; });
}

MemoryPlan MemoryPlan::build(const graph::Graph& graph) {
  MemoryPlan plan;
  const size_t nv = graph.values.size();
  const auto nn = static_cast<int32_t>(graph.nodes.size());
  plan.slots_.assign(nv, {});
  plan.last_use_.assign(nv, -1);
  plan.released_after_.assign(graph.nodes.size(), {});

  std::vector<bool> is_output(nv, false);
  for (graph::ValueId o : graph.outputs) is_output[static_cast<size_t>(o)] = true;
  for (int32_t i = 0; i < nn; ++i) {
    const graph::Node& node = graph.nodes[static_cast<size_t>(i)];
    for (graph::ValueId in : node.inputs) {
      if (in != graph::kNoValue) plan.last_use_[static_cast<size_t>(in)] = i;
    }
    for (graph::ValueId in : node.implicit_inputs) plan.last_use_[static_cast<size_t>(in)] = i;
  }

  // Which values the arena holds, and their sizes.
  std::vector<uint64_t> bytes(nv, 0);
  std::vector<bool> in_arena(nv, false);
  for (size_t v = 0; v < nv; ++v) {
    const graph::ValueEntry& e = graph.values[v];
    if (e.constant.has_value()) {
      plan.weight_bytes_ += e.constant->dtype() == DType::kString ? 0 : e.constant->byte_size();
      continue;
    }
    const uint64_t b = known_bytes(e);
    if (e.is_graph_input) {
      plan.input_bytes_ += b;
      continue;
    }
    if (e.producer < 0) continue;
    if (is_output[v]) {
      plan.output_bytes_ += b;
      if (b == 0 && !e.type.shape_known()) ++plan.dynamic_values_;
      continue;
    }
    if (b == 0 && !(e.type.shape_known() && e.type.kind == graph::TypeInfo::Kind::kTensor &&
                    e.type.dtype != DType::kString && e.type.dtype != DType::kUndefined)) {
      ++plan.dynamic_values_;
      continue;
    }
    bytes[v] = b;
    in_arena[v] = true;
  }

  plan.weight_bytes_ += subgraph_weight_bytes(graph);

  // Groups share one slot: a view and its source; an in-place output and its input.
  std::vector<size_t> group(nv);
  std::iota(group.begin(), group.end(), 0);
  auto root = [&](size_t v) {
    while (group[v] != v) v = group[v] = group[group[v]];
    return v;
  };
  std::vector<int32_t> group_end(nv, -1);  // last node index that needs the group's bytes
  for (size_t v = 0; v < nv; ++v) {
    group_end[v] = is_output[v] ? nn : std::max(plan.last_use_[v], graph.values[v].producer);
  }
  for (int32_t i = 0; i < nn; ++i) {
    const graph::Node& node = graph.nodes[static_cast<size_t>(i)];
    if (!node.has_input(0) || !node.has_output(0)) continue;
    const auto in = static_cast<size_t>(node.inputs[0]);
    const auto out = static_cast<size_t>(node.outputs[0]);
    if (is_view_op(node)) {
      // The output aliases the input's bytes: the input's bytes must live as long as the output.
      // Views never allocate; a view of an arena value keeps that value's bytes alive.
      in_arena[out] = false;
      bytes[out] = 0;
      const size_t r = root(in);
      if (in_arena[r]) {
        group[out] = r;
        group_end[r] = std::max(group_end[r], group_end[out]);
      }
      continue;
    }
    // In place: the output takes input 0's bytes when every alias of them dies here.
    const size_t r = root(in);
    if (is_inplace_op(node) && in_arena[r] && in_arena[out] && known_bytes(graph.values[in]) == bytes[out] &&
        group_end[r] == i) {
      group[out] = r;
      bytes[out] = 0;
      in_arena[out] = false;
      group_end[r] = std::max(group_end[r], group_end[out]);
    }
  }

  // Greedy by size: biggest groups first, each at the lowest offset free during its lifetime.
  struct Block {
    size_t root;
    int32_t begin, end;
    uint64_t size, offset;
  };
  std::vector<Block> blocks;
  for (size_t v = 0; v < nv; ++v) {
    if (in_arena[v] && root(v) == v) {
      blocks.push_back({v, graph.values[v].producer, group_end[v], align_up(bytes[v]), 0});
    }
  }
  std::vector<size_t> order(blocks.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return blocks[a].size > blocks[b].size; });
  std::vector<size_t> placed;
  for (size_t k : order) {
    Block& b = blocks[k];
    std::vector<std::pair<uint64_t, uint64_t>> busy;  // [offset, offset+size) of overlapping blocks
    for (size_t p : placed) {
      const Block& o = blocks[p];
      if (o.begin <= b.end && b.begin <= o.end) busy.emplace_back(o.offset, o.offset + o.size);
    }
    std::sort(busy.begin(), busy.end());
    uint64_t offset = 0;
    for (const auto& [lo, hi] : busy) {
      if (offset + b.size <= lo) break;
      offset = std::max(offset, hi);
    }
    b.offset = offset;
    plan.arena_bytes_ = std::max(plan.arena_bytes_, offset + b.size);
    placed.push_back(k);
  }
  std::vector<int64_t> block_of(nv, -1);
  for (size_t k = 0; k < blocks.size(); ++k) block_of[blocks[k].root] = static_cast<int64_t>(k);
  for (size_t v = 0; v < nv; ++v) {
    const size_t r = root(v);
    if (block_of[r] < 0) continue;
    const Block& b = blocks[static_cast<size_t>(block_of[r])];
    Slot& s = plan.slots_[v];
    s.offset = b.offset;
    s.bytes = v == r ? bytes[v] : known_bytes(graph.values[v]);
    // Views never allocate; in-place outputs allocate into the root's bytes.
    s.planned = v == r || (!is_view_op(graph.nodes[static_cast<size_t>(graph.values[v].producer)]));
  }

  for (size_t v = 0; v < nv; ++v) {
    const graph::ValueEntry& e = graph.values[v];
    if (is_output[v] || e.constant.has_value() || e.is_outer_ref) continue;
    int32_t at = plan.last_use_[v];
    if (at < 0) at = e.producer;  // never read: drop right after it is made
    if (at >= 0) plan.released_after_[static_cast<size_t>(at)].push_back(static_cast<graph::ValueId>(v));
  }
  return plan;
}

}  // namespace tandem::plan
