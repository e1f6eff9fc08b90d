// Reference kernels: broadcasting binary ops (arithmetic, comparison, logic,
// bitwise, Mod, Pow, PRelu), Where and the variadic Min/Max/Sum/Mean.
// float16/bfloat16 compute in float32. Add/Sub/Mul/Div may write into input
// 0's memory: every loop reads element i of its inputs before writing it.
#include <cmath>
#include <limits>
#include <type_traits>

#include "backends/reference/kernels/elementwise_internal.h"

namespace tandem::reference {
namespace {

struct Operands {
  Tensor a, b;
  EwPlan plan;
};

Result<Operands> binary_operands(const KernelContext& ctx, bool same_dtype = true) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* a, ew_tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* b, ew_tensor_input(ctx, 1));
  if (same_dtype && a->dtype() != b->dtype()) {
    return ctx.error(std::string("inputs must have the same dtype, got ") + dtype_name(a->dtype()) + " and " +
                     dtype_name(b->dtype()));
  }
  auto plan = ew_make_plan({a->shape(), b->shape()});
  if (!plan.is_ok()) {
    return ctx.error("cannot broadcast shapes " + shape_to_string(a->shape()) + " and " +
                     shape_to_string(b->shape()));
  }
  return Operands{*a, *b, std::move(*plan)};
}

// Integer division and remainder by zero trap; refuse them up front.
template <typename T>
bool has_zero(const Tensor& t) {
  const T* p = t.data<T>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] == T(0)) return true;
  }
  return false;
}

enum class Accepts { kNumeric, kInteger, kFloat };

// out = f(a, b) with one dtype for inputs and output. f is called with
// float/double and (unless kFloat) the integer types.
template <typename F>
Status same_type_binary(KernelContext& ctx, Accepts accepts, bool check_div_zero, F f) {
  TANDEM_ASSIGN_OR_RETURN(Operands ops, binary_operands(ctx));
  const DType dt = ops.a.dtype();
  const bool ok = accepts == Accepts::kInteger ? dtype_is_integer(dt)
                  : accepts == Accepts::kFloat ? dtype_is_float(dt)
                                               : dtype_is_float(dt) || dtype_is_integer(dt);
  if (!ok) return ctx.error(std::string("dtype ") + dtype_name(dt) + " is not supported by this operator");
  if (is_half(dt)) {
    TANDEM_ASSIGN_OR_RETURN(Tensor af, to_float32(ops.a));
    TANDEM_ASSIGN_OR_RETURN(Tensor bf, to_float32(ops.b));
    TANDEM_ASSIGN_OR_RETURN(Tensor yf, Tensor::allocate(DType::kFloat32, ops.plan.out_shape));
    ew_binary_loop(ops.plan, af.data<float>(), bf.data<float>(), yf.data<float>(), f);
    TANDEM_ASSIGN_OR_RETURN(Tensor y, from_float32(yf, dt));
    return ew_store_output(ctx, 0, y);
  }
  return visit_numeric(dt, [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      if (accepts == Accepts::kFloat) return ctx.error("integer inputs are not supported");
      if (check_div_zero && has_zero<T>(ops.b)) return ctx.error("integer division by zero");
    } else if (accepts == Accepts::kInteger) {
      return ctx.error("floating-point inputs are not supported");
    }
    TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dt, ops.plan.out_shape));
    ew_binary_loop(ops.plan, ops.a.data<T>(), ops.b.data<T>(), y.data<T>(),
                   [&](T x, T z) -> T { return static_cast<T>(f(x, z)); });
    return Status::ok();
  });
}

Status add_k(KernelContext& ctx) {
  return same_type_binary(ctx, Accepts::kNumeric, false, [](auto x, auto y) { return x + y; });
}
Status sub_k(KernelContext& ctx) {
  return same_type_binary(ctx, Accepts::kNumeric, false, [](auto x, auto y) { return x - y; });
}
Status mul_k(KernelContext& ctx) {
  return same_type_binary(ctx, Accepts::kNumeric, false, [](auto x, auto y) { return x * y; });
}
Status div_k(KernelContext& ctx) {
  return same_type_binary(ctx, Accepts::kNumeric, true, [](auto x, auto y) -> decltype(x) {
    using T = decltype(x);
    // min / -1 overflows (and traps on x86): wrap like numpy does.
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      if (y == T(-1)) return static_cast<T>(std::make_unsigned_t<T>{0} - static_cast<std::make_unsigned_t<T>>(x));
    }
    return x / y;
  });
}

Status mod_k(KernelContext& ctx) {
  const int64_t fmod = ctx.node().attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return ctx.error("fmod must be 0 or 1, got " + std::to_string(fmod));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* a, ew_tensor_input(ctx, 0));
  if (dtype_is_float(a->dtype())) {
    if (fmod != 1) return ctx.error("floating-point inputs require fmod=1");
    return same_type_binary(ctx, Accepts::kFloat, false, [](auto x, auto y) { return std::fmod(x, y); });
  }
  if (fmod == 1) {  // C remainder: sign of the dividend
    return same_type_binary(ctx, Accepts::kInteger, true, [](auto x, auto y) -> decltype(x) {
      using T = decltype(x);
      if constexpr (std::is_integral_v<T>) {
        if constexpr (std::is_signed_v<T>) {
          if (y == T(-1)) return T(0);
        }
        return static_cast<T>(x % y);
      } else {
        return x;  // unreachable: integer inputs only
      }
    });
  }
  // numpy remainder: sign of the divisor
  return same_type_binary(ctx, Accepts::kInteger, true, [](auto x, auto y) -> decltype(x) {
    using T = decltype(x);
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      if (y == T(-1)) return T(0);
      T r = static_cast<T>(x % y);
      if (r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
      return r;
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(x % y);
    } else {
      return x;  // unreachable: integer inputs only
    }
  });
}

Status bitwise_and_k(KernelContext& ctx) {
  return same_type_binary(ctx, Accepts::kInteger, false, [](auto x, auto y) {
    if constexpr (std::is_integral_v<decltype(x)>) return x & y; else return x;
  });
}
Status bitwise_or_k(KernelContext& ctx) {
  return same_type_binary(ctx, Accepts::kInteger, false, [](auto x, auto y) {
    if constexpr (std::is_integral_v<decltype(x)>) return x | y; else return x;
  });
}
Status bitwise_xor_k(KernelContext& ctx) {
  return same_type_binary(ctx, Accepts::kInteger, false, [](auto x, auto y) {
    if constexpr (std::is_integral_v<decltype(x)>) return x ^ y; else return x;
  });
}

Status bitshift_k(KernelContext& ctx) {
  const std::string dir = ctx.node().attr_string("direction", "");
  if (dir != "LEFT" && dir != "RIGHT") return ctx.error("direction must be 'LEFT' or 'RIGHT', got '" + dir + "'");
  TANDEM_ASSIGN_OR_RETURN(const Tensor* a, ew_tensor_input(ctx, 0));
  if (!dtype_is_integer(a->dtype()) || dtype_is_signed(a->dtype())) {
    return ctx.error(std::string("inputs must be unsigned integers, got ") + dtype_name(a->dtype()));
  }
  const bool left = dir == "LEFT";
  return same_type_binary(ctx, Accepts::kInteger, false, [left](auto x, auto y) -> decltype(x) {
    using T = decltype(x);
    if constexpr (std::is_integral_v<T>) {
      // Shifting by the bit width or more is UB in C++; the bits are all gone.
      if (y >= static_cast<T>(sizeof(T) * 8)) return T(0);
      return static_cast<T>(left ? x << y : x >> y);
    } else {
      return x;
    }
  });
}

// Boolean result of two same-dtype inputs (comparisons, logic). f is called
// with float/double, integers and bool (when allow_bool).
template <typename F>
Status predicate_binary(KernelContext& ctx, bool numeric, bool allow_bool, bool allow_string, F f) {
  TANDEM_ASSIGN_OR_RETURN(Operands ops, binary_operands(ctx));
  const DType dt = ops.a.dtype();
  if (dt == DType::kString && allow_string) {
    TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kBool, ops.plan.out_shape));
    ew_binary_loop(ops.plan, ops.a.data<std::string>(), ops.b.data<std::string>(), y.data<bool>(),
                   [](const std::string& x, const std::string& z) { return x == z; });
    return Status::ok();
  }
  const bool ok = (numeric && (dtype_is_float(dt) || dtype_is_integer(dt))) || (allow_bool && dt == DType::kBool);
  if (!ok) return ctx.error(std::string("dtype ") + dtype_name(dt) + " is not supported by this operator");
  if (is_half(dt)) {
    TANDEM_ASSIGN_OR_RETURN(ops.a, to_float32(ops.a));
    TANDEM_ASSIGN_OR_RETURN(ops.b, to_float32(ops.b));
  }
  return ew_visit_numeric_bool(ops.a.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kBool, ops.plan.out_shape));
    ew_binary_loop(ops.plan, ops.a.data<T>(), ops.b.data<T>(), y.data<bool>(),
                   [&](T x, T z) -> bool { return f(x, z); });
    return Status::ok();
  });
}

Status equal_k(KernelContext& ctx) {
  return predicate_binary(ctx, true, true, true, [](auto x, auto y) { return x == y; });
}
Status greater_k(KernelContext& ctx) {
  return predicate_binary(ctx, true, false, false, [](auto x, auto y) { return x > y; });
}
Status less_k(KernelContext& ctx) {
  return predicate_binary(ctx, true, false, false, [](auto x, auto y) { return x < y; });
}
Status greater_equal_k(KernelContext& ctx) {
  return predicate_binary(ctx, true, false, false, [](auto x, auto y) { return x >= y; });
}
Status less_equal_k(KernelContext& ctx) {
  return predicate_binary(ctx, true, false, false, [](auto x, auto y) { return x <= y; });
}
Status and_k(KernelContext& ctx) {
  return predicate_binary(ctx, false, true, false, [](auto x, auto y) { return static_cast<bool>(x) && static_cast<bool>(y); });
}
Status or_k(KernelContext& ctx) {
  return predicate_binary(ctx, false, true, false, [](auto x, auto y) { return static_cast<bool>(x) || static_cast<bool>(y); });
}
Status xor_k(KernelContext& ctx) {
  return predicate_binary(ctx, false, true, false, [](auto x, auto y) { return static_cast<bool>(x) != static_cast<bool>(y); });
}

// Integer power by squaring: exact where double would round (large int64).
template <typename T>
T int_pow(T base, int64_t exp) {
  using U = std::make_unsigned_t<T>;
  U result = 1, b = static_cast<U>(base);  // unsigned: overflow wraps instead of UB
  while (exp > 0) {
    if (exp & 1) result = static_cast<U>(result * b);
    b = static_cast<U>(b * b);
    exp >>= 1;
  }
  return static_cast<T>(result);
}

// One Pow element; the result has the base's type.
template <typename TB, typename TE>
TB pow_elem(TB x, TE e) {
  if constexpr (std::is_integral_v<TB> && std::is_integral_v<TE>) {
    if (e >= TE(0)) return int_pow(x, static_cast<int64_t>(e));
    // Negative integer exponent: only 1 and -1 have integral results.
    if (x == TB(1)) return TB(1);
    if constexpr (std::is_signed_v<TB>) {
      if (x == TB(-1)) return (static_cast<int64_t>(e) & 1) ? TB(-1) : TB(1);
    }
    return TB(0);
  } else if constexpr (std::is_same_v<TB, float> && std::is_same_v<TE, float>) {
    return std::pow(x, e);
  } else if constexpr (std::is_integral_v<TB>) {
    // float exponent on an integer base: compute in double, truncate like a cast.
    const double r = std::pow(static_cast<double>(x), static_cast<double>(e));
    if (!(r > static_cast<double>(std::numeric_limits<TB>::lowest()) - 1.0)) return std::numeric_limits<TB>::lowest();
    if (!(r < static_cast<double>(std::numeric_limits<TB>::max()) + 1.0)) return std::numeric_limits<TB>::max();
    return static_cast<TB>(r);
  } else {
    return static_cast<TB>(std::pow(static_cast<double>(x), static_cast<double>(e)));
  }
}

// Pow: the output has the base's dtype; the exponent may be any numeric dtype.
Status pow_k(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(Operands ops, binary_operands(ctx, /*same_dtype=*/false));
  const DType base_dt = ops.a.dtype();
  const DType exp_dt = ops.b.dtype();
  auto numeric = [](DType t) { return dtype_is_float(t) || dtype_is_integer(t); };
  if (!numeric(base_dt) || !numeric(exp_dt)) {
    return ctx.error(std::string("inputs must be numeric, got ") + dtype_name(base_dt) + " and " + dtype_name(exp_dt));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor a, to_float32(ops.a));
  TANDEM_ASSIGN_OR_RETURN(Tensor b, to_float32(ops.b));
  Tensor y;
  if (is_half(base_dt)) {
    TANDEM_ASSIGN_OR_RETURN(y, Tensor::allocate(DType::kFloat32, ops.plan.out_shape));
  } else {
    TANDEM_ASSIGN_OR_RETURN(y, ctx.allocate_output(0, base_dt, ops.plan.out_shape));
  }
  TANDEM_RETURN_IF_ERROR(visit_numeric(a.dtype(), [&](auto base_tag) -> Status {
    using TB = decltype(base_tag);
    return visit_numeric(b.dtype(), [&](auto exp_tag) -> Status {
      using TE = decltype(exp_tag);
      ew_binary_loop(ops.plan, a.data<TB>(), b.data<TE>(), y.data<TB>(), [](TB x, TE e) { return pow_elem(x, e); });
      return Status::ok();
    });
  }));
  if (is_half(base_dt)) {
    TANDEM_ASSIGN_OR_RETURN(Tensor yh, from_float32(y, base_dt));
    return ew_store_output(ctx, 0, yh);
  }
  return Status::ok();
}

// PRelu: slope broadcasts to X (one direction only).
Status prelu_k(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* x, ew_tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* slope, ew_tensor_input(ctx, 1));
  auto out = graph::broadcast_shapes(x->shape(), slope->shape());
  if (!out.is_ok() || *out != x->shape()) {
    return ctx.error("slope of shape " + shape_to_string(slope->shape()) + " does not broadcast to input shape " +
                     shape_to_string(x->shape()));
  }
  return same_type_binary(ctx, Accepts::kNumeric, false, [](auto v, auto s) -> decltype(v) {
    using T = decltype(v);
    return v < T(0) ? static_cast<T>(s * v) : v;
  });
}

// Where(cond, X, Y): three-way broadcast; X/Y of any dtype including strings.
Status where_k(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* c, ew_tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* x, ew_tensor_input(ctx, 1));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* y, ew_tensor_input(ctx, 2));
  if (c->dtype() != DType::kBool) return ctx.error(std::string("condition must be bool, got ") + dtype_name(c->dtype()));
  if (x->dtype() != y->dtype()) {
    return ctx.error(std::string("X and Y must have the same dtype, got ") + dtype_name(x->dtype()) + " and " +
                     dtype_name(y->dtype()));
  }
  auto plan = ew_make_plan({c->shape(), x->shape(), y->shape()});
  if (!plan.is_ok()) {
    return ctx.error("cannot broadcast shapes " + shape_to_string(c->shape()) + ", " + shape_to_string(x->shape()) +
                     " and " + shape_to_string(y->shape()));
  }
  return visit_any(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(0, x->dtype(), plan->out_shape));
    const bool* pc = c->data<bool>();
    const T* px = x->data<T>();
    const T* py = y->data<T>();
    T* po = out.data<T>();
    ew_for_each_row<3>(*plan, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* st) {
      for (int64_t j = 0; j < n; ++j) {
        po[o + j] = pc[off[0] + j * st[0]] ? px[off[1] + j * st[1]] : py[off[2] + j * st[2]];
      }
    });
    return Status::ok();
  });
}

// Min/Max/Sum/Mean over one or more broadcast inputs of one dtype.
template <typename F>
Status variadic(KernelContext& ctx, bool mean, F f) {
  if (ctx.num_inputs() == 0) return ctx.error("at least one input is required");
  std::vector<Tensor> ins;
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(const Tensor* t, ew_tensor_input(ctx, i));
    if (!ins.empty() && t->dtype() != ins[0].dtype()) {
      return ctx.error(std::string("inputs must have the same dtype, got ") + dtype_name(ins[0].dtype()) + " and " +
                       dtype_name(t->dtype()));
    }
    ins.push_back(*t);
    shapes.push_back(t->shape());
  }
  const DType dt = ins[0].dtype();
  if (!dtype_is_float(dt) && !dtype_is_integer(dt)) {
    return ctx.error(std::string("dtype ") + dtype_name(dt) + " is not supported by this operator");
  }
  Shape out_shape;
  for (const Shape& s : shapes) {
    auto b = graph::broadcast_shapes(out_shape, s);
    if (!b.is_ok()) return ctx.error("cannot broadcast input shapes: " + b.status().message());
    out_shape = std::move(*b);
  }
  if (is_half(dt)) {
    for (Tensor& t : ins) {
      TANDEM_ASSIGN_OR_RETURN(t, to_float32(t));
    }
  }
  const DType cdt = ins[0].dtype();
  return visit_numeric(cdt, [&](auto tag) -> Status {
    using T = decltype(tag);
    Tensor acc;
    if (is_half(dt)) {
      TANDEM_ASSIGN_OR_RETURN(acc, Tensor::allocate(cdt, out_shape));
    } else {
      TANDEM_ASSIGN_OR_RETURN(acc, ctx.allocate_output(0, dt, out_shape));
    }
    T* o = acc.data<T>();
    for (size_t k = 0; k < ins.size(); ++k) {
      TANDEM_ASSIGN_OR_RETURN(EwPlan plan, ew_make_plan({out_shape, ins[k].shape()}));
      if (k == 0) {
        ew_binary_loop(plan, o, ins[k].data<T>(), o, [](T, T z) { return z; });
      } else {
        ew_binary_loop(plan, o, ins[k].data<T>(), o, [&](T x, T z) -> T { return static_cast<T>(f(x, z)); });
      }
    }
    if (mean) {
      const int64_t n = acc.numel();
      const T count = static_cast<T>(ins.size());
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(o[i] / count);
    }
    if (is_half(dt)) {
      TANDEM_ASSIGN_OR_RETURN(Tensor y, from_float32(acc, dt));
      return ew_store_output(ctx, 0, y);
    }
    return Status::ok();
  });
}

template <typename T>
bool is_nan_value(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

Status max_k(KernelContext& ctx) {
  return variadic(ctx, false, [](auto x, auto y) { return (is_nan_value(x) || x >= y) && !is_nan_value(y) ? x : y; });
}
Status min_k(KernelContext& ctx) {
  return variadic(ctx, false, [](auto x, auto y) { return (is_nan_value(x) || x <= y) && !is_nan_value(y) ? x : y; });
}
Status sum_k(KernelContext& ctx) {
  return variadic(ctx, false, [](auto x, auto y) { return x + y; });
}
Status mean_k(KernelContext& ctx) {
  return variadic(ctx, true, [](auto x, auto y) { return x + y; });
}

}  // namespace

void register_elementwise_binary_kernels() {
  register_kernel("", "Add", add_k);
  register_kernel("", "Sub", sub_k);
  register_kernel("", "Mul", mul_k);
  register_kernel("", "Div", div_k);
  register_kernel("", "Mod", mod_k);
  register_kernel("", "Pow", pow_k);
  register_kernel("", "PRelu", prelu_k);
  register_kernel("", "BitShift", bitshift_k);
  register_kernel("", "BitwiseAnd", bitwise_and_k);
  register_kernel("", "BitwiseOr", bitwise_or_k);
  register_kernel("", "BitwiseXor", bitwise_xor_k);
  register_kernel("", "Equal", equal_k);
  register_kernel("", "Greater", greater_k);
  register_kernel("", "Less", less_k);
  register_kernel("", "GreaterOrEqual", greater_equal_k);
  register_kernel("", "LessOrEqual", less_equal_k);
  register_kernel("", "And", and_k);
  register_kernel("", "Or", or_k);
  register_kernel("", "Xor", xor_k);
  register_kernel("", "Where", where_k);
  register_kernel("", "Max", max_k);
  register_kernel("", "Min", min_k);
  register_kernel("", "Sum", sum_k);
  register_kernel("", "Mean", mean_k);
}

}  // namespace tandem::reference
