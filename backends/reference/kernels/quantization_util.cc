#include "backends/reference/kernels/quantization_util.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace tandem::reference::quant {

Result<std::vector<float>> float_values(const KernelContext& ctx, const Tensor& t) {
  const auto n = static_cast<size_t>(t.numel());
  std::vector<float> out(n);
  switch (t.dtype()) {
    case DType::kFloat32: std::copy(t.data<float>(), t.data<float>() + n, out.begin()); break;
    case DType::kFloat16:
      for (size_t i = 0; i < n; ++i) out[i] = half_to_float(t.data<uint16_t>()[i]);
      break;
    case DType::kBFloat16:
      for (size_t i = 0; i < n; ++i) out[i] = bfloat16_to_float(t.data<uint16_t>()[i]);
      break;
    default: {
      Status s = visit_numeric(t.dtype(), [&](auto tag) -> Status {
        using T = decltype(tag);
        const T* p = t.data<T>();
        for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]);
        return Status::ok();
      });
      if (!s.is_ok()) return ctx.error(std::string("expected a numeric tensor, got ") + dtype_name(t.dtype()));
    }
  }
  return out;
}

Result<std::vector<int32_t>> int32_values(const KernelContext& ctx, const Tensor& t) {
  if (!dtype_is_integer(t.dtype())) {
    return ctx.error(std::string("expected an integer tensor, got ") + dtype_name(t.dtype()));
  }
  const auto n = static_cast<size_t>(t.numel());
  std::vector<int32_t> out(n);
  bool in_range = true;
  Status s = visit_numeric(t.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* p = t.data<T>();
    for (size_t i = 0; i < n; ++i) {
      const auto v = static_cast<long double>(p[i]);
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) in_range = false;
      out[i] = static_cast<int32_t>(p[i]);
    }
    return Status::ok();
  });
  TANDEM_RETURN_IF_ERROR(s);
  if (!in_range) return ctx.error("integer value out of int32 range");
  return out;
}

void store_float(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DType::kFloat32: t.data<float>()[i] = static_cast<float>(v); break;
    case DType::kFloat64: t.data<double>()[i] = v; break;
    case DType::kFloat16: t.data<uint16_t>()[i] = float_to_half(static_cast<float>(v)); break;
    case DType::kBFloat16: t.data<uint16_t>()[i] = float_to_bfloat16(static_cast<float>(v)); break;
    default: store_number(t, i, v); break;
  }
}

void store_number(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DType::kFloat32: case DType::kFloat64: case DType::kFloat16: case DType::kBFloat16:
      store_float(t, i, v);
      return;
    case DType::kBool: t.data<bool>()[i] = v != 0; return;
    default: break;
  }
  (void)visit_numeric(t.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<T>::max());
    // Clamp before converting: out-of-range float->int conversion is undefined.
    const double c = std::isnan(v) ? 0.0 : std::fmin(std::fmax(v, lo), hi);
    t.data<T>()[i] = static_cast<T>(c);
    return Status::ok();
  });
}

Result<ConvGeom> conv_geom(const KernelContext& ctx, const Shape& x, const Shape& w) {
  if (x.size() < 3) return ctx.error("input must have rank >= 3 ([N, C, spatial...]), got " + shape_to_string(x));
  if (w.size() != x.size()) {
    return ctx.error("weight rank " + std::to_string(w.size()) + " must equal input rank " + std::to_string(x.size()));
  }
  const size_t nd = x.size() - 2;
  const graph::Node& node = ctx.node();
  ConvGeom g;
  g.N = x[0];
  g.C = x[1];
  g.M = w[0];
  g.group = node.attr_int("group", 1);
  if (g.group <= 0 || g.C % g.group != 0 || g.M % g.group != 0) {
    return ctx.error("group " + std::to_string(g.group) + " must divide input channels " + std::to_string(g.C) +
                     " and output channels " + std::to_string(g.M));
  }
  if (w[1] != g.C / g.group) {
    return ctx.error("weight has " + std::to_string(w[1]) + " input channels, expected " +
                     std::to_string(g.C / g.group));
  }
  g.in.assign(x.begin() + 2, x.end());
  g.kernel = node.attr_ints("kernel_shape", std::vector<int64_t>(w.begin() + 2, w.end()));
  g.strides = node.attr_ints("strides", std::vector<int64_t>(nd, 1));
  g.dilations = node.attr_ints("dilations", std::vector<int64_t>(nd, 1));
  std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * nd, 0));
  if (g.kernel.size() != nd || g.strides.size() != nd || g.dilations.size() != nd || pads.size() != 2 * nd) {
    return ctx.error("kernel_shape, strides, dilations and pads must match the " + std::to_string(nd) +
                     " spatial dims");
  }
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  g.out.resize(nd);
  g.pads.resize(nd);
  for (size_t d = 0; d < nd; ++d) {
    if (g.kernel[d] != w[d + 2]) return ctx.error("kernel_shape does not match the weight shape");
    if (g.strides[d] <= 0 || g.dilations[d] <= 0 || pads[d] < 0 || pads[d + nd] < 0) {
      return ctx.error("strides and dilations must be positive and pads non-negative");
    }
    const int64_t ext = (g.kernel[d] - 1) * g.dilations[d] + 1;
    int64_t pb = pads[d], pe = pads[d + nd];
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t out = (g.in[d] + g.strides[d] - 1) / g.strides[d];
      const int64_t total = std::max<int64_t>(0, (out - 1) * g.strides[d] + ext - g.in[d]);
      pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    } else if (auto_pad == "VALID") {
      pb = pe = 0;
    } else if (auto_pad != "NOTSET") {
      return ctx.error("unknown auto_pad '" + auto_pad + "'");
    }
    const int64_t span = g.in[d] + pb + pe - ext;
    if (span < 0) return ctx.error("kernel is larger than the padded input");
    g.out[d] = span / g.strides[d] + 1;
    g.pads[d] = pb;
  }
  return g;
}

}  // namespace tandem::reference::quant
