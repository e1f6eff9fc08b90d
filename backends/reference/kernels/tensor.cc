// Reference kernels: tensor family (shape and view ops, constants, ranges).
// Data movement lives in tensor_movement.cc, indexing in tensor_index.cc,
// the rest in tensor_misc.cc.
#include <algorithm>
#include <cmath>

#include "backends/reference/kernels/tensor_util.h"
#include "core/graph/ops/rules.h"

namespace tandem::reference {
namespace tensor_detail {

Result<Tensor> scalar_of(DType dtype, double v) {
  TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, {}));
  switch (dtype) {
    case DType::kFloat16: t.data<uint16_t>()[0] = float_to_half(static_cast<float>(v)); break;
    case DType::kBFloat16: t.data<uint16_t>()[0] = float_to_bfloat16(static_cast<float>(v)); break;
    case DType::kBool: t.data<bool>()[0] = v != 0; break;
    default:
      TANDEM_RETURN_IF_ERROR(visit_numeric(dtype, [&](auto tag) -> Status {
        using T = decltype(tag);
        t.data<T>()[0] = static_cast<T>(v);
        return Status::ok();
      }));
  }
  return t;
}

}  // namespace tensor_detail

namespace {

using namespace tensor_detail;  // NOLINT(google-build-using-namespace)
using graph::Attribute;

// Copies t into output 0 (outputs must never alias attribute storage).
Status output_copy(KernelContext& ctx, const Tensor& t) {
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, t.dtype(), t.shape()));
  if (t.dtype() == DType::kString) {
    y.strings() = t.strings();
  } else if (t.byte_size() > 0) {
    std::memcpy(y.raw_data(), t.raw_data(), t.byte_size());
  }
  return Status::ok();
}

Status constant(KernelContext& ctx) {
  for (const Attribute& a : ctx.node().attributes) {
    const std::string& n = a.name;
    if (n == "value" || n == "sparse_value") {
      if (!a.t.defined()) return ctx.error("attribute '" + n + "' holds no tensor");
      return output_copy(ctx, a.t);
    }
    if (n == "value_float") return output_copy(ctx, Tensor::scalar_float(a.f));
    if (n == "value_int") return output_copy(ctx, Tensor::scalar_int64(a.i));
    if (n == "value_floats") {
      return output_copy(ctx, Tensor::from_vector<float>({static_cast<int64_t>(a.floats.size())}, a.floats));
    }
    if (n == "value_ints") {
      return output_copy(ctx, Tensor::from_vector<int64_t>({static_cast<int64_t>(a.ints.size())}, a.ints));
    }
    if (n == "value_string") return output_copy(ctx, Tensor::from_strings({}, {a.s}));
    if (n == "value_strings") {
      return output_copy(ctx, Tensor::from_strings({static_cast<int64_t>(a.strings.size())}, a.strings));
    }
  }
  return ctx.error("Constant needs one of the attributes value, sparse_value, value_float(s), value_int(s), "
                   "value_string(s)");
}

Status identity(KernelContext& ctx) {
  if (!ctx.node().has_input(0)) return ctx.error("Identity needs an input");
  ctx.set_output(0, ctx.input_value(0));
  return Status::ok();
}

Status set_view(KernelContext& ctx, Shape shape) {
  TANDEM_ASSIGN_OR_RETURN(Tensor v, ctx.input(0).reshaped(std::move(shape)));
  ctx.set_output(0, Value(std::move(v)));
  return Status::ok();
}

Status reshape(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> spec;
  if (ctx.has_input(1)) {
    TANDEM_ASSIGN_OR_RETURN(spec, int_list_input(ctx, 1, "Reshape shape"));
  } else if (ctx.opset() < 5 && ctx.node().attr("shape") != nullptr) {
    spec = ctx.node().attr_ints("shape");
  } else {
    return ctx.error("Reshape needs a shape input");
  }
  const bool allowzero = ctx.node().attr_int("allowzero", 0) != 0;
  Shape out(spec.size());
  int64_t infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == -1) {
      if (infer_at >= 0) return ctx.error("Reshape shape has more than one -1");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    if (d == 0 && !allowzero) {
      if (i >= x.rank()) {
        return ctx.error("Reshape shape has 0 at position " + std::to_string(i) + " but the input has rank " +
                         std::to_string(x.rank()));
      }
      d = x.dim(i);
    }
    if (d < 0) return ctx.error("Reshape shape has invalid dimension " + std::to_string(d));
    out[i] = d;
    if (d != 0 && known > INT64_MAX / d) return ctx.error("Reshape shape overflows");
    known *= d;
  }
  if (infer_at >= 0) {
    if (known == 0) {
      return ctx.error("Reshape cannot infer -1 when the other dimensions multiply to 0 (shape " +
                       shape_to_string(spec) + ")");
    }
    if (x.numel() % known != 0) {
      return ctx.error("cannot reshape " + shape_to_string(x.shape()) + " to " + shape_to_string(spec));
    }
    out[static_cast<size_t>(infer_at)] = x.numel() / known;
  } else if (known != x.numel()) {
    return ctx.error("cannot reshape " + shape_to_string(x.shape()) + " (" + std::to_string(x.numel()) +
                     " elements) to " + shape_to_string(out));
  }
  return set_view(ctx, std::move(out));
}

Status flatten(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto rank = static_cast<int64_t>(x.rank());
  int64_t axis = ctx.node().attr_int("axis", 1);
  if (axis < -rank || axis > rank) {
    return ctx.error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  if (axis < 0) axis += rank;
  const std::span<const int64_t> dims(x.shape());
  const int64_t outer = shape_numel(dims.first(static_cast<size_t>(axis)));
  const int64_t inner = shape_numel(dims.subspan(static_cast<size_t>(axis)));
  if (outer < 0 || inner < 0) return ctx.error("Flatten output shape overflows");
  return set_view(ctx, {outer, inner});
}

Status squeeze(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto rank = static_cast<int64_t>(x.rank());
  std::vector<int64_t> axes;
  const bool given = ctx.has_input(1) || ctx.node().attr("axes") != nullptr;
  if (given) {
    if (ctx.has_input(1) && !dtype_is_integer(ctx.input(1).dtype())) return ctx.error("axes must be integers");
    TANDEM_ASSIGN_OR_RETURN(axes, axes_from(ctx, 1, "axes", rank));
  }
  std::vector<bool> drop(static_cast<size_t>(rank), false);
  if (!given) {
    for (int64_t d = 0; d < rank; ++d) drop[static_cast<size_t>(d)] = x.dim(static_cast<size_t>(d)) == 1;
  }
  for (int64_t a : axes) {
    if (x.dim(static_cast<size_t>(a)) != 1) {
      return ctx.error("cannot squeeze axis " + std::to_string(a) + " of size " +
                       std::to_string(x.dim(static_cast<size_t>(a))) + " (shape " + shape_to_string(x.shape()) + ")");
    }
    drop[static_cast<size_t>(a)] = true;
  }
  Shape out;
  for (int64_t d = 0; d < rank; ++d) {
    if (!drop[static_cast<size_t>(d)]) out.push_back(x.dim(static_cast<size_t>(d)));
  }
  return set_view(ctx, std::move(out));
}

Status unsqueeze(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> axes;
  if (ctx.has_input(1)) {
    TANDEM_ASSIGN_OR_RETURN(axes, int_list_input(ctx, 1, "Unsqueeze axes"));
  } else if (ctx.node().attr("axes") != nullptr) {
    axes = ctx.node().attr_ints("axes");
  } else {
    return ctx.error("Unsqueeze needs axes");
  }
  const auto out_rank = static_cast<int64_t>(x.rank() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : axes) {
    TANDEM_ASSIGN_OR_RETURN(int64_t n, normalize_axis(a, out_rank));
    if (inserted[static_cast<size_t>(n)]) return ctx.error("Unsqueeze axes repeat axis " + std::to_string(a));
    inserted[static_cast<size_t>(n)] = true;
  }
  Shape out(static_cast<size_t>(out_rank));
  size_t k = 0;
  for (size_t d = 0; d < out.size(); ++d) out[d] = inserted[d] ? 1 : x.dim(k++);
  return set_view(ctx, std::move(out));
}

Status shape_op(KernelContext& ctx) {
  const Shape& s = ctx.input(0).shape();
  const auto [start, end] = graph::shape_op_range(ctx.node(), static_cast<int64_t>(s.size()));
  const int64_t n = end - start;
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kInt64, {n}));
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = s[static_cast<size_t>(start + i)];
  return Status::ok();
}

Status size_op(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kInt64, {}));
  y.data<int64_t>()[0] = ctx.input(0).numel();
  return Status::ok();
}

Status constant_of_shape(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> shape, int_list_input(ctx, 0, "ConstantOfShape input"));
  for (int64_t d : shape) {
    if (d < 0) return ctx.error("ConstantOfShape got negative dimension " + std::to_string(d));
  }
  Tensor value = Tensor::scalar_float(0.0f);
  if (const graph::Attribute* a = ctx.node().attr("value"); a != nullptr && a->t.defined()) {
    value = a->t;
    if (value.numel() != 1) return ctx.error("ConstantOfShape value must hold one element");
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, value.dtype(), shape));
  return visit_bytes(value.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    std::fill_n(y.data<T>(), y.numel(), value.data<T>()[0]);
    return Status::ok();
  });
}

Status range(KernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i) {
    if (!ctx.has_input(i) || ctx.input(i).numel() != 1) return ctx.error("Range inputs must be scalars");
    if (ctx.input(i).dtype() != ctx.input(0).dtype()) return ctx.error("Range inputs must share one dtype");
  }
  const DType dt = ctx.input(0).dtype();
  if (dtype_is_integer(dt)) {
    const int64_t start = ctx.input(0).get_as_int64(0);
    const int64_t limit = ctx.input(1).get_as_int64(0);
    const int64_t delta = ctx.input(2).get_as_int64(0);
    if (delta == 0) return ctx.error("Range delta must not be 0");
    // ceil((limit - start) / delta) without overflow for ordinary ranges.
    const long double span = static_cast<long double>(limit) - static_cast<long double>(start);
    const long double count = std::ceil(span / static_cast<long double>(delta));
    if (count > static_cast<long double>(INT64_MAX / 2)) return ctx.error("Range produces too many elements");
    const int64_t n = std::max<int64_t>(static_cast<int64_t>(count), 0);
    TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dt, {n}));
    return visit_numeric(dt, [&](auto tag) -> Status {
      using T = decltype(tag);
      for (int64_t i = 0; i < n; ++i) y.data<T>()[i] = static_cast<T>(start + i * delta);
      return Status::ok();
    });
  }
  if (dt != DType::kFloat32 && dt != DType::kFloat64) {
    return ctx.error(std::string("Range does not support dtype ") + dtype_name(dt));
  }
  const double start = ctx.input(0).get_as_double(0);
  const double limit = ctx.input(1).get_as_double(0);
  const double delta = ctx.input(2).get_as_double(0);
  if (delta == 0 || !std::isfinite(start) || !std::isfinite(limit) || !std::isfinite(delta)) {
    return ctx.error("Range needs finite inputs and a nonzero delta");
  }
  const double count = std::ceil((limit - start) / delta);
  if (count > 1e15) return ctx.error("Range produces too many elements");
  const int64_t n = std::max<int64_t>(static_cast<int64_t>(count), 0);
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dt, {n}));
  return visit_float(dt, [&](auto tag) -> Status {
    using T = decltype(tag);
    for (int64_t i = 0; i < n; ++i) y.data<T>()[i] = static_cast<T>(start + static_cast<double>(i) * delta);
    return Status::ok();
  });
}

Status eye_like(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() != 2) return ctx.error("EyeLike input must be 2-D, got shape " + shape_to_string(x.shape()));
  DType dt = x.dtype();
  if (const graph::Attribute* a = ctx.node().attr("dtype"); a != nullptr) {
    if (!dtype_is_valid(static_cast<int32_t>(a->i))) return ctx.error("invalid dtype " + std::to_string(a->i));
    dt = static_cast<DType>(a->i);
  }
  if (dt == DType::kString) return ctx.error("EyeLike cannot produce strings");
  const int64_t k = ctx.node().attr_int("k", 0);
  TANDEM_ASSIGN_OR_RETURN(Tensor one, scalar_of(dt, 1.0));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dt, x.shape()));
  std::memset(y.raw_data(), 0, y.byte_size());
  const int64_t rows = x.dim(0), cols = x.dim(1);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t j = i + k;
    if (j >= 0 && j < cols) copy_element(one, 0, y, i * cols + j);
  }
  return Status::ok();
}

}  // namespace

void register_tensor_kernels() {
  register_kernel("", "Constant", constant);
  register_kernel("", "Identity", identity);
  register_kernel("", "Reshape", tensor_inputs<reshape>);
  register_kernel("", "Flatten", tensor_inputs<flatten>);
  register_kernel("", "Squeeze", tensor_inputs<squeeze>);
  register_kernel("", "Unsqueeze", tensor_inputs<unsqueeze>);
  register_kernel("", "Shape", tensor_inputs<shape_op>);
  register_kernel("", "Size", tensor_inputs<size_op>);
  register_kernel("", "ConstantOfShape", tensor_inputs<constant_of_shape>);
  register_kernel("", "Range", tensor_inputs<range>);
  register_kernel("", "EyeLike", tensor_inputs<eye_like>);
  tensor_detail::register_tensor_movement_kernels();
  tensor_detail::register_tensor_index_kernels();
  tensor_detail::register_tensor_misc_kernels();
}

}  // namespace tandem::reference
