// Reference kernels: quantization family (QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv).
// Integer products accumulate in int32 as the spec requires; requantization
// rounds half to even (std::nearbyint under the default rounding mode).
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/reference/kernels/common.h"
#include "backends/reference/kernels/quantization_util.h"

namespace tandem::reference {
namespace {

using quant::float_values;
using quant::int32_values;
using quant::store_float;

// Quantized element types a kernel may produce, with their ranges.
bool quant_range(DType t, int32_t* lo, int32_t* hi) {
  switch (t) {
    case DType::kUInt8: *lo = 0; *hi = 255; return true;
    case DType::kInt8: *lo = -128; *hi = 127; return true;
    case DType::kUInt16: *lo = 0; *hi = 65535; return true;
    case DType::kInt16: *lo = -32768; *hi = 32767; return true;
    default: return false;
  }
}

// Writes saturated integers into a uint8/int8/uint16/int16 tensor.
void store_quantized(Tensor& out, int64_t i, int32_t v) {
  switch (out.dtype()) {
    case DType::kUInt8: out.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
    case DType::kInt8: out.data<int8_t>()[i] = static_cast<int8_t>(v); break;
    case DType::kUInt16: out.data<uint16_t>()[i] = static_cast<uint16_t>(v); break;
    case DType::kInt16: out.data<int16_t>()[i] = static_cast<int16_t>(v); break;
    default: break;
  }
}

int32_t saturate_round(float v, int32_t zp, int32_t lo, int32_t hi) {
  if (std::isnan(v)) return std::clamp(zp, lo, hi);
  const double r = std::nearbyint(static_cast<double>(v)) + zp;
  return static_cast<int32_t>(std::clamp(r, static_cast<double>(lo), static_cast<double>(hi)));
}

// Scale/zero-point layout of Quantize/DequantizeLinear: one value for the
// whole tensor, or one per slice along `axis`.
struct QuantLayout {
  int64_t outer = 1, channels = 1, inner = 1;
  bool per_axis = false;
};

Result<QuantLayout> quant_layout(const KernelContext& ctx, const Tensor& x, const Tensor& scale,
                                 const Tensor* zp) {
  QuantLayout l;
  l.inner = x.numel();
  if (scale.numel() == 1 && scale.rank() <= 1) {
    if (zp && zp->numel() != 1) return ctx.error("zero point must have one element when the scale has one");
    return l;
  }
  if (scale.rank() != 1) {
    return ctx.error("scale must be a scalar or a 1-D tensor, got shape " + shape_to_string(scale.shape()));
  }
  const auto rank = static_cast<int64_t>(x.rank());
  auto axis = normalize_axis(ctx.node().attr_int("axis", 1), rank);
  if (!axis.is_ok() || rank == 0) return ctx.error("axis is out of range for input of rank " + std::to_string(rank));
  const auto a = static_cast<size_t>(*axis);
  if (scale.numel() != x.dim(a)) {
    return ctx.error("per-axis scale has " + std::to_string(scale.numel()) + " elements but the input has " +
                     std::to_string(x.dim(a)) + " along axis " + std::to_string(a));
  }
  if (zp && zp->numel() != scale.numel()) return ctx.error("zero point and scale must have the same shape");
  l.per_axis = true;
  l.outer = 1;
  for (size_t d = 0; d < a; ++d) l.outer *= x.dim(d);
  l.channels = x.dim(a);
  l.inner = 1;
  for (size_t d = a + 1; d < x.rank(); ++d) l.inner *= x.dim(d);
  return l;
}

Status quantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const DType out_type = zp ? zp->dtype() : DType::kUInt8;
  int32_t lo = 0, hi = 0;
  if (!quant_range(out_type, &lo, &hi)) {
    return unsupported(ctx.node().describe() + ": quantizing to " + dtype_name(out_type) + " is not supported");
  }
  TANDEM_ASSIGN_OR_RETURN(QuantLayout l, quant_layout(ctx, x, scale, zp));
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> xs, float_values(ctx, x));
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> ss, float_values(ctx, scale));
  std::vector<int32_t> zs(ss.size(), 0);
  if (zp) { TANDEM_ASSIGN_OR_RETURN(zs, int32_values(ctx, *zp)); }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, out_type, x.shape()));
  int64_t i = 0;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t c = 0; c < l.channels; ++c) {
      const float s = ss[static_cast<size_t>(l.per_axis ? c : 0)];
      const int32_t z = zs[static_cast<size_t>(l.per_axis ? c : 0)];
      for (int64_t k = 0; k < l.inner; ++k, ++i) {
        store_quantized(y, i, saturate_round(xs[static_cast<size_t>(i)] / s, z, lo, hi));
      }
    }
  }
  return Status::ok();
}

Status dequantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (!dtype_is_integer(x.dtype())) {
    return unsupported(ctx.node().describe() + ": dequantizing " + dtype_name(x.dtype()) + " is not supported");
  }
  if (zp && zp->dtype() != x.dtype()) return ctx.error("zero point dtype must match the input dtype");
  if (!dtype_is_float(scale.dtype())) return ctx.error("scale must be a float tensor");
  TANDEM_ASSIGN_OR_RETURN(QuantLayout l, quant_layout(ctx, x, scale, zp));
  TANDEM_ASSIGN_OR_RETURN(std::vector<int32_t> xs, int32_values(ctx, x));
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> ss, float_values(ctx, scale));
  std::vector<int32_t> zs(ss.size(), 0);
  if (zp) { TANDEM_ASSIGN_OR_RETURN(zs, int32_values(ctx, *zp)); }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, scale.dtype(), x.shape()));
  int64_t i = 0;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t c = 0; c < l.channels; ++c) {
      const float s = ss[static_cast<size_t>(l.per_axis ? c : 0)];
      const int32_t z = zs[static_cast<size_t>(l.per_axis ? c : 0)];
      for (int64_t k = 0; k < l.inner; ++k, ++i) {
        // int64 difference: int32 inputs with a zero point must not overflow.
        const auto d = static_cast<int64_t>(xs[static_cast<size_t>(i)]) - z;
        store_float(y, i, static_cast<float>(d) * s);
      }
    }
  }
  return Status::ok();
}

Status dynamic_quantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!dtype_is_float(x.dtype())) return ctx.error("input must be float");
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> xs, float_values(ctx, x));
  // The range always includes 0 so that 0 is exactly representable.
  float mn = 0, mx = 0;
  for (float v : xs) {
    if (std::isnan(v)) continue;
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  const float scale = (mx - mn) / 255.0f;
  int32_t zp = 0;
  if (scale > 0 && std::isfinite(scale)) zp = saturate_round((0.0f - mn) / scale, 0, 0, 255);
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kUInt8, x.shape()));
  uint8_t* yd = y.data<uint8_t>();
  for (size_t i = 0; i < xs.size(); ++i) {
    yd[i] = scale > 0 ? static_cast<uint8_t>(saturate_round(xs[i] / scale, zp, 0, 255)) : static_cast<uint8_t>(zp);
  }
  if (ctx.has_output(1)) {
    TANDEM_ASSIGN_OR_RETURN(Tensor s, ctx.allocate_output(1, DType::kFloat32, {}));
    s.data<float>()[0] = scale;
  }
  if (ctx.has_output(2)) {
    TANDEM_ASSIGN_OR_RETURN(Tensor z, ctx.allocate_output(2, DType::kUInt8, {}));
    z.data<uint8_t>()[0] = static_cast<uint8_t>(zp);
  }
  return Status::ok();
}

bool is_8bit(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// ---- integer matrix multiplication --------------------------------------

// A per-row (or per-column) quantization parameter of a batched matmul operand:
// one value, one per row, or one per (batch, row).
struct RowParam {
  std::vector<float> f;
  std::vector<int32_t> i;
  int64_t rows = 1;  // M (or N)
  bool per_batch = false;
  bool single = true;
  size_t index(int64_t batch, int64_t row) const {
    if (single) return 0;
    return static_cast<size_t>(per_batch ? batch * rows + row : row);
  }
};

Result<RowParam> row_param(const KernelContext& ctx, size_t input, int64_t rows, int64_t batches, bool is_float,
                           const char* what) {
  RowParam p;
  p.rows = rows;
  if (!ctx.has_input(input)) {
    p.i = {0};
    p.f = {1.0f};
    return p;
  }
  const Tensor& t = ctx.input(input);
  const int64_t n = t.numel();
  if (n == 1) {
    p.single = true;
  } else if (n == rows) {
    p.single = false;
  } else if (n == rows * batches) {
    p.single = false;
    p.per_batch = true;
  } else {
    std::string expect = "1 or " + std::to_string(rows);
    if (batches > 1) expect += " or " + std::to_string(rows * batches);
    return ctx.error(std::string(what) + " has " + std::to_string(n) + " elements; expected " + expect);
  }
  if (is_float) {
    TANDEM_ASSIGN_OR_RETURN(p.f, float_values(ctx, t));
  } else {
    TANDEM_ASSIGN_OR_RETURN(p.i, int32_values(ctx, t));
  }
  return p;
}

// Batched matmul geometry with numpy broadcasting and 1-D promotion.
struct MatMulGeom {
  int64_t M = 1, K = 1, N = 1;
  Shape out_shape;
  Shape batch;                            // broadcast batch shape
  std::vector<int64_t> a_off, b_off;      // per output batch: matrix index into A / B
  int64_t a_batches = 1, b_batches = 1;   // number of matrices in A / B
};

Result<MatMulGeom> matmul_geom(const KernelContext& ctx, const Shape& as, const Shape& bs) {
  if (as.empty() || bs.empty()) return ctx.error("MatMul inputs must have rank >= 1");
  Shape a = as, b = bs;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  MatMulGeom g;
  g.M = a[a.size() - 2];
  g.K = a[a.size() - 1];
  g.N = b[b.size() - 1];
  if (b[b.size() - 2] != g.K) {
    return ctx.error("inner dimensions differ: " + shape_to_string(as) + " x " + shape_to_string(bs));
  }
  Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  TANDEM_ASSIGN_OR_RETURN(Broadcaster br, Broadcaster::make({ab, bb}));
  g.batch = br.output_shape();
  g.a_batches = shape_numel(ab);
  g.b_batches = shape_numel(bb);
  g.a_off.resize(static_cast<size_t>(br.size()));
  g.b_off.resize(static_cast<size_t>(br.size()));
  br.for_each([&](int64_t i, const int64_t* offs) {
    g.a_off[static_cast<size_t>(i)] = offs[0];
    g.b_off[static_cast<size_t>(i)] = offs[1];
  });
  g.out_shape = g.batch;
  if (as.size() > 1) g.out_shape.push_back(g.M);
  if (bs.size() > 1) g.out_shape.push_back(g.N);
  return g;
}

// c[M,N] = a[M,K] * b[K,N], int32, zero points already removed.
void gemm_i32(const int32_t* a, const int32_t* b, int32_t* c, int64_t M, int64_t K, int64_t N) {
  std::fill(c, c + M * N, 0);
  for (int64_t m = 0; m < M; ++m) {
    int32_t* cr = c + m * N;
    for (int64_t k = 0; k < K; ++k) {
      const int32_t av = a[m * K + k];
      if (av == 0) continue;
      const int32_t* br = b + k * N;
      for (int64_t n = 0; n < N; ++n) cr[n] += av * br[n];
    }
  }
}

// Converts one 8-bit matrix to int32 with zero points subtracted per row (a)
// or per column (b).
void load_matrix(const Tensor& t, int64_t offset, int64_t rows, int64_t cols, const RowParam& zp, int64_t batch,
                 bool zp_per_row, int32_t* out) {
  const bool u8 = t.dtype() == DType::kUInt8;
  const uint8_t* pu = t.data<uint8_t>() + offset;
  const int8_t* ps = t.data<int8_t>() + offset;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c;
      const int32_t z = zp.i[zp.index(batch, zp_per_row ? r : c)];
      out[i] = (u8 ? static_cast<int32_t>(pu[i]) : static_cast<int32_t>(ps[i])) - z;
    }
  }
}

// Shared by MatMulInteger and QLinearMatMul: calls emit(batch, a_batch, b_batch, acc[M*N]).
template <typename Emit>
Status integer_matmul(KernelContext& ctx, const Tensor& a, const Tensor& b, const RowParam& azp,
                      const RowParam& bzp, const MatMulGeom& g, Emit&& emit) {
  std::vector<int32_t> am(static_cast<size_t>(g.M * g.K)), bm(static_cast<size_t>(g.K * g.N)),
      acc(static_cast<size_t>(g.M * g.N));
  int64_t last_a = -1, last_b = -1;
  for (size_t bi = 0; bi < g.a_off.size(); ++bi) {
    const int64_t ia = g.a_off[bi], ib = g.b_off[bi];
    if (ia != last_a) load_matrix(a, ia * g.M * g.K, g.M, g.K, azp, ia, true, am.data());
    if (ib != last_b) load_matrix(b, ib * g.K * g.N, g.K, g.N, bzp, ib, false, bm.data());
    last_a = ia;
    last_b = ib;
    gemm_i32(am.data(), bm.data(), acc.data(), g.M, g.K, g.N);
    emit(static_cast<int64_t>(bi), ia, ib, acc.data());
  }
  (void)ctx;
  return Status::ok();
}

Status matmul_integer(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (!is_8bit(a.dtype()) || !is_8bit(b.dtype())) return ctx.error("inputs must be uint8 or int8");
  TANDEM_ASSIGN_OR_RETURN(MatMulGeom g, matmul_geom(ctx, a.shape(), b.shape()));
  if (ctx.has_input(2) && ctx.input(2).dtype() != a.dtype()) return ctx.error("a_zero_point dtype must match A");
  if (ctx.has_input(3) && ctx.input(3).dtype() != b.dtype()) return ctx.error("b_zero_point dtype must match B");
  TANDEM_ASSIGN_OR_RETURN(RowParam azp, row_param(ctx, 2, g.M, g.a_batches, false, "a_zero_point"));
  TANDEM_ASSIGN_OR_RETURN(RowParam bzp, row_param(ctx, 3, g.N, g.b_batches, false, "b_zero_point"));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kInt32, g.out_shape));
  int32_t* yd = y.data<int32_t>();
  const int64_t mn = g.M * g.N;
  return integer_matmul(ctx, a, b, azp, bzp, g, [&](int64_t bi, int64_t, int64_t, const int32_t* acc) {
    std::copy(acc, acc + mn, yd + bi * mn);
  });
}

Status qlinear_matmul(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(3);
  if (!is_8bit(a.dtype()) || !is_8bit(b.dtype())) return ctx.error("inputs must be uint8 or int8");
  if (!ctx.has_input(7)) return ctx.error("y_zero_point is required");
  const DType out_type = ctx.input(7).dtype();
  int32_t lo = 0, hi = 0;
  if (!quant_range(out_type, &lo, &hi)) return ctx.error("y_zero_point must be uint8 or int8");
  TANDEM_ASSIGN_OR_RETURN(MatMulGeom g, matmul_geom(ctx, a.shape(), b.shape()));
  TANDEM_ASSIGN_OR_RETURN(RowParam as, row_param(ctx, 1, g.M, g.a_batches, true, "a_scale"));
  TANDEM_ASSIGN_OR_RETURN(RowParam azp, row_param(ctx, 2, g.M, g.a_batches, false, "a_zero_point"));
  TANDEM_ASSIGN_OR_RETURN(RowParam bs, row_param(ctx, 4, g.N, g.b_batches, true, "b_scale"));
  TANDEM_ASSIGN_OR_RETURN(RowParam bzp, row_param(ctx, 5, g.N, g.b_batches, false, "b_zero_point"));
  if (ctx.input(6).numel() != 1 || ctx.input(7).numel() != 1) {
    return ctx.error("y_scale and y_zero_point must be scalars");
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> ys, float_values(ctx, ctx.input(6)));
  TANDEM_ASSIGN_OR_RETURN(std::vector<int32_t> yz, int32_values(ctx, ctx.input(7)));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, out_type, g.out_shape));
  const int64_t M = g.M, N = g.N;
  return integer_matmul(ctx, a, b, azp, bzp, g, [&](int64_t bi, int64_t ia, int64_t ib, const int32_t* acc) {
    for (int64_t m = 0; m < M; ++m) {
      const float sa = as.f[as.index(ia, m)];
      for (int64_t n = 0; n < N; ++n) {
        const float mult = sa * bs.f[bs.index(ib, n)] / ys[0];
        const float v = static_cast<float>(acc[m * N + n]) * mult;
        store_quantized(y, bi * M * N + m * N + n, saturate_round(v, yz[0], lo, hi));
      }
    }
  });
}

// ---- integer convolution -------------------------------------------------

// Computes int32 convolution of x (minus x_zp) with w (minus w_zp[m]) and hands
// each output channel's accumulators to emit(n, m, acc, spatial_size).
template <typename Emit>
Status integer_conv(KernelContext& ctx, const Tensor& x, const Tensor& w, int32_t x_zp,
                    const std::vector<int32_t>& w_zp, Shape* out_shape, DType out_type, Emit&& emit) {
  if (!is_8bit(x.dtype()) || !is_8bit(w.dtype())) return ctx.error("x and w must be uint8 or int8");
  TANDEM_ASSIGN_OR_RETURN(quant::ConvGeom g, quant::conv_geom(ctx, x.shape(), w.shape()));
  if (w_zp.size() != 1 && static_cast<int64_t>(w_zp.size()) != g.M) {
    return ctx.error("w_zero_point must have 1 or " + std::to_string(g.M) + " elements");
  }
  *out_shape = {g.N, g.M};
  for (int64_t o : g.out) out_shape->push_back(o);
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, out_type, *out_shape));
  const size_t nd = g.in.size();
  int64_t in_size = 1, out_size = 1, k_size = 1;
  for (size_t d = 0; d < nd; ++d) {
    in_size *= g.in[d];
    out_size *= g.out[d];
    k_size *= g.kernel[d];
  }
  const int64_t cg = g.C / g.group, mg = g.M / g.group;
  const int64_t rows = cg * k_size;
  // Column buffer [rows, out_size]; refuse absurd sizes before allocating.
  if (rows > 0 && out_size > (int64_t{1} << 31) / rows) return ctx.error("convolution is too large for im2col");
  std::vector<int32_t> col(static_cast<size_t>(rows * out_size));
  std::vector<int32_t> wm(static_cast<size_t>(mg * rows));
  std::vector<int32_t> acc(static_cast<size_t>(mg * out_size));
  std::vector<int64_t> kidx(nd), oidx(nd);
  const bool xu8 = x.dtype() == DType::kUInt8, wu8 = w.dtype() == DType::kUInt8;
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t gi = 0; gi < g.group; ++gi) {
      // im2col: row (c, kernel offset), column (output position); padding reads as x_zp (0 after shift).
      for (int64_t c = 0; c < cg; ++c) {
        const int64_t xbase = (n * g.C + gi * cg + c) * in_size;
        std::fill(kidx.begin(), kidx.end(), 0);
        for (int64_t k = 0; k < k_size; ++k) {
          int32_t* dst = col.data() + (c * k_size + k) * out_size;
          std::fill(oidx.begin(), oidx.end(), 0);
          for (int64_t p = 0; p < out_size; ++p) {
            int64_t off = 0;
            bool inside = true;
            for (size_t d = 0; d < nd; ++d) {
              const int64_t pos = oidx[d] * g.strides[d] - g.pads[d] + kidx[d] * g.dilations[d];
              if (pos < 0 || pos >= g.in[d]) { inside = false; break; }
              off = off * g.in[d] + pos;
            }
            if (!inside) {
              dst[p] = 0;
            } else {
              const int64_t xi = xbase + off;
              dst[p] = (xu8 ? static_cast<int32_t>(x.data<uint8_t>()[xi]) : static_cast<int32_t>(x.data<int8_t>()[xi])) -
                       x_zp;
            }
            for (size_t d = nd; d-- > 0;) {
              if (++oidx[d] < g.out[d]) break;
              oidx[d] = 0;
            }
          }
          for (size_t d = nd; d-- > 0;) {
            if (++kidx[d] < g.kernel[d]) break;
            kidx[d] = 0;
          }
        }
      }
      for (int64_t m = 0; m < mg; ++m) {
        const int64_t oc = gi * mg + m;
        const int32_t z = w_zp[w_zp.size() == 1 ? 0 : static_cast<size_t>(oc)];
        const int64_t wbase = oc * rows;
        for (int64_t r = 0; r < rows; ++r) {
          wm[static_cast<size_t>(m * rows + r)] =
              (wu8 ? static_cast<int32_t>(w.data<uint8_t>()[wbase + r]) : static_cast<int32_t>(w.data<int8_t>()[wbase + r])) - z;
        }
      }
      gemm_i32(wm.data(), col.data(), acc.data(), mg, rows, out_size);
      for (int64_t m = 0; m < mg; ++m) emit(y, n, gi * mg + m, acc.data() + m * out_size, out_size);
    }
  }
  return Status::ok();
}

Result<int32_t> scalar_zero_point(const KernelContext& ctx, size_t input, DType expect) {
  if (!ctx.has_input(input)) return 0;
  const Tensor& t = ctx.input(input);
  if (t.numel() != 1) return ctx.error("input " + std::to_string(input) + " must be a scalar zero point");
  if (t.dtype() != expect) return ctx.error("zero point dtype must match its data input");
  TANDEM_ASSIGN_OR_RETURN(std::vector<int32_t> v, int32_values(ctx, t));
  return v[0];
}

Status conv_integer(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  TANDEM_ASSIGN_OR_RETURN(int32_t xz, scalar_zero_point(ctx, 2, x.dtype()));
  std::vector<int32_t> wz = {0};
  if (ctx.has_input(3)) {
    if (ctx.input(3).dtype() != w.dtype()) return ctx.error("w_zero_point dtype must match w");
    TANDEM_ASSIGN_OR_RETURN(wz, int32_values(ctx, ctx.input(3)));
  }
  Shape out_shape;
  return integer_conv(ctx, x, w, xz, wz, &out_shape, DType::kInt32,
                      [&](Tensor& y, int64_t n, int64_t m, const int32_t* acc, int64_t size) {
                        const int64_t M = out_shape[1];
                        std::copy(acc, acc + size, y.data<int32_t>() + (n * M + m) * size);
                      });
}

Status qlinear_conv(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(3);
  if (!ctx.has_input(7)) return ctx.error("y_zero_point is required");
  const DType out_type = ctx.input(7).dtype();
  int32_t lo = 0, hi = 0;
  if (!quant_range(out_type, &lo, &hi)) return ctx.error("y_zero_point must be uint8 or int8");
  TANDEM_ASSIGN_OR_RETURN(int32_t xz, scalar_zero_point(ctx, 2, x.dtype()));
  TANDEM_ASSIGN_OR_RETURN(int32_t yz, scalar_zero_point(ctx, 7, out_type));
  std::vector<int32_t> wz = {0};
  if (ctx.has_input(5)) {
    if (ctx.input(5).dtype() != w.dtype()) return ctx.error("w_zero_point dtype must match w");
    TANDEM_ASSIGN_OR_RETURN(wz, int32_values(ctx, ctx.input(5)));
  }
  if (ctx.input(1).numel() != 1 || ctx.input(6).numel() != 1) return ctx.error("x_scale and y_scale must be scalars");
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> xs, float_values(ctx, ctx.input(1)));
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> ws, float_values(ctx, ctx.input(4)));
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> ys, float_values(ctx, ctx.input(6)));
  const int64_t M = w.rank() > 0 ? w.dim(0) : 0;
  if (ws.size() != 1 && static_cast<int64_t>(ws.size()) != M) {
    return ctx.error("w_scale must have 1 or " + std::to_string(M) + " elements");
  }
  std::vector<int32_t> bias;
  if (ctx.has_input(8)) {
    const Tensor& bt = ctx.input(8);
    if (bt.dtype() != DType::kInt32 || bt.numel() != M) return ctx.error("B must be int32 with one value per output channel");
    bias.assign(bt.data<int32_t>(), bt.data<int32_t>() + M);
  }
  Shape out_shape;
  return integer_conv(ctx, x, w, xz, wz, &out_shape, out_type,
                      [&](Tensor& y, int64_t n, int64_t m, const int32_t* acc, int64_t size) {
                        const float mult = xs[0] * ws[ws.size() == 1 ? 0 : static_cast<size_t>(m)] / ys[0];
                        const int32_t b = bias.empty() ? 0 : bias[static_cast<size_t>(m)];
                        const int64_t base = (n * M + m) * size;
                        for (int64_t p = 0; p < size; ++p) {
                          const float v = static_cast<float>(acc[p] + b) * mult;
                          store_quantized(y, base + p, saturate_round(v, yz, lo, hi));
                        }
                      });
}

}  // namespace

void register_quantization_kernels() {
  register_kernel("", "QuantizeLinear", quantize_linear);
  register_kernel("", "DequantizeLinear", dequantize_linear);
  register_kernel("", "DynamicQuantizeLinear", dynamic_quantize_linear);
  register_kernel("", "MatMulInteger", matmul_integer);
  register_kernel("", "QLinearMatMul", qlinear_matmul);
  register_kernel("", "ConvInteger", conv_integer);
  register_kernel("", "QLinearConv", qlinear_conv);
}

}  // namespace tandem::reference
