// Reference kernels: elementwise unary math, activations, Clip, IsNaN/IsInf,
// Not and BitwiseNot. float16/bfloat16 compute in float32.
#include <cmath>
#include <limits>
#include <type_traits>

#include "backends/reference/kernels/activation.h"
#include "backends/reference/kernels/elementwise_internal.h"

namespace tandem::reference {
namespace {

// y = f(x) elementwise, same dtype. f is called with float/double, and with
// the integer types too when kAllowInt. Input 0 may share memory with the
// output (in-place ops): element i is read before it is written.
template <bool kAllowInt, typename F>
Status unary_map(KernelContext& ctx, F f) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, ew_tensor_input(ctx, 0));
  const Tensor x = *xp;
  const int64_t n = x.numel();
  if (is_half(x.dtype())) {
    TANDEM_ASSIGN_OR_RETURN(Tensor xf, to_float32(x));  // a fresh copy: safe to update in place
    float* p = xf.data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = f(p[i]);
    TANDEM_ASSIGN_OR_RETURN(Tensor y, from_float32(xf, x.dtype()));
    return ew_store_output(ctx, 0, y);
  }
  const std::string kind = kAllowInt ? "a numeric" : "a floating-point";
  if (!dtype_is_float(x.dtype()) && !(kAllowInt && dtype_is_integer(x.dtype()))) {
    return ctx.error("input must be " + kind + " tensor, got " + dtype_name(x.dtype()));
  }
  return visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (!kAllowInt && !std::is_floating_point_v<T>) {
      return ctx.error("input must be " + kind + " tensor, got " + dtype_name(x.dtype()));
    } else {
      const T* in = x.data<T>();
      TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), x.shape()));
      T* out = y.data<T>();
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(f(in[i]));
      return Status::ok();
    }
  });
}

template <typename F>
Status float_map(KernelContext& ctx, F f) { return unary_map<false>(ctx, f); }
template <typename F>
Status numeric_map(KernelContext& ctx, F f) { return unary_map<true>(ctx, f); }

// -x without signed-overflow UB (wraps like two's complement for the minimum).
template <typename T>
T negate(T v) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(U{0} - static_cast<U>(v));
  } else {
    return -v;
  }
}

template <typename T>
T softplus(T v) {
  return v > T(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

#define EW_FLOAT_UNARY(NAME, EXPR)                                          \
  Status NAME(KernelContext& ctx) {                                         \
    return float_map(ctx, [](auto v) -> decltype(v) { return (EXPR); });    \
  }

EW_FLOAT_UNARY(exp_k, std::exp(v))
EW_FLOAT_UNARY(log_k, std::log(v))
EW_FLOAT_UNARY(sqrt_k, std::sqrt(v))
EW_FLOAT_UNARY(reciprocal_k, decltype(v)(1) / v)
EW_FLOAT_UNARY(sin_k, std::sin(v))
EW_FLOAT_UNARY(cos_k, std::cos(v))
EW_FLOAT_UNARY(tan_k, std::tan(v))
EW_FLOAT_UNARY(asin_k, std::asin(v))
EW_FLOAT_UNARY(acos_k, std::acos(v))
EW_FLOAT_UNARY(atan_k, std::atan(v))
EW_FLOAT_UNARY(sinh_k, std::sinh(v))
EW_FLOAT_UNARY(cosh_k, std::cosh(v))
EW_FLOAT_UNARY(tanh_k, std::tanh(v))
EW_FLOAT_UNARY(asinh_k, std::asinh(v))
EW_FLOAT_UNARY(acosh_k, std::acosh(v))
EW_FLOAT_UNARY(atanh_k, std::atanh(v))
EW_FLOAT_UNARY(ceil_k, std::ceil(v))
EW_FLOAT_UNARY(floor_k, std::floor(v))
EW_FLOAT_UNARY(round_k, std::nearbyint(v))  // default rounding mode: half to even, as ONNX wants
EW_FLOAT_UNARY(erf_k, std::erf(v))
EW_FLOAT_UNARY(sigmoid_k, sigmoid(v))
EW_FLOAT_UNARY(softplus_k, softplus(v))
EW_FLOAT_UNARY(softsign_k, v / (decltype(v)(1) + std::fabs(v)))
EW_FLOAT_UNARY(mish_k, v * std::tanh(softplus(v)))
#undef EW_FLOAT_UNARY

Status abs_k(KernelContext& ctx) {
  return numeric_map(ctx, [](auto v) -> decltype(v) {
    using T = decltype(v);
    if constexpr (std::is_unsigned_v<T>) return v;
    else return v < T(0) ? negate(v) : v;
  });
}

Status neg_k(KernelContext& ctx) {
  return numeric_map(ctx, [](auto v) -> decltype(v) { return negate(v); });
}

Status sign_k(KernelContext& ctx) {
  return numeric_map(ctx, [](auto v) -> decltype(v) {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(v)) return v;
    }
    return v > T(0) ? T(1) : (v < T(0) ? negate(T(1)) : T(0));
  });
}

Status relu_k(KernelContext& ctx) {
  return numeric_map(ctx, [](auto v) -> decltype(v) { return relu(v); });
}

Status leaky_relu_k(KernelContext& ctx) {
  const double alpha = ctx.node().attr_float("alpha", 0.01f);
  return float_map(ctx, [alpha](auto v) -> decltype(v) {
    using T = decltype(v);
    return v < T(0) ? static_cast<T>(alpha) * v : v;
  });
}

Status elu_k(KernelContext& ctx) {
  const double alpha = ctx.node().attr_float("alpha", 1.0f);
  return float_map(ctx, [alpha](auto v) -> decltype(v) {
    using T = decltype(v);
    return v < T(0) ? static_cast<T>(alpha) * (std::exp(v) - T(1)) : v;
  });
}

Status selu_k(KernelContext& ctx) {
  const double alpha = ctx.node().attr_float("alpha", 1.67326319217681884765625f);
  const double gamma = ctx.node().attr_float("gamma", 1.05070102214813232421875f);
  return float_map(ctx, [alpha, gamma](auto v) -> decltype(v) {
    using T = decltype(v);
    const T a = static_cast<T>(alpha), g = static_cast<T>(gamma);
    return v > T(0) ? g * v : g * (a * std::exp(v) - a);
  });
}

Status celu_k(KernelContext& ctx) {
  const double alpha = ctx.node().attr_float("alpha", 1.0f);
  if (alpha == 0) return ctx.error("alpha must not be 0");
  return float_map(ctx, [alpha](auto v) -> decltype(v) {
    using T = decltype(v);
    const T a = static_cast<T>(alpha);
    return std::max(T(0), v) + std::min(T(0), a * (std::exp(v / a) - T(1)));
  });
}

Status hard_sigmoid_k(KernelContext& ctx) {
  const double alpha = ctx.node().attr_float("alpha", 0.2f);
  const double beta = ctx.node().attr_float("beta", 0.5f);
  return float_map(ctx, [alpha, beta](auto v) -> decltype(v) {
    using T = decltype(v);
    return std::max(T(0), std::min(T(1), static_cast<T>(alpha) * v + static_cast<T>(beta)));
  });
}

Status hard_swish_k(KernelContext& ctx) {
  return float_map(ctx, [](auto v) -> decltype(v) { return hard_swish(v); });
}

Status thresholded_relu_k(KernelContext& ctx) {
  const double alpha = ctx.node().attr_float("alpha", 1.0f);
  return float_map(ctx, [alpha](auto v) -> decltype(v) {
    using T = decltype(v);
    return v > static_cast<T>(alpha) ? v : T(0);
  });
}

Status shrink_k(KernelContext& ctx) {
  const double bias = ctx.node().attr_float("bias", 0.0f);
  const double lambd = ctx.node().attr_float("lambd", 0.5f);
  return numeric_map(ctx, [bias, lambd](auto v) -> decltype(v) {
    using T = decltype(v);
    const double d = static_cast<double>(v);
    if (d < -lambd) return static_cast<T>(d + bias);
    if (d > lambd) return static_cast<T>(d - bias);
    return T(0);
  });
}

Status gelu_k(KernelContext& ctx) {
  const std::string approx = ctx.node().attr_string("approximate", "none");
  if (approx == "tanh") {
    return float_map(ctx, [](auto v) -> decltype(v) {
      using T = decltype(v);
      const T k = static_cast<T>(0.7978845608028654);  // sqrt(2/pi)
      return T(0.5) * v * (T(1) + std::tanh(k * (v + T(0.044715) * v * v * v)));
    });
  }
  if (approx != "none") return ctx.error("approximate must be 'none' or 'tanh', got '" + approx + "'");
  return float_map(ctx, [](auto v) -> decltype(v) {
    using T = decltype(v);
    return T(0.5) * v * (T(1) + std::erf(v * static_cast<T>(0.7071067811865476)));
  });
}

template <typename T>
T saturate(double d) {
  if (!(d > static_cast<double>(std::numeric_limits<T>::lowest()))) return std::numeric_limits<T>::lowest();
  if (d >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(d);
}

// Clip: bounds are attributes before opset 11, optional scalar inputs after.
Status clip_k(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, ew_tensor_input(ctx, 0));
  const DType dt = xp->dtype();
  bool has_lo = false, has_hi = false;
  double lo = 0, hi = 0;
  if (ctx.opset() < 11) {
    has_lo = has_hi = true;
    lo = ctx.node().attr_float("min", -std::numeric_limits<float>::max());
    hi = ctx.node().attr_float("max", std::numeric_limits<float>::max());
  } else {
    for (size_t i = 1; i <= 2; ++i) {
      if (!ctx.has_input(i)) continue;
      TANDEM_ASSIGN_OR_RETURN(const Tensor* b, ew_tensor_input(ctx, i));
      if (b->dtype() != dt) {
        return ctx.error(std::string(i == 1 ? "min" : "max") + " must have the input's dtype " + dtype_name(dt) +
                         ", got " + dtype_name(b->dtype()));
      }
      if (b->numel() != 1) {
        return ctx.error(std::string(i == 1 ? "min" : "max") + " must be a scalar, got shape " +
                         shape_to_string(b->shape()));
      }
      (i == 1 ? has_lo : has_hi) = true;
      (i == 1 ? lo : hi) = b->get_as_double(0);
    }
  }
  // Integer bounds are read exactly (int64 beyond 2^53 would lose precision
  // through double); attribute bounds saturate into the element type.
  int64_t lo_i = 0, hi_i = 0;
  const bool exact = ctx.opset() >= 11 && dtype_is_integer(dt);
  if (exact && has_lo) lo_i = ctx.input(1).get_as_int64(0);
  if (exact && has_hi) hi_i = ctx.input(2).get_as_int64(0);
  return numeric_map(ctx, [=](auto v) -> decltype(v) {
    using T = decltype(v);
    T l{}, h{};
    if constexpr (std::is_integral_v<T>) {
      l = exact ? static_cast<T>(lo_i) : saturate<T>(lo);
      h = exact ? static_cast<T>(hi_i) : saturate<T>(hi);
    } else {
      l = static_cast<T>(lo);
      h = static_cast<T>(hi);
    }
    if (has_lo && v < l) v = l;
    if (has_hi && v > h) v = h;
    return v;
  });
}

// Boolean results of float inputs: IsNaN, IsInf.
template <typename F>
Status float_predicate(KernelContext& ctx, F f) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, ew_tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(*xp));
  if (!dtype_is_float(x.dtype())) return ctx.error(std::string("input must be floating-point, got ") + dtype_name(x.dtype()));
  return visit_float(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* in = x.data<T>();
    const int64_t n = x.numel();
    TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kBool, x.shape()));
    bool* out = y.data<bool>();
    for (int64_t i = 0; i < n; ++i) out[i] = f(in[i]);
    return Status::ok();
  });
}

Status isnan_k(KernelContext& ctx) {
  return float_predicate(ctx, [](auto v) { return std::isnan(v); });
}

Status isinf_k(KernelContext& ctx) {
  const bool neg = ctx.node().attr_int("detect_negative", 1) != 0;
  const bool pos = ctx.node().attr_int("detect_positive", 1) != 0;
  return float_predicate(ctx, [neg, pos](auto v) { return std::isinf(v) && (v > 0 ? pos : neg); });
}

Status not_k(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, ew_tensor_input(ctx, 0));
  const Tensor x = *xp;
  if (x.dtype() != DType::kBool) return ctx.error(std::string("input must be bool, got ") + dtype_name(x.dtype()));
  const bool* in = x.data<bool>();
  const int64_t n = x.numel();
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kBool, x.shape()));
  bool* out = y.data<bool>();
  for (int64_t i = 0; i < n; ++i) out[i] = !in[i];
  return Status::ok();
}

Status bitwise_not_k(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, ew_tensor_input(ctx, 0));
  if (!dtype_is_integer(xp->dtype())) {
    return ctx.error(std::string("input must be an integer tensor, got ") + dtype_name(xp->dtype()));
  }
  return numeric_map(ctx, [](auto v) -> decltype(v) {
    using T = decltype(v);
    if constexpr (std::is_integral_v<T>) return static_cast<T>(~v);
    else return v;  // unreachable: checked above
  });
}

}  // namespace

void register_elementwise_unary_kernels() {
  register_kernel("", "Abs", abs_k);
  register_kernel("", "Neg", neg_k);
  register_kernel("", "Exp", exp_k);
  register_kernel("", "Log", log_k);
  register_kernel("", "Sqrt", sqrt_k);
  register_kernel("", "Reciprocal", reciprocal_k);
  register_kernel("", "Sin", sin_k);
  register_kernel("", "Cos", cos_k);
  register_kernel("", "Tan", tan_k);
  register_kernel("", "Asin", asin_k);
  register_kernel("", "Acos", acos_k);
  register_kernel("", "Atan", atan_k);
  register_kernel("", "Sinh", sinh_k);
  register_kernel("", "Cosh", cosh_k);
  register_kernel("", "Tanh", tanh_k);
  register_kernel("", "Asinh", asinh_k);
  register_kernel("", "Acosh", acosh_k);
  register_kernel("", "Atanh", atanh_k);
  register_kernel("", "Ceil", ceil_k);
  register_kernel("", "Floor", floor_k);
  register_kernel("", "Round", round_k);
  register_kernel("", "Sign", sign_k);
  register_kernel("", "Erf", erf_k);
  register_kernel("", "IsNaN", isnan_k);
  register_kernel("", "IsInf", isinf_k);
  register_kernel("", "Not", not_k);
  register_kernel("", "BitwiseNot", bitwise_not_k);
  register_kernel("", "Relu", relu_k);
  register_kernel("", "LeakyRelu", leaky_relu_k);
  register_kernel("", "Elu", elu_k);
  register_kernel("", "Selu", selu_k);
  register_kernel("", "Celu", celu_k);
  register_kernel("", "Sigmoid", sigmoid_k);
  register_kernel("", "HardSigmoid", hard_sigmoid_k);
  register_kernel("", "HardSwish", hard_swish_k);
  register_kernel("", "Softplus", softplus_k);
  register_kernel("", "Softsign", softsign_k);
  register_kernel("", "ThresholdedRelu", thresholded_relu_k);
  register_kernel("", "Shrink", shrink_k);
  register_kernel("", "Gelu", gelu_k);
  register_kernel(passes::kTandemDomain, "Gelu", gelu_k);  // fused by core/passes: ONNX Gelu's semantics
  register_kernel("", "Mish", mish_k);
  register_kernel("", "Clip", clip_k);
}

}  // namespace tandem::reference
