// Reference kernels: Cast and CastLike. Conversions follow numpy's astype
// (what ONNX's cast.py uses): float -> int truncates toward zero, numbers
// print as the shortest text that reads back to the same value.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <type_traits>

#include "backends/reference/kernels/elementwise_internal.h"

namespace tandem::reference {
namespace {

// Float -> integer without UB: NaN gives 0, values beyond int64 saturate, and
// narrower types wrap from int64 the way numpy's C casts do on common targets.
template <typename D>
D float_to_int(double v) {
  if (std::isnan(v)) return D(0);
  v = std::trunc(v);
  if constexpr (std::is_same_v<D, uint64_t>) {
    if (v >= 18446744073709551616.0) return std::numeric_limits<uint64_t>::max();
    if (v >= 0) return static_cast<uint64_t>(v);
  }
  int64_t i;
  if (v >= 9223372036854775808.0) {
    i = std::numeric_limits<int64_t>::max();
  } else if (v < -9223372036854775808.0) {
    i = std::numeric_limits<int64_t>::min();
  } else {
    i = static_cast<int64_t>(v);
  }
  return static_cast<D>(i);
}

template <typename D, typename S>
D convert(S v) {
  if constexpr (std::is_same_v<D, bool>) {
    return v != S(0);
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    return float_to_int<D>(static_cast<double>(v));
  } else {
    return static_cast<D>(v);
  }
}

// numpy's str() of a float: positional for 1e-4 <= |v| < 1e16 (with a ".0"
// for whole numbers), scientific otherwise; shortest round-trip digits.
// Built on snprintf: Emscripten's libc++ has no floating-point std::to_chars.
template <typename T>
std::string format_float(T v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == T(0)) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest digits that read back as the same value.
  char buf[64];
  const int max_digits = std::is_same_v<T, float> ? 9 : 17;
  for (int p = 1; p <= max_digits; ++p) {
    std::snprintf(buf, sizeof buf, "%.*e", p - 1, static_cast<double>(v));
    if (static_cast<T>(std::strtod(buf, nullptr)) == v) break;
  }
  std::string text(buf);  // [-]d[.ddd]e(+|-)xx
  const bool negative = text[0] == '-';
  if (negative) text.erase(0, 1);
  const size_t e = text.find('e');
  const int exponent = std::atoi(text.c_str() + e + 1);
  std::string digits = text.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const T a = std::fabs(v);
  std::string out;
  if (a >= T(1e-4) && a < T(1e16)) {
    if (exponent >= 0) {
      const size_t int_len = static_cast<size_t>(exponent) + 1;
      if (digits.size() <= int_len) {
        out = digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    }
  } else {
    out = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "") + "e" +
          (exponent < 0 ? "-" : "+") + (std::abs(exponent) < 10 ? "0" : "") + std::to_string(std::abs(exponent));
  }
  return negative ? "-" + out : out;
}

// float16/bfloat16: the shortest decimal that converts back to the same bits.
std::string format_half(uint16_t bits, DType dt) {
  const float f = dt == DType::kFloat16 ? half_to_float(bits) : bfloat16_to_float(bits);
  if (std::isnan(f) || std::isinf(f)) return format_float(f);
  for (int p = 1; p <= 9; ++p) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", p, static_cast<double>(f));
    const float back = std::strtof(buf, nullptr);
    const uint16_t b2 = dt == DType::kFloat16 ? float_to_half(back) : float_to_bfloat16(back);
    if (b2 == bits) return format_float(back);
  }
  return format_float(f);
}

Result<std::vector<std::string>> to_strings(const KernelContext& ctx, const Tensor& x) {
  const int64_t n = x.numel();
  std::vector<std::string> out(static_cast<size_t>(n));
  if (is_half(x.dtype())) {
    const uint16_t* p = x.data<uint16_t>();
    for (int64_t i = 0; i < n; ++i) out[i] = format_half(p[i], x.dtype());
    return out;
  }
  Status st = ew_visit_numeric_bool(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* p = x.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, bool>) {
        out[i] = p[i] ? "True" : "False";
      } else if constexpr (std::is_floating_point_v<T>) {
        out[i] = format_float(p[i]);
      } else {
        out[i] = std::to_string(p[i]);
      }
    }
    return Status::ok();
  });
  if (!st.is_ok()) return ctx.error(std::string("cannot cast ") + dtype_name(x.dtype()) + " to string");
  return out;
}

// Parses strings into dtype `to` (numeric, bool, float16/bfloat16).
Result<Tensor> from_strings(const KernelContext& ctx, const Tensor& x, DType to) {
  const DType compute = is_half(to) ? DType::kFloat32 : to;
  TANDEM_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(compute, x.shape()));
  const std::vector<std::string>& in = x.strings();
  Status parse_error;
  Status st = ew_visit_numeric_bool(compute, [&](auto tag) -> Status {
    using T = decltype(tag);
    T* out = y.data<T>();
    for (size_t i = 0; i < in.size(); ++i) {
      const char* s = in[i].c_str();
      char* end = nullptr;
      if constexpr (std::is_same_v<T, bool>) {
        if (in[i] == "True" || in[i] == "true") { out[i] = true; continue; }
        if (in[i] == "False" || in[i] == "false") { out[i] = false; continue; }
      }
      if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        // Whole numbers parse exactly (int64 beyond 2^53); others go through double.
        if constexpr (std::is_signed_v<T>) {
          const long long v = std::strtoll(s, &end, 10);
          if (end != s && *end == '\0') { out[i] = static_cast<T>(v); continue; }
        } else {
          const unsigned long long v = std::strtoull(s, &end, 10);
          if (end != s && *end == '\0' && in[i].find('-') == std::string::npos) { out[i] = static_cast<T>(v); continue; }
        }
      }
      const double d = std::strtod(s, &end);
      if (end == s || *end != '\0') {
        return ctx.error("cannot parse '" + in[i] + "' as " + dtype_name(to));
      }
      out[i] = convert<T>(d);
    }
    return Status::ok();
  });
  TANDEM_RETURN_IF_ERROR(st);
  if (is_half(to)) return from_float32(y, to);
  return y;
}

// Numeric/bool/half -> numeric/bool/half.
Result<Tensor> convert_numeric(const KernelContext& ctx, const Tensor& x, DType to) {
  TANDEM_ASSIGN_OR_RETURN(Tensor src, to_float32(x));
  const DType compute = is_half(to) ? DType::kFloat32 : to;
  TANDEM_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(compute, x.shape()));
  const int64_t n = x.numel();
  Status st = ew_visit_numeric_bool(src.dtype(), [&](auto stag) -> Status {
    using S = decltype(stag);
    return ew_visit_numeric_bool(compute, [&](auto dtag) -> Status {
      using D = decltype(dtag);
      const S* in = src.data<S>();
      D* out = y.data<D>();
      for (int64_t i = 0; i < n; ++i) out[i] = convert<D>(in[i]);
      return Status::ok();
    });
  });
  if (!st.is_ok()) {
    return ctx.error(std::string("cannot cast ") + dtype_name(x.dtype()) + " to " + dtype_name(to));
  }
  if (is_half(to)) return from_float32(y, to);
  return y;
}

Status cast_to(KernelContext& ctx, DType to) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, ew_tensor_input(ctx, 0));
  const Tensor& x = *xp;
  if (x.dtype() == to) return ew_store_output(ctx, 0, x);
  if (to == DType::kString) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<std::string> strs, to_strings(ctx, x));
    return ew_store_output(ctx, 0, Tensor::from_strings(x.shape(), std::move(strs)));
  }
  if (x.dtype() == DType::kString) {
    TANDEM_ASSIGN_OR_RETURN(Tensor y, from_strings(ctx, x, to));
    return ew_store_output(ctx, 0, y);
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, convert_numeric(ctx, x, to));
  return ew_store_output(ctx, 0, y);
}

Status cast_k(KernelContext& ctx) {
  const graph::Attribute* to = ctx.node().attr("to");
  if (to == nullptr) return ctx.error("attribute 'to' is required");
  if (to->i <= 0 || to->i > 1000 || !dtype_is_valid(static_cast<int32_t>(to->i))) {
    return ctx.error("attribute 'to' has unsupported dtype " + std::to_string(to->i));
  }
  return cast_to(ctx, static_cast<DType>(to->i));
}

Status cast_like_k(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* target, ew_tensor_input(ctx, 1));
  return cast_to(ctx, target->dtype());
}

}  // namespace

void register_elementwise_cast_kernels() {
  register_kernel("", "Cast", cast_k);
  register_kernel("", "CastLike", cast_like_k);
}

}  // namespace tandem::reference
