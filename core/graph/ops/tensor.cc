// Shape inference: tensor family. Rules use constant inputs (shapes, axes,
// pads, starts/ends...) where exporters fold them, keep symbolic dims where
// they pass through unchanged, and leave dims unknown rather than guess.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/graph/ops/rules.h"

namespace tandem::graph {
namespace {

using Dims = std::vector<Dim>;

Dim unknown() { return Dim{}; }

Dim mul(const Dim& a, const Dim& b) {
  if ((a.known() && a.value == 0) || (b.known() && b.value == 0)) return Dim::of(0);
  if (a.known() && a.value == 1) return b;
  if (b.known() && b.value == 1) return a;
  if (a.known() && b.known() && (a.value == 0 || b.value <= std::numeric_limits<int64_t>::max() / a.value)) {
    return Dim::of(a.value * b.value);
  }
  return unknown();
}

Dim product(const Dims& d, size_t from, size_t to) {
  Dim p = Dim::of(1);
  for (size_t i = from; i < to; ++i) p = mul(p, d[i]);
  return p;
}

bool same_dim(const Dim& a, const Dim& b) {
  if (a.known() || b.known()) return a.known() && b.known() && a.value == b.value;
  return !a.symbol.empty() && a.symbol == b.symbol;
}

bool rank_known(const TypeInfo& t) { return t.kind == TypeInfo::Kind::kTensor && t.has_shape; }

// Integer values of a constant input, or false when it is not constant.
bool const_ints(const InferContext& ctx, size_t i, std::vector<int64_t>* out) {
  const Tensor* t = ctx.input_constant(i);
  if (t == nullptr || !dtype_is_integer(t->dtype()) || t->rank() > 1) return false;
  *out = t->to_int64_vector();
  return true;
}

// Length of a 1-D input whose shape is known (e.g. a non-constant shape tensor).
bool input_length(const InferContext& ctx, size_t i, int64_t* n) {
  const TypeInfo& t = ctx.input_type(i);
  if (!rank_known(t) || t.dims.size() != 1 || !t.dims[0].known()) return false;
  *n = t.dims[0].value;
  return true;
}

bool norm_axis(int64_t axis, int64_t rank, int64_t* out) {
  if (axis < -rank || axis >= rank) return false;
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

Status bad_axis(int64_t axis, size_t rank) {
  return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
}

Status infer_constant(InferContext& ctx) {
  for (const Attribute& a : ctx.node().attributes) {
    const auto n = static_cast<int64_t>(a.name == "value_floats" ? a.floats.size()
                                        : a.name == "value_ints"  ? a.ints.size()
                                                                  : a.strings.size());
    if (a.name == "value" || a.name == "sparse_value") {
      if (a.t.defined()) ctx.set_output(0, a.t.dtype(), a.t.shape());
      return Status::ok();
    }
    if (a.name == "value_float") ctx.set_output(0, DType::kFloat32, Shape{});
    else if (a.name == "value_floats") ctx.set_output(0, DType::kFloat32, Shape{n});
    else if (a.name == "value_int") ctx.set_output(0, DType::kInt64, Shape{});
    else if (a.name == "value_ints") ctx.set_output(0, DType::kInt64, Shape{n});
    else if (a.name == "value_string") ctx.set_output(0, DType::kString, Shape{});
    else if (a.name == "value_strings") ctx.set_output(0, DType::kString, Shape{n});
    else continue;
    return Status::ok();
  }
  return Status::ok();
}

Status infer_identity(InferContext& ctx) {
  ctx.propagate(0, 0);
  return Status::ok();
}

Status infer_reshape(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  std::vector<int64_t> spec;
  bool have = const_ints(ctx, 1, &spec);
  if (!have && !ctx.has_input(1) && ctx.node().attr("shape") != nullptr) {
    spec = ctx.node().attr_ints("shape");
    have = true;
  }
  if (!have) {
    int64_t n = 0;
    if (input_length(ctx, 1, &n)) {
      ctx.set_output(0, in.dtype, Dims(static_cast<size_t>(n)));
    } else {
      ctx.set_output_rank_unknown(0, in.dtype);
    }
    return Status::ok();
  }
  const bool allowzero = ctx.node().attr_int("allowzero", 0) != 0;
  Dims out(spec.size());
  int64_t infer_at = -1;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1 && infer_at < 0) {
      infer_at = static_cast<int64_t>(i);
    } else if (spec[i] == 0 && !allowzero) {
      if (rank_known(in) && i < in.dims.size()) out[i] = in.dims[i];
    } else if (spec[i] >= 0) {
      out[i] = Dim::of(spec[i]);
    } else {
      return invalid_argument("Reshape shape has invalid value " + std::to_string(spec[i]));
    }
  }
  if (infer_at >= 0 && rank_known(in)) {
    // -1 = numel(input) / product(other dims); cancel dims common to both sides
    // so symbolic batch dims copied with 0 still resolve.
    Dims num = in.dims;
    Dims den;
    for (size_t i = 0; i < out.size(); ++i) {
      if (static_cast<int64_t>(i) != infer_at) den.push_back(out[i]);
    }
    for (auto it = den.begin(); it != den.end();) {
      auto m = std::find_if(num.begin(), num.end(), [&](const Dim& d) { return same_dim(d, *it); });
      if (m != num.end()) {
        num.erase(m);
        it = den.erase(it);
      } else {
        ++it;
      }
    }
    const Dim n = product(num, 0, num.size());
    const Dim d = product(den, 0, den.size());
    if (den.empty()) {
      out[static_cast<size_t>(infer_at)] = n;
    } else if (n.known() && d.known() && d.value != 0 && n.value % d.value == 0) {
      out[static_cast<size_t>(infer_at)] = Dim::of(n.value / d.value);
    }
  }
  ctx.set_output(0, in.dtype, out);
  return Status::ok();
}

Status infer_flatten(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (!rank_known(in)) {
    ctx.set_output(0, in.dtype, Dims(2));
    return Status::ok();
  }
  const auto rank = static_cast<int64_t>(in.dims.size());
  int64_t axis = ctx.node().attr_int("axis", 1);
  if (axis < -rank || axis > rank) return bad_axis(axis, in.dims.size());
  if (axis < 0) axis += rank;
  const auto a = static_cast<size_t>(axis);
  ctx.set_output(0, in.dtype, Dims{product(in.dims, 0, a), product(in.dims, a, in.dims.size())});
  return Status::ok();
}

// Axes from the attribute (older opsets) or a constant input 1; false when unknown.
bool axes_of(const InferContext& ctx, std::vector<int64_t>* axes, bool* given) {
  *given = ctx.has_input(1) || ctx.node().attr("axes") != nullptr;
  if (ctx.has_input(1)) return const_ints(ctx, 1, axes);
  *axes = ctx.node().attr_ints("axes");
  return true;
}

Status infer_squeeze(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  std::vector<int64_t> axes;
  bool given = false;
  if (!rank_known(in) || !axes_of(ctx, &axes, &given)) {
    ctx.set_output_rank_unknown(0, in.dtype);
    return Status::ok();
  }
  const auto rank = static_cast<int64_t>(in.dims.size());
  std::vector<bool> drop(in.dims.size(), false);
  if (!given) {
    for (size_t d = 0; d < in.dims.size(); ++d) {
      if (!in.dims[d].known()) {  // might be 1 at run time
        ctx.set_output_rank_unknown(0, in.dtype);
        return Status::ok();
      }
      drop[d] = in.dims[d].value == 1;
    }
  }
  for (int64_t a : axes) {
    int64_t n = 0;
    if (!norm_axis(a, rank, &n)) return bad_axis(a, in.dims.size());
    const Dim& d = in.dims[static_cast<size_t>(n)];
    if (d.known() && d.value != 1) {
      return invalid_argument("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(d.value));
    }
    drop[static_cast<size_t>(n)] = true;
  }
  Dims out;
  for (size_t d = 0; d < in.dims.size(); ++d) {
    if (!drop[d]) out.push_back(in.dims[d]);
  }
  ctx.set_output(0, in.dtype, out);
  return Status::ok();
}

Status infer_unsqueeze(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  std::vector<int64_t> axes;
  bool given = false;
  if (!rank_known(in) || !axes_of(ctx, &axes, &given)) {
    ctx.set_output_rank_unknown(0, in.dtype);
    return Status::ok();
  }
  const auto out_rank = static_cast<int64_t>(in.dims.size() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : axes) {
    int64_t n = 0;
    if (!norm_axis(a, out_rank, &n)) return bad_axis(a, static_cast<size_t>(out_rank));
    if (inserted[static_cast<size_t>(n)]) return invalid_argument("Unsqueeze axes repeat " + std::to_string(a));
    inserted[static_cast<size_t>(n)] = true;
  }
  Dims out;
  size_t k = 0;
  for (bool ins : inserted) out.push_back(ins ? Dim::of(1) : in.dims[k++]);
  ctx.set_output(0, in.dtype, out);
  return Status::ok();
}

}  // namespace

std::pair<int64_t, int64_t> shape_op_range(const Node& node, int64_t rank) {
  int64_t start = node.attr_int("start", 0);
  int64_t end = node.attr_int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  return {start, std::max(start, end)};
}

namespace {

Status infer_shape(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (!rank_known(in)) {
    ctx.set_output(0, DType::kInt64, Dims(1));
    return Status::ok();
  }
  const auto [start, end] = shape_op_range(ctx.node(), static_cast<int64_t>(in.dims.size()));
  ctx.set_output(0, DType::kInt64, Shape{end - start});
  // A fully known shape is a constant: this is what folds PyTorch's
  // Shape -> Gather -> Concat -> Reshape chains.
  bool known = true;
  for (int64_t d = start; d < end; ++d) known = known && in.dims[static_cast<size_t>(d)].known();
  if (known) {
    std::vector<int64_t> dims;
    for (int64_t d = start; d < end; ++d) dims.push_back(in.dims[static_cast<size_t>(d)].value);
    ctx.set_output_constant(0, Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims));
  }
  return Status::ok();
}

Status infer_size(InferContext& ctx) {
  ctx.set_output(0, DType::kInt64, Shape{});
  Shape in;
  if (ctx.input_shape(0, &in)) ctx.set_output_constant(0, Tensor::scalar_int64(shape_numel(in)));
  return Status::ok();
}

Status infer_constant_of_shape(InferContext& ctx) {
  DType dt = DType::kFloat32;
  if (const Attribute* a = ctx.node().attr("value"); a != nullptr && a->t.defined()) dt = a->t.dtype();
  std::vector<int64_t> shape;
  int64_t n = 0;
  if (const_ints(ctx, 0, &shape)) {
    for (int64_t d : shape) {
      if (d < 0) return invalid_argument("ConstantOfShape got negative dimension " + std::to_string(d));
    }
    ctx.set_output(0, dt, shape);
  } else if (input_length(ctx, 0, &n)) {
    ctx.set_output(0, dt, Dims(static_cast<size_t>(n)));
  } else {
    ctx.set_output_rank_unknown(0, dt);
  }
  return Status::ok();
}

Status infer_range(InferContext& ctx) {
  const DType dt = ctx.input_type(0).dtype;
  const Tensor* s = ctx.input_constant(0);
  const Tensor* l = ctx.input_constant(1);
  const Tensor* d = ctx.input_constant(2);
  Dim n;
  if (s && l && d && s->numel() == 1 && l->numel() == 1 && d->numel() == 1 && d->get_as_double(0) != 0 &&
      s->dtype() != DType::kString) {
    // Same arithmetic as the kernel (integer inputs are exact in double for sane ranges).
    const double count = std::ceil((l->get_as_double(0) - s->get_as_double(0)) / d->get_as_double(0));
    if (count >= 0 && count < 1e15) n = Dim::of(static_cast<int64_t>(count));
    if (count < 0) n = Dim::of(0);
  }
  ctx.set_output(0, dt, Dims{n});
  return Status::ok();
}

Status infer_eye_like(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  DType dt = in.dtype;
  if (const Attribute* a = ctx.node().attr("dtype"); a != nullptr && dtype_is_valid(static_cast<int32_t>(a->i))) {
    dt = static_cast<DType>(a->i);
  }
  if (rank_known(in)) {
    ctx.set_output(0, dt, in.dims);
  } else {
    ctx.set_output(0, dt, Dims(2));
  }
  return Status::ok();
}

Status infer_transpose(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (!rank_known(in)) {
    ctx.set_output_rank_unknown(0, in.dtype);
    return Status::ok();
  }
  const size_t rank = in.dims.size();
  std::vector<int64_t> perm = ctx.node().attr_ints("perm");
  if (ctx.node().attr("perm") == nullptr) {
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
  }
  if (perm.size() != rank) return invalid_argument("perm does not match the input rank");
  Dims out;
  for (int64_t p : perm) {
    int64_t n = 0;
    if (!norm_axis(p, static_cast<int64_t>(rank), &n)) return bad_axis(p, rank);
    out.push_back(in.dims[static_cast<size_t>(n)]);
  }
  ctx.set_output(0, in.dtype, out);
  return Status::ok();
}

Status infer_concat(InferContext& ctx) {
  DType dt = DType::kUndefined;
  const TypeInfo* ranked = nullptr;
  bool all_ranked = true;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const TypeInfo& t = ctx.input_type(i);
    if (dt == DType::kUndefined) dt = t.dtype;
    if (rank_known(t)) {
      if (ranked != nullptr && ranked->dims.size() != t.dims.size()) {
        return invalid_argument("Concat inputs have different ranks");
      }
      ranked = &t;
    } else {
      all_ranked = false;
    }
  }
  if (ranked == nullptr) {
    ctx.set_output_rank_unknown(0, dt);
    return Status::ok();
  }
  const size_t rank = ranked->dims.size();
  int64_t axis = 0;
  if (!norm_axis(ctx.node().attr_int("axis", 0), static_cast<int64_t>(rank), &axis)) {
    return bad_axis(ctx.node().attr_int("axis", 0), rank);
  }
  Dims out(rank);
  int64_t sum = 0;
  bool sum_known = all_ranked;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const TypeInfo& t = ctx.input_type(i);
    if (!rank_known(t)) continue;
    for (size_t d = 0; d < rank; ++d) {
      if (static_cast<int64_t>(d) == axis) continue;
      if (t.dims[d].known()) {
        if (out[d].known() && out[d].value != t.dims[d].value) {
          return invalid_argument("Concat inputs differ in dimension " + std::to_string(d));
        }
        out[d] = t.dims[d];
      } else if (!out[d].known() && out[d].symbol.empty()) {
        out[d] = t.dims[d];
      }
    }
    const Dim& a = t.dims[static_cast<size_t>(axis)];
    if (a.known()) sum += a.value;
    else sum_known = false;
  }
  out[static_cast<size_t>(axis)] = sum_known ? Dim::of(sum) : unknown();
  if (ctx.num_inputs() == 1) out[static_cast<size_t>(axis)] = ranked->dims[static_cast<size_t>(axis)];
  ctx.set_output(0, dt, out);
  return Status::ok();
}

Status infer_split(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const size_t n_out = ctx.num_outputs();
  if (!rank_known(in)) {
    for (size_t i = 0; i < n_out; ++i) ctx.set_output_rank_unknown(i, in.dtype);
    return Status::ok();
  }
  int64_t axis = 0;
  const int64_t a = ctx.node().attr_int("axis", 0);
  if (!norm_axis(a, static_cast<int64_t>(in.dims.size()), &axis)) return bad_axis(a, in.dims.size());
  const Dim& dim = in.dims[static_cast<size_t>(axis)];
  std::vector<int64_t> sizes;
  bool known = false;
  if (ctx.has_input(1)) {
    known = const_ints(ctx, 1, &sizes);
  } else if (ctx.node().attr("split") != nullptr) {
    sizes = ctx.node().attr_ints("split");
    known = true;
  } else if (dim.known() && n_out > 0) {
    const auto parts = static_cast<int64_t>(n_out);
    const int64_t chunk = (dim.value + parts - 1) / parts;
    int64_t left = dim.value;
    for (int64_t i = 0; i < parts; ++i) {
      sizes.push_back(std::min(chunk, left));
      left -= sizes.back();
    }
    known = ctx.node().attr("num_outputs") != nullptr || dim.value % parts == 0;
  }
  if (known && sizes.size() != n_out) return invalid_argument("split sizes do not match the number of outputs");
  for (size_t i = 0; i < n_out; ++i) {
    Dims out = in.dims;
    out[static_cast<size_t>(axis)] = known && sizes[i] >= 0 ? Dim::of(sizes[i]) : unknown();
    ctx.set_output(i, in.dtype, out);
  }
  return Status::ok();
}

Status infer_slice(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (!rank_known(in)) {
    ctx.set_output_rank_unknown(0, in.dtype);
    return Status::ok();
  }
  const auto rank = static_cast<int64_t>(in.dims.size());
  std::vector<int64_t> starts, ends, axes, steps;
  bool ok = true;
  bool axes_given = false;
  if (ctx.opset() < 10) {
    starts = ctx.node().attr_ints("starts");
    ends = ctx.node().attr_ints("ends");
    axes = ctx.node().attr_ints("axes");
    axes_given = ctx.node().attr("axes") != nullptr;
  } else {
    ok = const_ints(ctx, 1, &starts) && const_ints(ctx, 2, &ends);
    axes_given = ctx.has_input(3);
    if (axes_given) ok = ok && const_ints(ctx, 3, &axes);
    if (ctx.has_input(4)) ok = ok && const_ints(ctx, 4, &steps);
  }
  Dims out = in.dims;
  if (!ok) {
    // Which axes change may still be known.
    if (axes_given && const_ints(ctx, 3, &axes)) {
      for (int64_t a : axes) {
        int64_t n = 0;
        if (!norm_axis(a, rank, &n)) return bad_axis(a, in.dims.size());
        out[static_cast<size_t>(n)] = unknown();
      }
    } else {
      out.assign(in.dims.size(), unknown());
    }
    ctx.set_output(0, in.dtype, out);
    return Status::ok();
  }
  if (!axes_given) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
    return invalid_argument("Slice starts, ends, axes and steps differ in length");
  }
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t axis = 0;
    if (!norm_axis(axes[i], rank, &axis)) return bad_axis(axes[i], in.dims.size());
    const Dim& dim = in.dims[static_cast<size_t>(axis)];
    const int64_t step = std::max(steps[i], -std::numeric_limits<int64_t>::max());
    if (step == 0) return invalid_argument("Slice step must not be 0");
    if (!dim.known()) {
      // The whole axis, forwards or reversed: the dim passes through unchanged.
      const bool whole = (step == 1 && starts[i] == 0 && ends[i] >= std::numeric_limits<int32_t>::max()) ||
                         (step == -1 && starts[i] == -1 && ends[i] <= -std::numeric_limits<int32_t>::max());
      out[static_cast<size_t>(axis)] = whole ? dim : unknown();
      continue;
    }
    const int64_t d = dim.value;
    const int64_t s_adj = starts[i] < 0 ? starts[i] + d : starts[i];
    const int64_t e_adj = ends[i] < 0 ? ends[i] + d : ends[i];
    int64_t count = 0;
    if (step > 0) {
      const int64_t s = std::clamp<int64_t>(s_adj, 0, d);
      const int64_t e = std::clamp<int64_t>(e_adj, 0, d);
      count = e > s ? (e - s - 1) / step + 1 : 0;
    } else if (d > 0) {
      const int64_t s = std::clamp<int64_t>(s_adj, 0, d - 1);
      const int64_t e = std::clamp<int64_t>(e_adj, -1, d - 1);
      count = s > e ? (s - e - 1) / (-step) + 1 : 0;
    }
    out[static_cast<size_t>(axis)] = Dim::of(count);
  }
  ctx.set_output(0, in.dtype, out);
  return Status::ok();
}

Status infer_gather(InferContext& ctx) {
  const TypeInfo& data = ctx.input_type(0);
  const TypeInfo& ind = ctx.input_type(1);
  if (!rank_known(data) || !rank_known(ind)) {
    ctx.set_output_rank_unknown(0, data.dtype);
    return Status::ok();
  }
  int64_t axis = 0;
  const int64_t a = ctx.node().attr_int("axis", 0);
  if (!norm_axis(a, static_cast<int64_t>(data.dims.size()), &axis)) return bad_axis(a, data.dims.size());
  Dims out(data.dims.begin(), data.dims.begin() + axis);
  out.insert(out.end(), ind.dims.begin(), ind.dims.end());
  out.insert(out.end(), data.dims.begin() + axis + 1, data.dims.end());
  ctx.set_output(0, data.dtype, out);
  return Status::ok();
}

Status infer_gather_elements(InferContext& ctx) {
  const TypeInfo& ind = ctx.input_type(1);
  if (rank_known(ind)) {
    ctx.set_output(0, ctx.input_type(0).dtype, ind.dims);
  } else {
    ctx.set_output_rank_unknown(0, ctx.input_type(0).dtype);
  }
  return Status::ok();
}

Status infer_gather_nd(InferContext& ctx) {
  const TypeInfo& data = ctx.input_type(0);
  const TypeInfo& ind = ctx.input_type(1);
  const int64_t b = ctx.node().attr_int("batch_dims", 0);
  if (!rank_known(data) || !rank_known(ind) || ind.dims.empty() || !ind.dims.back().known()) {
    ctx.set_output_rank_unknown(0, data.dtype);
    return Status::ok();
  }
  const int64_t k = ind.dims.back().value;
  if (b < 0 || k < 0 || b + k > static_cast<int64_t>(data.dims.size())) {
    return invalid_argument("GatherND indices last dimension " + std::to_string(k) + " is too large");
  }
  Dims out(ind.dims.begin(), ind.dims.end() - 1);
  out.insert(out.end(), data.dims.begin() + b + k, data.dims.end());
  ctx.set_output(0, data.dtype, out);
  return Status::ok();
}

Status infer_expand(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  std::vector<int64_t> target;
  Dims tdims;
  int64_t n = 0;
  if (const_ints(ctx, 1, &target)) {
    for (int64_t d : target) tdims.push_back(d >= 0 ? Dim::of(d) : unknown());
  } else if (input_length(ctx, 1, &n)) {
    tdims.assign(static_cast<size_t>(n), unknown());
  } else {
    ctx.set_output_rank_unknown(0, in.dtype);
    return Status::ok();
  }
  if (!rank_known(in)) {
    ctx.set_output_rank_unknown(0, in.dtype);
    return Status::ok();
  }
  // An unknown target dim may be 1 (keep the input's) or the input's size: both
  // give the input's dim when it is known and not 1; otherwise unknown.
  TANDEM_ASSIGN_OR_RETURN(Dims out, broadcast_dims(in.dims, tdims));
  ctx.set_output(0, in.dtype, out);
  return Status::ok();
}

Status infer_tile(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  std::vector<int64_t> reps;
  if (!rank_known(in)) {
    ctx.set_output_rank_unknown(0, in.dtype);
    return Status::ok();
  }
  Dims out(in.dims.size());
  if (const_ints(ctx, 1, &reps)) {
    if (reps.size() != in.dims.size()) return invalid_argument("Tile repeats do not match the input rank");
    for (size_t d = 0; d < out.size(); ++d) {
      if (reps[d] < 0) return invalid_argument("Tile repeats must not be negative");
      out[d] = mul(in.dims[d], Dim::of(reps[d]));
    }
  }
  ctx.set_output(0, in.dtype, out);
  return Status::ok();
}

Status infer_pad(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  if (!rank_known(in)) {
    ctx.set_output_rank_unknown(0, in.dtype);
    return Status::ok();
  }
  const auto rank = static_cast<int64_t>(in.dims.size());
  std::vector<int64_t> pads, axes;
  bool ok = true;
  if (ctx.opset() < 11) {
    pads = ctx.node().attr("pads") ? ctx.node().attr_ints("pads") : ctx.node().attr_ints("paddings");
  } else {
    ok = const_ints(ctx, 1, &pads);
  }
  if (ctx.has_input(3)) {
    ok = ok && const_ints(ctx, 3, &axes);
  } else {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  Dims out(in.dims.size());
  if (ok) {
    if (pads.size() != 2 * axes.size()) return invalid_argument("Pad pads do not match the axes");
    out = in.dims;
    for (size_t i = 0; i < axes.size(); ++i) {
      int64_t a = 0;
      if (!norm_axis(axes[i], rank, &a)) return bad_axis(axes[i], in.dims.size());
      const int64_t extra = pads[i] + pads[i + axes.size()];
      Dim& d = out[static_cast<size_t>(a)];
      if (extra == 0) continue;
      if (!d.known()) {
        d = unknown();
      } else if (d.value + extra < 0) {
        return invalid_argument("Pad removes more than dimension " + std::to_string(a) + " holds");
      } else {
        d = Dim::of(d.value + extra);
      }
    }
  }
  ctx.set_output(0, in.dtype, out);
  return Status::ok();
}

Status infer_one_hot(InferContext& ctx) {
  const TypeInfo& ind = ctx.input_type(0);
  const DType dt = ctx.input_type(2).dtype;
  if (!rank_known(ind)) {
    ctx.set_output_rank_unknown(0, dt);
    return Status::ok();
  }
  const auto rank = static_cast<int64_t>(ind.dims.size());
  int64_t axis = ctx.node().attr_int("axis", -1);
  if (axis < -(rank + 1) || axis > rank) return bad_axis(axis, ind.dims.size() + 1);
  if (axis < 0) axis += rank + 1;
  Dim depth;
  const Tensor* d = ctx.input_constant(1);
  if (d != nullptr && d->numel() == 1 && d->dtype() != DType::kString) {
    const double v = d->get_as_double(0);
    if (v >= 0 && v < 1e12) depth = Dim::of(static_cast<int64_t>(v));
  }
  Dims out = ind.dims;
  out.insert(out.begin() + axis, depth);
  ctx.set_output(0, dt, out);
  return Status::ok();
}

Status infer_depth_space(InferContext& ctx, bool to_space) {
  const TypeInfo& in = ctx.input_type(0);
  const int64_t b = ctx.node().attr_int("blocksize", 0);
  if (!rank_known(in) || in.dims.size() != 4 || b <= 0) {
    ctx.set_output(0, in.dtype, Dims(4));
    return Status::ok();
  }
  Dims out = in.dims;
  auto scale = [](const Dim& d, int64_t f) { return d.known() ? Dim::of(d.value * f) : unknown(); };
  auto shrink = [](const Dim& d, int64_t f) { return d.known() && d.value % f == 0 ? Dim::of(d.value / f) : unknown(); };
  if (to_space) {
    out[1] = shrink(in.dims[1], b * b);
    out[2] = scale(in.dims[2], b);
    out[3] = scale(in.dims[3], b);
  } else {
    out[1] = scale(in.dims[1], b * b);
    out[2] = shrink(in.dims[2], b);
    out[3] = shrink(in.dims[3], b);
  }
  ctx.set_output(0, in.dtype, out);
  return Status::ok();
}

Status infer_depth_to_space(InferContext& ctx) { return infer_depth_space(ctx, true); }
Status infer_space_to_depth(InferContext& ctx) { return infer_depth_space(ctx, false); }

Status infer_compress(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const Attribute* axis_attr = ctx.node().attr("axis");
  Dim n;
  const Tensor* cond = ctx.input_constant(1);
  if (cond != nullptr && cond->dtype() == DType::kBool) {
    n = Dim::of(std::count(cond->data<bool>(), cond->data<bool>() + cond->numel(), true));
  }
  if (axis_attr == nullptr) {
    ctx.set_output(0, in.dtype, Dims{n});
  } else if (!rank_known(in)) {
    ctx.set_output_rank_unknown(0, in.dtype);
  } else {
    int64_t axis = 0;
    if (!norm_axis(axis_attr->i, static_cast<int64_t>(in.dims.size()), &axis)) {
      return bad_axis(axis_attr->i, in.dims.size());
    }
    Dims out = in.dims;
    out[static_cast<size_t>(axis)] = n;
    ctx.set_output(0, in.dtype, out);
  }
  return Status::ok();
}

Status infer_non_zero(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  Dim rank;
  if (rank_known(in)) rank = Dim::of(std::max<int64_t>(static_cast<int64_t>(in.dims.size()), 1));
  ctx.set_output(0, DType::kInt64, Dims{rank, unknown()});
  return Status::ok();
}

Status infer_unique(InferContext& ctx) {
  const TypeInfo& in = ctx.input_type(0);
  const Attribute* axis_attr = ctx.node().attr("axis");
  Dim rows;
  if (axis_attr == nullptr) {
    ctx.set_output(0, in.dtype, Dims(1));
    if (in.shape_known()) rows = Dim::of(shape_numel(in.concrete_shape()));
  } else if (rank_known(in)) {
    int64_t axis = 0;
    if (!norm_axis(axis_attr->i, static_cast<int64_t>(in.dims.size()), &axis)) {
      return bad_axis(axis_attr->i, in.dims.size());
    }
    Dims out = in.dims;
    rows = out[static_cast<size_t>(axis)];
    out[static_cast<size_t>(axis)] = unknown();
    ctx.set_output(0, in.dtype, out);
  } else {
    ctx.set_output_rank_unknown(0, in.dtype);
  }
  ctx.set_output(1, DType::kInt64, Dims(1));
  ctx.set_output(2, DType::kInt64, Dims{rows});
  ctx.set_output(3, DType::kInt64, Dims(1));
  return Status::ok();
}

Status infer_same_as_input(InferContext& ctx) {
  ctx.propagate(0, 0);
  return Status::ok();
}

}  // namespace

void register_tensor_rules() {
  register_infer("", "Constant", infer_constant);
  register_infer("", "Identity", infer_identity);
  register_infer("", "Reshape", infer_reshape);
  register_infer("", "Flatten", infer_flatten);
  register_infer("", "Squeeze", infer_squeeze);
  register_infer("", "Unsqueeze", infer_unsqueeze);
  register_infer("", "Shape", infer_shape);
  register_infer("", "Size", infer_size);
  register_infer("", "ConstantOfShape", infer_constant_of_shape);
  register_infer("", "Range", infer_range);
  register_infer("", "EyeLike", infer_eye_like);
  register_infer("", "Transpose", infer_transpose);
  register_infer("", "Concat", infer_concat);
  register_infer("", "Split", infer_split);
  register_infer("", "Slice", infer_slice);
  register_infer("", "Gather", infer_gather);
  register_infer("", "GatherElements", infer_gather_elements);
  register_infer("", "GatherND", infer_gather_nd);
  register_infer("", "Scatter", infer_same_as_input);
  register_infer("", "ScatterElements", infer_same_as_input);
  register_infer("", "ScatterND", infer_same_as_input);
  register_infer("", "Expand", infer_expand);
  register_infer("", "Tile", infer_tile);
  register_infer("", "Pad", infer_pad);
  register_infer("", "OneHot", infer_one_hot);
  register_infer("", "DepthToSpace", infer_depth_to_space);
  register_infer("", "SpaceToDepth", infer_space_to_depth);
  register_infer("", "Compress", infer_compress);
  register_infer("", "NonZero", infer_non_zero);
  register_infer("", "Unique", infer_unique);
  register_infer("", "Trilu", infer_same_as_input);
  register_infer("", "ReverseSequence", infer_same_as_input);
}

}  // namespace tandem::graph
