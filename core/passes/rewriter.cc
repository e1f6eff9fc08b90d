#include "core/passes/rewriter.h"

#include <cmath>
#include <optional>
#include <utility>

namespace tandem::passes {

Rewriter::Rewriter(graph::Graph& g) : g_(g) { init(); }

void Rewriter::init() {
  const size_t nv = g_.values.size();
  alive_.assign(g_.nodes.size(), true);
  readers_.assign(nv, {});
  producer_.assign(nv, -1);
  graph_output_.assign(nv, false);
  orphan_candidates_.clear();
  changed_ = false;
  for (graph::ValueId o : g_.outputs) graph_output_[static_cast<size_t>(o)] = true;
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    add_reads(i);
    for (graph::ValueId o : g_.nodes[i].outputs) {
      if (o != graph::kNoValue) producer_[static_cast<size_t>(o)] = static_cast<int32_t>(i);
    }
  }
}

void Rewriter::add_reads(size_t i) {
  const graph::Node& n = g_.nodes[i];
  for (graph::ValueId v : n.inputs) {
    if (v != graph::kNoValue) readers_[static_cast<size_t>(v)].push_back(static_cast<int32_t>(i));
  }
  for (graph::ValueId v : n.implicit_inputs) readers_[static_cast<size_t>(v)].push_back(static_cast<int32_t>(i));
}

void Rewriter::drop_reads(size_t i) {
  const graph::Node& n = g_.nodes[i];
  auto drop = [&](graph::ValueId v) {
    if (v == graph::kNoValue) return;
    auto& r = readers_[static_cast<size_t>(v)];
    std::erase(r, static_cast<int32_t>(i));
    orphan_candidates_.push_back(v);
  };
  for (graph::ValueId v : n.inputs) drop(v);
  for (graph::ValueId v : n.implicit_inputs) drop(v);
}

int32_t Rewriter::producer(graph::ValueId v) const {
  if (v == graph::kNoValue) return -1;
  const int32_t p = producer_[static_cast<size_t>(v)];
  return p >= 0 && alive_[static_cast<size_t>(p)] ? p : -1;
}

int32_t Rewriter::sole_reader(graph::ValueId v) const {
  if (v == graph::kNoValue || is_graph_output(v)) return -1;
  const auto& r = readers(v);
  return r.size() == 1 ? r[0] : -1;
}

const Tensor* Rewriter::constant(graph::ValueId v) const {
  if (v == graph::kNoValue) return nullptr;
  const auto& c = g_.values[static_cast<size_t>(v)].constant;
  return c.has_value() ? &*c : nullptr;
}

bool Rewriter::scalar_f32(graph::ValueId v, float* out) const {
  const Tensor* t = constant(v);
  if (t == nullptr || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
  *out = t->data<float>()[0];
  return true;
}

const Tensor* Rewriter::const_f32_input(const graph::Node& n, size_t i) const {
  if (!n.has_input(i)) return nullptr;
  const Tensor* t = constant(n.inputs[i]);
  return t != nullptr && t->dtype() == DType::kFloat32 ? t : nullptr;
}

graph::ValueId Rewriter::add_constant(const std::string& base, Tensor t) {
  std::string name = base;
  for (int k = 1; g_.find(name) != graph::kNoValue; ++k) name = base + "_" + std::to_string(k);
  const graph::ValueId id = g_.add_value(name);
  graph::ValueEntry& v = g_.values[static_cast<size_t>(id)];
  v.type = graph::TypeInfo::tensor(t.dtype(), t.shape());
  v.constant = std::move(t);
  readers_.emplace_back();
  producer_.push_back(-1);
  graph_output_.push_back(false);
  return id;
}

void Rewriter::replace(size_t i, graph::Node n) {
  drop_reads(i);
  for (graph::ValueId o : g_.nodes[i].outputs) {
    if (o != graph::kNoValue && producer_[static_cast<size_t>(o)] == static_cast<int32_t>(i)) {
      producer_[static_cast<size_t>(o)] = -1;
    }
  }
  g_.nodes[i] = std::move(n);
  add_reads(i);
  for (graph::ValueId o : g_.nodes[i].outputs) {
    if (o != graph::kNoValue) producer_[static_cast<size_t>(o)] = static_cast<int32_t>(i);
  }
  changed_ = true;
}

void Rewriter::remove(size_t i) {
  if (!alive_[i]) return;
  drop_reads(i);
  alive_[i] = false;
  for (graph::ValueId o : g_.nodes[i].outputs) {
    if (o != graph::kNoValue && producer_[static_cast<size_t>(o)] == static_cast<int32_t>(i)) {
      producer_[static_cast<size_t>(o)] = -1;
    }
  }
  changed_ = true;
}

Status Rewriter::commit() {
  if (!changed_) return Status::ok();
  // Constants only the rewritten nodes read (the old weights, folded Constant
  // nodes' outputs) go, so they stop counting as weights.
  while (!orphan_candidates_.empty()) {
    const graph::ValueId v = orphan_candidates_.back();
    orphan_candidates_.pop_back();
    graph::ValueEntry& e = g_.values[static_cast<size_t>(v)];
    if (!e.constant.has_value() || e.is_graph_input || e.is_outer_ref || is_graph_output(v) || !readers(v).empty()) {
      continue;
    }
    const int32_t p = producer(v);
    if (p < 0) {
      e.constant.reset();  // an initializer (or a removed node's folded output) nobody reads
      continue;
    }
    const graph::Node& pn = g_.nodes[static_cast<size_t>(p)];
    bool unread = is_folded(g_, pn);
    for (graph::ValueId o : pn.outputs) {
      if (o != graph::kNoValue && (is_graph_output(o) || !readers(o).empty())) unread = false;
    }
    if (!unread) continue;
    for (graph::ValueId o : pn.outputs) {
      if (o != graph::kNoValue) g_.values[static_cast<size_t>(o)].constant.reset();
    }
    remove(static_cast<size_t>(p));  // queues its inputs in turn
  }
  std::vector<graph::Node> kept;
  kept.reserve(g_.nodes.size());
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    if (alive_[i]) kept.push_back(std::move(g_.nodes[i]));
  }
  g_.nodes = std::move(kept);
  // finalize() treats a constant node output as defined twice: set folded
  // outputs aside while it sorts and links producers.
  std::vector<std::pair<graph::ValueId, Tensor>> folded;
  for (const graph::Node& n : g_.nodes) {
    for (graph::ValueId o : n.outputs) {
      if (o == graph::kNoValue) continue;
      auto& c = g_.values[static_cast<size_t>(o)].constant;
      if (c.has_value()) {
        folded.emplace_back(o, std::move(*c));
        c.reset();
      }
    }
  }
  Status st = g_.finalize();
  for (auto& [id, t] : folded) g_.values[static_cast<size_t>(id)].constant = std::move(t);
  if (!st.is_ok()) return internal_error("graph rewrite left an inconsistent graph: " + st.message());
  init();
  return Status::ok();
}

bool near(double value, double expected, double rel) {
  return std::fabs(value - expected) <= rel * std::fabs(expected);
}

bool is_f32(const graph::Graph& g, graph::ValueId v) {
  if (v == graph::kNoValue) return false;
  const graph::TypeInfo& t = g.values[static_cast<size_t>(v)].type;
  return t.kind == graph::TypeInfo::Kind::kTensor && t.dtype == DType::kFloat32;
}

}  // namespace tandem::passes
