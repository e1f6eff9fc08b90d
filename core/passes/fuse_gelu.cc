// fuse_gelu: the GELU subgraphs exporters emit become com.tandem.Gelu.
//   exact (approximate = "none"):  Erf(x / sqrt(2))            (or Erf(x * 1/sqrt(2)))
//   tanh  (approximate = "tanh"):  Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))   (x^3 as Pow(x, 3) or x * (x * x))
// followed by Add 1 and the product with x and 0.5 in any of the orders
//   (x * (1 + e)) * 0.5,   (x * 0.5) * (1 + e),   x * ((1 + e) * 0.5).
// Operands of Add/Mul may come in either order; constants match within 1e-6 relative.
#include <cmath>

#include "core/passes/rewriter.h"

namespace tandem::passes {
namespace {

struct Match {
  graph::ValueId x = graph::kNoValue;
  std::vector<size_t> nodes;  // every node of the pattern; the last one produces the output
};

// `n` is a binary op `op` with one operand a float32 scalar constant near `value`:
// returns the other operand, else kNoValue.
graph::ValueId operand_with_const(const Rewriter& rw, const graph::Node& n, const char* op, double value,
                                  bool commutative = true) {
  if (!is_onnx(n, op) || n.inputs.size() != 2 || !n.has_input(0) || !n.has_input(1)) return graph::kNoValue;
  float c = 0;
  if (rw.scalar_f32(n.inputs[1], &c) && near(c, value)) return n.inputs[0];
  if (commutative && rw.scalar_f32(n.inputs[0], &c) && near(c, value)) return n.inputs[1];
  return graph::kNoValue;
}

// The node producing v when v may be fused away into its only reader `reader`.
int32_t inner(const Rewriter& rw, graph::ValueId v, size_t reader) {
  if (v == graph::kNoValue || rw.sole_reader(v) != static_cast<int32_t>(reader)) return -1;
  return rw.producer(v);
}

// For a Mul `n` reading `v` once: its other operand.
graph::ValueId other_operand(const graph::Node& n, graph::ValueId v) {
  if (!is_onnx(n, "Mul") || n.inputs.size() != 2) return graph::kNoValue;
  if (n.inputs[0] == v && n.inputs[1] != v) return n.inputs[1];
  if (n.inputs[1] == v && n.inputs[0] != v) return n.inputs[0];
  return graph::kNoValue;
}

// Erf(x / sqrt(2)): appends the Div/Mul to m->nodes and sets m->x.
bool erf_head(const Rewriter& rw, size_t erf, Match* m) {
  const graph::Node& e = rw.node(erf);
  if (!is_onnx(e, "Erf") || e.inputs.size() != 1 || e.outputs.size() != 1 || !e.has_output(0)) return false;
  const int32_t d = inner(rw, e.inputs[0], erf);
  if (d < 0) return false;
  const graph::Node& dn = rw.node(static_cast<size_t>(d));
  graph::ValueId x = operand_with_const(rw, dn, "Div", std::sqrt(2.0), false);
  if (x == graph::kNoValue) x = operand_with_const(rw, dn, "Mul", std::sqrt(0.5));
  if (x == graph::kNoValue) return false;
  m->x = x;
  m->nodes = {static_cast<size_t>(d), erf};
  return true;
}

// Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)).
bool tanh_head(const Rewriter& rw, size_t tanh, Match* m) {
  const graph::Node& t = rw.node(tanh);
  if (!is_onnx(t, "Tanh") || t.inputs.size() != 1 || t.outputs.size() != 1 || !t.has_output(0)) return false;
  const int32_t scale = inner(rw, t.inputs[0], tanh);
  if (scale < 0) return false;
  const graph::ValueId s =
      operand_with_const(rw, rw.node(static_cast<size_t>(scale)), "Mul", 0.7978845608028654 /* sqrt(2 / pi) */);
  const int32_t add = inner(rw, s, static_cast<size_t>(scale));
  if (add < 0) return false;
  const graph::Node& an = rw.node(static_cast<size_t>(add));
  if (!is_onnx(an, "Add") || an.inputs.size() != 2) return false;
  for (int side = 0; side < 2; ++side) {
    const graph::ValueId x = an.inputs[side], k = an.inputs[1 - side];
    const int32_t kn = inner(rw, k, static_cast<size_t>(add));
    if (kn < 0 || x == k) continue;
    const graph::ValueId cube = operand_with_const(rw, rw.node(static_cast<size_t>(kn)), "Mul", 0.044715);
    const int32_t cn = inner(rw, cube, static_cast<size_t>(kn));
    if (cn < 0) continue;
    const graph::Node& c = rw.node(static_cast<size_t>(cn));
    std::vector<size_t> nodes;
    bool ok = false;
    if (is_onnx(c, "Pow") && c.inputs.size() == 2 && c.inputs[0] == x) {
      const Tensor* e = rw.constant(c.inputs[1]);
      ok = e != nullptr && e->numel() == 1 && e->get_as_double(0) == 3.0;
    } else if (is_onnx(c, "Mul") && c.inputs.size() == 2 && (c.inputs[0] == x || c.inputs[1] == x)) {
      const graph::ValueId sq = c.inputs[0] == x ? c.inputs[1] : c.inputs[0];
      const int32_t sn = inner(rw, sq, static_cast<size_t>(cn));
      if (sn >= 0) {
        const graph::Node& q = rw.node(static_cast<size_t>(sn));
        ok = is_onnx(q, "Mul") && q.inputs.size() == 2 && q.inputs[0] == x && q.inputs[1] == x;
        if (ok) nodes.push_back(static_cast<size_t>(sn));
      }
    }
    if (!ok) continue;
    m->x = x;
    m->nodes = nodes;
    for (int32_t k2 : {cn, kn, add, scale}) m->nodes.push_back(static_cast<size_t>(k2));
    m->nodes.push_back(tanh);
    return true;
  }
  return false;
}

// From e = Erf/Tanh output: Add 1, then the product with x and 0.5.
bool tail(const Rewriter& rw, Match* m) {
  const size_t head = m->nodes.back();
  const graph::ValueId e = rw.node(head).outputs[0];
  const int32_t ai = rw.sole_reader(e);
  if (ai < 0) return false;
  const graph::Node& an = rw.node(static_cast<size_t>(ai));
  if (operand_with_const(rw, an, "Add", 1.0) != e) return false;
  const graph::ValueId a = an.outputs[0];
  const int32_t mi = rw.sole_reader(a);
  if (mi < 0) return false;
  const graph::Node& mn = rw.node(static_cast<size_t>(mi));
  const graph::ValueId other = other_operand(mn, a);
  if (other == graph::kNoValue) return false;
  m->nodes.push_back(static_cast<size_t>(ai));
  if (other == m->x) {  // (x * (1 + e)) * 0.5
    const int32_t hi = rw.sole_reader(mn.outputs[0]);
    if (hi < 0 || operand_with_const(rw, rw.node(static_cast<size_t>(hi)), "Mul", 0.5) != mn.outputs[0]) return false;
    m->nodes.push_back(static_cast<size_t>(mi));
    m->nodes.push_back(static_cast<size_t>(hi));
    return true;
  }
  float half = 0;
  if (rw.scalar_f32(other, &half) && near(half, 0.5)) {  // x * ((1 + e) * 0.5)
    const int32_t fi = rw.sole_reader(mn.outputs[0]);
    if (fi < 0 || other_operand(rw.node(static_cast<size_t>(fi)), mn.outputs[0]) != m->x) return false;
    m->nodes.push_back(static_cast<size_t>(mi));
    m->nodes.push_back(static_cast<size_t>(fi));
    return true;
  }
  const int32_t hi = inner(rw, other, static_cast<size_t>(mi));  // (x * 0.5) * (1 + e)
  if (hi < 0 || operand_with_const(rw, rw.node(static_cast<size_t>(hi)), "Mul", 0.5) != m->x) return false;
  m->nodes.push_back(static_cast<size_t>(hi));
  m->nodes.push_back(static_cast<size_t>(mi));
  return true;
}

// A one-element constant of rank r broadcasts x to rank r: fusing is only
// shape-preserving when no constant of the pattern has a larger rank than x.
bool scalars_keep_shape(const Rewriter& rw, const Match& m) {
  const graph::TypeInfo& xt = rw.type(m.x);
  for (size_t k : m.nodes) {
    for (graph::ValueId in : rw.node(k).inputs) {
      const Tensor* c = rw.constant(in);
      if (c != nullptr && c->rank() > 0 && (!xt.has_shape || c->rank() > xt.dims.size())) return false;
    }
  }
  return true;
}

}  // namespace

Result<int> fuse_gelu(Rewriter& rw) {
  graph::Graph& g = rw.graph();
  int count = 0;
  for (size_t i = 0; i < rw.num_nodes(); ++i) {
    if (!rw.alive(i) || is_folded(g, rw.node(i))) continue;
    Match m;
    std::string approximate;
    if (erf_head(rw, i, &m)) {
      approximate = "none";
    } else if (tanh_head(rw, i, &m)) {
      approximate = "tanh";
    } else {
      continue;
    }
    if (!is_f32(g, m.x) || !tail(rw, &m)) continue;
    bool ok = true;
    for (size_t k : m.nodes) {
      const graph::Node& n = rw.node(k);
      ok = ok && rw.alive(k) && !is_folded(g, n) && n.outputs.size() == 1 && n.has_output(0) && is_f32(g, n.outputs[0]);
    }
    if (!ok || !scalars_keep_shape(rw, m)) continue;
    const size_t last = m.nodes.back();
    graph::Node gelu;
    gelu.name = rw.node(last).name;
    gelu.op_type = "Gelu";
    gelu.domain = kTandemDomain;
    gelu.inputs = {m.x};
    gelu.outputs = {rw.node(last).outputs[0]};
    gelu.attributes.push_back(graph::Attribute::of_string("approximate", approximate));
    for (size_t k : m.nodes) {
      if (k != last) rw.remove(k);
    }
    rw.replace(last, std::move(gelu));  // the last node: x and everything else it reads come before it
    ++count;
  }
  return count;
}

}  // namespace tandem::passes
