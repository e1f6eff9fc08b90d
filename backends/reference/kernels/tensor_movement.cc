// Reference kernels: tensor family, data movement (Transpose, Concat, Split,
// Slice, Expand, Tile, Pad, DepthToSpace, SpaceToDepth). Most are one strided
// copy of a view of the input.
#include <algorithm>
#include <limits>

#include "backends/reference/kernels/tensor_util.h"

namespace tandem::reference::tensor_detail {
namespace {

Status transpose(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const size_t rank = x.rank();
  std::vector<int64_t> perm = ctx.node().attr_ints("perm");
  if (ctx.node().attr("perm") == nullptr) {
    perm.resize(rank);
    for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int64_t>(rank - 1 - i);
  }
  if (perm.size() != rank) {
    return ctx.error("perm has " + std::to_string(perm.size()) + " entries for an input of rank " +
                     std::to_string(rank));
  }
  std::vector<bool> seen(rank, false);
  for (int64_t& p : perm) {
    TANDEM_ASSIGN_OR_RETURN(p, normalize_axis(p, static_cast<int64_t>(rank)));
    if (seen[static_cast<size_t>(p)]) return ctx.error("perm is not a permutation");
    seen[static_cast<size_t>(p)] = true;
  }
  const std::vector<int64_t> in_strides = strides_of(x.shape());
  Shape out(rank);
  std::vector<int64_t> strides(rank);
  for (size_t i = 0; i < rank; ++i) {
    out[i] = x.dim(static_cast<size_t>(perm[i]));
    strides[i] = in_strides[static_cast<size_t>(perm[i])];
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out));
  return strided_copy_tensor(x, 0, out, strides, y);
}

Status concat(KernelContext& ctx) {
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i)) ins.push_back(&ctx.input(i));
  }
  if (ins.empty()) return ctx.error("Concat needs at least one input");
  const graph::Attribute* axis_attr = ctx.node().attr("axis");
  if (axis_attr == nullptr && ctx.opset() >= 4) return ctx.error("Concat needs the axis attribute");
  const Tensor& first = *ins[0];
  const auto rank = static_cast<int64_t>(first.rank());
  if (rank == 0) return ctx.error("Concat cannot join scalars");
  TANDEM_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr ? axis_attr->i : 1, rank));
  Shape out = first.shape();
  out[static_cast<size_t>(axis)] = 0;
  for (const Tensor* t : ins) {
    if (t->dtype() != first.dtype()) return ctx.error("Concat inputs have different dtypes");
    if (static_cast<int64_t>(t->rank()) != rank) {
      return ctx.error("Concat inputs have different ranks: " + shape_to_string(first.shape()) + " and " +
                       shape_to_string(t->shape()));
    }
    for (int64_t d = 0; d < rank; ++d) {
      if (d != axis && t->dim(static_cast<size_t>(d)) != first.dim(static_cast<size_t>(d))) {
        return ctx.error("Concat inputs differ outside axis " + std::to_string(axis) + ": " +
                         shape_to_string(first.shape()) + " and " + shape_to_string(t->shape()));
      }
    }
    out[static_cast<size_t>(axis)] += t->dim(static_cast<size_t>(axis));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, first.dtype(), out));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= out[static_cast<size_t>(d)];
  const int64_t out_row = out[static_cast<size_t>(axis)] * inner;
  return visit_bytes(first.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T* dst = y.data<T>();
    int64_t at = 0;  // column offset of the current input within an output row
    for (const Tensor* t : ins) {
      const int64_t row = t->dim(static_cast<size_t>(axis)) * inner;
      const T* src = t->data<T>();
      for (int64_t o = 0; o < outer; ++o) std::copy_n(src + o * row, row, dst + o * out_row + at);
      at += row;
    }
    return Status::ok();
  });
}

Status split(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto rank = static_cast<int64_t>(x.rank());
  if (rank == 0) return ctx.error("Split cannot split a scalar");
  TANDEM_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(ctx.node().attr_int("axis", 0), rank));
  const int64_t dim = x.dim(static_cast<size_t>(axis));
  const auto n_out = static_cast<int64_t>(ctx.num_outputs());
  std::vector<int64_t> sizes;
  if (ctx.has_input(1)) {
    TANDEM_ASSIGN_OR_RETURN(sizes, int_list_input(ctx, 1, "Split split"));
  } else if (ctx.node().attr("split") != nullptr) {
    sizes = ctx.node().attr_ints("split");
  } else {
    const int64_t parts = ctx.node().attr_int("num_outputs", n_out);
    if (parts != n_out || parts <= 0) {
      return ctx.error("num_outputs is " + std::to_string(parts) + " but the node has " + std::to_string(n_out) +
                       " outputs");
    }
    if (ctx.node().attr("num_outputs") == nullptr && dim % parts != 0) {
      return ctx.error("cannot split dimension " + std::to_string(dim) + " into " + std::to_string(parts) +
                       " equal parts");
    }
    const int64_t chunk = (dim + parts - 1) / parts;  // opset 18: the last chunk may be smaller
    int64_t left = dim;
    for (int64_t i = 0; i < parts; ++i) {
      sizes.push_back(std::min(chunk, left));
      left -= sizes.back();
    }
  }
  if (static_cast<int64_t>(sizes.size()) != n_out) {
    return ctx.error("split has " + std::to_string(sizes.size()) + " sizes for " + std::to_string(n_out) +
                     " outputs");
  }
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0 || s > dim) return ctx.error("split size " + std::to_string(s) + " is out of range");
    total += s;
  }
  if (total != dim) {
    return ctx.error("split sizes sum to " + std::to_string(total) + " but dimension " + std::to_string(axis) +
                     " is " + std::to_string(dim));
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(static_cast<size_t>(d));
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dim(static_cast<size_t>(d));
  const int64_t in_row = dim * inner;
  int64_t at = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int64_t row = sizes[i] * inner;
    if (ctx.has_output(i)) {
      Shape s = x.shape();
      s[static_cast<size_t>(axis)] = sizes[i];
      TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(i, x.dtype(), s));
      TANDEM_RETURN_IF_ERROR(visit_bytes(x.dtype(), [&](auto tag) -> Status {
        using T = decltype(tag);
        for (int64_t o = 0; o < outer; ++o) std::copy_n(x.data<T>() + o * in_row + at, row, y.data<T>() + o * row);
        return Status::ok();
      }));
    }
    at += row;
  }
  return Status::ok();
}

Status slice(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto rank = static_cast<int64_t>(x.rank());
  std::vector<int64_t> starts, ends, axes, steps;
  const bool attr_form = ctx.opset() < 10;
  if (attr_form) {
    starts = ctx.node().attr_ints("starts");
    ends = ctx.node().attr_ints("ends");
    axes = ctx.node().attr_ints("axes");
  } else {
    if (!ctx.has_input(1) || !ctx.has_input(2)) return ctx.error("Slice needs starts and ends inputs");
    TANDEM_ASSIGN_OR_RETURN(starts, int_list_input(ctx, 1, "Slice starts"));
    TANDEM_ASSIGN_OR_RETURN(ends, int_list_input(ctx, 2, "Slice ends"));
    if (ctx.has_input(3)) {
      TANDEM_ASSIGN_OR_RETURN(axes, int_list_input(ctx, 3, "Slice axes"));
    }
    if (ctx.has_input(4)) {
      TANDEM_ASSIGN_OR_RETURN(steps, int_list_input(ctx, 4, "Slice steps"));
    }
  }
  if (ends.size() != starts.size()) return ctx.error("Slice starts and ends differ in length");
  const bool no_axes = attr_form ? ctx.node().attr("axes") == nullptr : !ctx.has_input(3);
  if (no_axes) {
    axes.resize(starts.size());
    for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
  }
  if (steps.empty() && (attr_form || !ctx.has_input(4))) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size()) {
    return ctx.error("Slice starts, ends, axes and steps must have the same length");
  }
  const std::vector<int64_t> in_strides = strides_of(x.shape());
  Shape out = x.shape();
  std::vector<int64_t> strides = in_strides;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  int64_t base = 0;
  for (size_t i = 0; i < starts.size(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axes[i], rank));
    if (seen[static_cast<size_t>(axis)]) return ctx.error("Slice axes repeat axis " + std::to_string(axes[i]));
    seen[static_cast<size_t>(axis)] = true;
    const int64_t dim = x.dim(static_cast<size_t>(axis));
    // INT64_MIN cannot be negated; any step that large takes one element anyway.
    const int64_t step = std::max(steps[i], -std::numeric_limits<int64_t>::max());
    if (step == 0) return ctx.error("Slice step must not be 0");
    // Adding dim to INT64_MIN-like values cannot overflow; huge positives are clamped below.
    const int64_t start_adj = starts[i] < 0 ? starts[i] + dim : starts[i];
    const int64_t end_adj = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t start = 0, count = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start_adj, 0, dim);
      const int64_t end = std::clamp<int64_t>(end_adj, 0, dim);
      count = end > start ? (end - start - 1) / step + 1 : 0;
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start_adj, 0, dim - 1);
      const int64_t end = std::clamp<int64_t>(end_adj, -1, dim - 1);
      count = start > end ? (start - end - 1) / (-step) + 1 : 0;
    }
    out[static_cast<size_t>(axis)] = count;
    if (count > 0) base += start * in_strides[static_cast<size_t>(axis)];
    strides[static_cast<size_t>(axis)] = count > 1 ? step * in_strides[static_cast<size_t>(axis)] : 0;
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out));
  return strided_copy_tensor(x, base, out, strides, y);
}

// Strides that read x as if broadcast to `out` (0 along broadcast dims).
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  const std::vector<int64_t> own = strides_of(in);
  std::vector<int64_t> s(out.size(), 0);
  for (size_t d = 0; d < in.size(); ++d) {
    const size_t od = out.size() - in.size() + d;
    s[od] = in[d] == 1 ? 0 : own[d];
  }
  return s;
}

Status expand(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> target, int_list_input(ctx, 1, "Expand shape"));
  for (int64_t d : target) {
    if (d < 0) return ctx.error("Expand shape has negative dimension " + std::to_string(d));
  }
  auto out = graph::broadcast_shapes(x.shape(), target);
  if (!out.is_ok()) {
    return ctx.error("cannot expand " + shape_to_string(x.shape()) + " to " + shape_to_string(target));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), *out));
  return strided_copy_tensor(x, 0, *out, broadcast_strides(x.shape(), *out), y);
}

Status tile(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> reps, int_list_input(ctx, 1, "Tile repeats"));
  if (reps.size() != x.rank()) {
    return ctx.error("Tile repeats has " + std::to_string(reps.size()) + " entries for an input of rank " +
                     std::to_string(x.rank()));
  }
  const std::vector<int64_t> own = strides_of(x.shape());
  Shape out(x.rank()), view;
  std::vector<int64_t> strides;
  for (size_t d = 0; d < x.rank(); ++d) {
    if (reps[d] < 0) return ctx.error("Tile repeats must not be negative");
    if (x.dim(d) != 0 && reps[d] > INT64_MAX / x.dim(d)) return ctx.error("Tile output overflows");
    out[d] = x.dim(d) * reps[d];
    // Output dim d is [repeat, original]: the repeat walks nothing, the original walks x.
    view.push_back(reps[d]);
    strides.push_back(0);
    view.push_back(x.dim(d));
    strides.push_back(own[d]);
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out));
  return strided_copy_tensor(x, 0, view, strides, y);
}

// Source index along one dim of size n for padded position i (already shifted by the begin pad).
int64_t pad_source(int64_t i, int64_t n, int mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 1: {  // reflect (numpy: mirror without repeating the edge)
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      int64_t j = i % period;
      if (j < 0) j += period;
      return j >= n ? period - j : j;
    }
    case 2: return std::clamp<int64_t>(i, 0, n - 1);  // edge
    case 3: {                                           // wrap
      int64_t j = i % n;
      return j < 0 ? j + n : j;
    }
    default: return -1;  // constant
  }
}

Status pad(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto rank = static_cast<int64_t>(x.rank());
  const std::string mode_name = ctx.node().attr_string("mode", "constant");
  int mode;
  if (mode_name == "constant") mode = 0;
  else if (mode_name == "reflect") mode = 1;
  else if (mode_name == "edge") mode = 2;
  else if (mode_name == "wrap") mode = 3;
  else return ctx.error("unknown Pad mode '" + mode_name + "'");

  std::vector<int64_t> pads, axes;
  Tensor value;  // one element of x's dtype
  if (ctx.opset() < 11) {
    pads = ctx.node().attr("pads") ? ctx.node().attr_ints("pads") : ctx.node().attr_ints("paddings");
    if (x.dtype() != DType::kString) {
      TANDEM_ASSIGN_OR_RETURN(value, scalar_of(x.dtype(), ctx.node().attr_float("value", 0.0f)));
    }
  } else {
    if (!ctx.has_input(1)) return ctx.error("Pad needs a pads input");
    TANDEM_ASSIGN_OR_RETURN(pads, int_list_input(ctx, 1, "Pad pads"));
    if (ctx.has_input(2) && ctx.input(2).numel() > 0) {
      value = ctx.input(2);
      if (value.dtype() != x.dtype()) return ctx.error("Pad constant_value must have the input's dtype");
    } else if (x.dtype() != DType::kString) {
      TANDEM_ASSIGN_OR_RETURN(value, scalar_of(x.dtype(), 0.0));
    } else {
      value = Tensor::from_strings({}, {""});
    }
    if (ctx.has_input(3)) {
      TANDEM_ASSIGN_OR_RETURN(axes, axes_from(ctx, 3, "axes", rank));
    }
  }
  if (x.dtype() == DType::kString && !value.defined()) value = Tensor::from_strings({}, {""});
  if (axes.empty() && !ctx.has_input(3)) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  if (pads.size() != 2 * axes.size()) {
    return ctx.error("Pad pads has " + std::to_string(pads.size()) + " values, expected " +
                     std::to_string(2 * axes.size()));
  }
  std::vector<int64_t> begin(static_cast<size_t>(rank), 0), end(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    begin[static_cast<size_t>(axes[i])] = pads[i];
    end[static_cast<size_t>(axes[i])] = pads[i + axes.size()];
  }
  Shape out(static_cast<size_t>(rank));
  for (size_t d = 0; d < out.size(); ++d) {
    const int64_t n = x.dim(d);
    if (__builtin_add_overflow(n, begin[d], &out[d]) || __builtin_add_overflow(out[d], end[d], &out[d])) {
      return ctx.error("Pad pads overflow");
    }
    if (out[d] < 0) return ctx.error("Pad removes more than dimension " + std::to_string(d) + " holds");
    if (n == 0 && out[d] > 0 && mode != 0) {
      return ctx.error("Pad mode '" + mode_name + "' cannot pad an empty dimension");
    }
  }
  // Allocate first: it refuses absurd sizes before the index maps are built.
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out));
  const int64_t total = y.numel();
  if (total == 0) return Status::ok();
  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(rank));
  for (size_t d = 0; d < out.size(); ++d) {
    const int64_t n = x.dim(d);
    maps[d].resize(static_cast<size_t>(out[d]));
    for (int64_t i = 0; i < out[d]; ++i) maps[d][static_cast<size_t>(i)] = pad_source(i - begin[d], n, mode);
  }
  const std::vector<int64_t> st = strides_of(x.shape());
  return visit_bytes(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = y.data<T>();
    const T fill = value.data<T>()[0];
    if (rank == 0) {
      dst[0] = src[0];
      return Status::ok();
    }
    const size_t last = out.size() - 1;
    const std::vector<int64_t>& lmap = maps[last];
    std::vector<int64_t> idx(last, 0);
    for (int64_t o = 0; o < total; o += out[last]) {
      int64_t base = 0;
      bool inside = true;
      for (size_t d = 0; d < last; ++d) {
        const int64_t s = maps[d][static_cast<size_t>(idx[d])];
        if (s < 0) inside = false;
        base += s * st[d];
      }
      for (int64_t j = 0; j < out[last]; ++j) {
        const int64_t s = lmap[static_cast<size_t>(j)];
        dst[o + j] = inside && s >= 0 ? src[base + s] : fill;
      }
      for (size_t d = last; d-- > 0;) {
        if (++idx[d] < out[d]) break;
        idx[d] = 0;
      }
    }
    return Status::ok();
  });
}

Status depth_space(KernelContext& ctx, bool to_space) {
  const Tensor& x = ctx.input(0);
  if (x.rank() != 4) return ctx.error("input must be 4-D (N, C, H, W), got " + shape_to_string(x.shape()));
  const int64_t b = ctx.node().attr_int("blocksize", 0);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  // b*b must divide C (to space) or b must divide H (to depth): larger b cannot be valid.
  if (b <= 0 || b > (1 << 20) || b > std::max<int64_t>(to_space ? c : h, 1)) {
    return ctx.error("blocksize " + std::to_string(b) + " is invalid for input " + shape_to_string(x.shape()));
  }
  Shape out, view;
  std::vector<int64_t> strides;
  if (to_space) {
    if (c % (b * b) != 0) return ctx.error("channels " + std::to_string(c) + " not divisible by blocksize^2");
    const int64_t c2 = c / (b * b);
    out = {n, c2, h * b, w * b};
    view = {n, c2, h, b, w, b};
    const std::string mode = ctx.node().attr_string("mode", "DCR");
    if (mode == "DCR") {  // channels laid out as [b1, b2, C']
      strides = {c * h * w, h * w, w, b * c2 * h * w, 1, c2 * h * w};
    } else if (mode == "CRD") {  // channels laid out as [C', b1, b2]
      strides = {c * h * w, b * b * h * w, w, b * h * w, 1, h * w};
    } else {
      return ctx.error("unknown DepthToSpace mode '" + mode + "'");
    }
  } else {
    if (h % b != 0 || w % b != 0) return ctx.error("height and width must be divisible by blocksize");
    out = {n, c * b * b, h / b, w / b};
    view = {n, b, b, c, h / b, w / b};
    strides = {c * h * w, w, 1, h * w, b * w, b};
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out));
  return strided_copy_tensor(x, 0, view, strides, y);
}

Status depth_to_space(KernelContext& ctx) { return depth_space(ctx, true); }
Status space_to_depth(KernelContext& ctx) { return depth_space(ctx, false); }

}  // namespace

void register_tensor_movement_kernels() {
  register_kernel("", "Transpose", tensor_inputs<transpose>);
  register_kernel("", "Concat", tensor_inputs<concat>);
  register_kernel("", "Split", tensor_inputs<split>);
  register_kernel("", "Slice", tensor_inputs<slice>);
  register_kernel("", "Expand", tensor_inputs<expand>);
  register_kernel("", "Tile", tensor_inputs<tile>);
  register_kernel("", "Pad", tensor_inputs<pad>);
  register_kernel("", "DepthToSpace", tensor_inputs<depth_to_space>);
  register_kernel("", "SpaceToDepth", tensor_inputs<space_to_depth>);
}

}  // namespace tandem::reference::tensor_detail
