// Reference kernels: math family (MatMul, Gemm, com.tandem.FullyConnected,
// Softmax/LogSoftmax/Hardmax, CumSum, TopK, Det). Einsum lives in
// math_einsum.cc, the losses in math_loss.cc.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "backends/reference/kernels/activation.h"
#include "backends/reference/kernels/common.h"
#include "backends/reference/kernels/math_common.h"
#include "backends/reference/kernels/math_gemm.h"

namespace tandem::reference {

void register_math_einsum_kernels();
void register_math_loss_kernels();

namespace {

using mathk::emit_from_float32;
using mathk::span_numel;

bool is_matmul_dtype(DType t) {
  switch (t) {
    case DType::kFloat32: case DType::kFloat64: case DType::kFloat16: case DType::kBFloat16:
    case DType::kInt32: case DType::kInt64: case DType::kUInt32: case DType::kUInt64:
      return true;
    default:
      return false;
  }
}

// Y[M,N] = A[M,K] * B[K,N] for one batch entry, plain i-k-j loop (non-float32 types).
template <typename T>
void matmul_plain(const T* a, const T* b, T* y, int64_t M, int64_t N, int64_t K) {
  for (int64_t i = 0; i < M; ++i) {
    T* yr = y + i * N;
    std::fill(yr, yr + N, T{});
    for (int64_t k = 0; k < K; ++k) {
      const T av = a[i * K + k];
      const T* br = b + k * N;
      for (int64_t j = 0; j < N; ++j) yr[j] += av * br[j];
    }
  }
}

// ---- MatMul ------------------------------------------------------------------

Status matmul(KernelContext& ctx) {
  const Tensor& a_in = ctx.input(0);
  const Tensor& b_in = ctx.input(1);
  if (a_in.dtype() != b_in.dtype()) {
    return ctx.error(std::string("inputs have different dtypes: ") + dtype_name(a_in.dtype()) + " and " +
                     dtype_name(b_in.dtype()));
  }
  const DType dtype = a_in.dtype();
  if (!is_matmul_dtype(dtype)) return ctx.error(std::string("dtype ") + dtype_name(dtype) + " is not supported");
  if (a_in.rank() == 0 || b_in.rank() == 0) return ctx.error("inputs must have rank >= 1 (got a scalar)");

  Shape as = a_in.shape(), bs = b_in.shape();
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  if (bs[bs.size() - 2] != K) {
    return ctx.error("inner dimensions differ: A is " + shape_to_string(a_in.shape()) + ", B is " +
                     shape_to_string(b_in.shape()));
  }
  const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  auto bc = Broadcaster::make({a_batch, b_batch});
  if (!bc.is_ok()) {
    return ctx.error("batch dimensions do not broadcast: A is " + shape_to_string(a_in.shape()) + ", B is " +
                     shape_to_string(b_in.shape()));
  }
  Shape out_shape = bc->output_shape();
  if (!a_vec) out_shape.push_back(M);
  if (!b_vec) out_shape.push_back(N);

  const bool half = is_half(dtype);
  TANDEM_ASSIGN_OR_RETURN(Tensor a, to_float32(a_in));
  TANDEM_ASSIGN_OR_RETURN(Tensor b, to_float32(b_in));
  Tensor y;
  if (half) {
    TANDEM_ASSIGN_OR_RETURN(y, Tensor::allocate(DType::kFloat32, out_shape));
  } else {
    TANDEM_ASSIGN_OR_RETURN(y, ctx.allocate_output(0, dtype, out_shape));
  }
  const DType compute = half ? DType::kFloat32 : dtype;

  const int64_t a_mat = M * K, b_mat = K * N, y_mat = M * N;
  const bool b_unbatched = span_numel(b_batch, 0, b_batch.size()) == 1;
  Status st;
  if (compute == DType::kFloat32 && b_unbatched) {
    // B is shared by every batch entry: one GEMM over all rows of A.
    const int64_t rows = span_numel(a_batch, 0, a_batch.size()) * M;
    gemm_f32(false, false, rows, N, K, 1.0f, a.data<float>(), K, b.data<float>(), N, 0.0f, y.data<float>(), N);
  } else {
    st = visit_numeric(compute, [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* ap = a.data<T>();
      const T* bp = b.data<T>();
      T* yp = y.data<T>();
      bc->for_each([&](int64_t out_index, const int64_t* offs) {
        if constexpr (std::is_same_v<T, float>) {
          gemm_f32(false, false, M, N, K, 1.0f, ap + offs[0] * a_mat, K, bp + offs[1] * b_mat, N, 0.0f,
                   yp + out_index * y_mat, N);
        } else {
          matmul_plain<T>(ap + offs[0] * a_mat, bp + offs[1] * b_mat, yp + out_index * y_mat, M, N, K);
        }
      });
      return Status::ok();
    });
  }
  TANDEM_RETURN_IF_ERROR(st);
  if (half) return emit_from_float32(ctx, 0, y, dtype);
  return Status::ok();
}

// ---- Gemm --------------------------------------------------------------------

Status gemm(KernelContext& ctx) {
  const Tensor& a_in = ctx.input(0);
  const Tensor& b_in = ctx.input(1);
  const DType dtype = a_in.dtype();
  if (b_in.dtype() != dtype || (ctx.has_input(2) && ctx.input(2).dtype() != dtype)) {
    return ctx.error("inputs must share one dtype");
  }
  if (!is_matmul_dtype(dtype)) return ctx.error(std::string("dtype ") + dtype_name(dtype) + " is not supported");
  if (a_in.rank() != 2 || b_in.rank() != 2) {
    return ctx.error("A and B must be 2-D, got " + shape_to_string(a_in.shape()) + " and " +
                     shape_to_string(b_in.shape()));
  }
  const bool ta = ctx.node().attr_int("transA", 0) != 0;
  const bool tb = ctx.node().attr_int("transB", 0) != 0;
  const float alpha = ctx.node().attr_float("alpha", 1.0f);
  const float beta = ctx.node().attr_float("beta", 1.0f);
  const int64_t M = ta ? a_in.dim(1) : a_in.dim(0);
  const int64_t K = ta ? a_in.dim(0) : a_in.dim(1);
  const int64_t N = tb ? b_in.dim(0) : b_in.dim(1);
  const int64_t Kb = tb ? b_in.dim(1) : b_in.dim(0);
  if (K != Kb) {
    return ctx.error("inner dimensions differ: A is " + shape_to_string(a_in.shape()) + (ta ? " (transposed)" : "") +
                     ", B is " + shape_to_string(b_in.shape()) + (tb ? " (transposed)" : ""));
  }
  // C broadcasts one way to [M, N].
  const bool has_c = ctx.has_input(2);
  int64_t c_rs = 0, c_cs = 0;  // strides of C in the [M, N] frame (0 where broadcast)
  if (has_c) {
    const Shape& cs = ctx.input(2).shape();
    if (cs.size() > 2) return ctx.error("C must have rank <= 2, got " + shape_to_string(cs));
    const int64_t cm = cs.size() == 2 ? cs[0] : 1;
    const int64_t cn = cs.empty() ? 1 : cs.back();
    if ((cm != 1 && cm != M) || (cn != 1 && cn != N)) {
      return ctx.error("C of shape " + shape_to_string(cs) + " does not broadcast to [" + std::to_string(M) + ", " +
                       std::to_string(N) + "]");
    }
    c_rs = cm == 1 ? 0 : cn;
    c_cs = cn == 1 ? 0 : 1;
  }

  const bool half = is_half(dtype);
  const DType compute = half ? DType::kFloat32 : dtype;
  TANDEM_ASSIGN_OR_RETURN(Tensor a, to_float32(a_in));
  TANDEM_ASSIGN_OR_RETURN(Tensor b, to_float32(b_in));
  Tensor c;
  if (has_c) {
    TANDEM_ASSIGN_OR_RETURN(c, to_float32(ctx.input(2)));
  }
  Tensor y;
  if (half) {
    TANDEM_ASSIGN_OR_RETURN(y, Tensor::allocate(DType::kFloat32, {M, N}));
  } else {
    TANDEM_ASSIGN_OR_RETURN(y, ctx.allocate_output(0, dtype, {M, N}));
  }
  TANDEM_RETURN_IF_ERROR(visit_numeric(compute, [&](auto tag) -> Status {
    using T = decltype(tag);
    T* yp = y.data<T>();
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        yp[i * N + j] = has_c ? static_cast<T>(beta * c.data<T>()[i * c_rs + j * c_cs]) : T{};
      }
    }
    const T* ap = a.data<T>();
    const T* bp = b.data<T>();
    if constexpr (std::is_same_v<T, float>) {
      gemm_f32(ta, tb, M, N, K, alpha, ap, a.dim(1), bp, b.dim(1), 1.0f, yp, N);
    } else {
      const int64_t lda = a.dim(1), ldb = b.dim(1);
      std::vector<T> row(static_cast<size_t>(N));
      for (int64_t i = 0; i < M; ++i) {
        std::fill(row.begin(), row.end(), T{});
        for (int64_t k = 0; k < K; ++k) {
          const T av = ta ? ap[k * lda + i] : ap[i * lda + k];
          for (int64_t j = 0; j < N; ++j) row[j] += av * (tb ? bp[j * ldb + k] : bp[k * ldb + j]);
        }
        for (int64_t j = 0; j < N; ++j) yp[i * N + j] += static_cast<T>(alpha * row[j]);
      }
    }
    return Status::ok();
  }));
  if (half) return emit_from_float32(ctx, 0, y, dtype);
  return Status::ok();
}

// ---- com.tandem.FullyConnected (core/passes) -----------------------------------

// Y[..., N] = X[..., K] @ W[K, N] (+ B[N]), then the node's activation. float32.
Status fully_connected(KernelContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.error("X and W are required");
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const bool has_b = ctx.has_input(2);
  if (x.dtype() != DType::kFloat32 || w.dtype() != DType::kFloat32 ||
      (has_b && ctx.input(2).dtype() != DType::kFloat32)) {
    return ctx.error("inputs must be float32");
  }
  if (x.rank() == 0 || w.rank() != 2 || x.dim(x.rank() - 1) != w.dim(0)) {
    return ctx.error("X " + shape_to_string(x.shape()) + " and W " + shape_to_string(w.shape()) +
                     " do not make X[..., K] @ W[K, N]");
  }
  const int64_t K = w.dim(0), N = w.dim(1);
  if (has_b && (ctx.input(2).rank() != 1 || ctx.input(2).dim(0) != N)) {
    return ctx.error("B must be [" + std::to_string(N) + "], got " + shape_to_string(ctx.input(2).shape()));
  }
  TANDEM_ASSIGN_OR_RETURN(FusedActivation act, fused_activation(ctx));
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(N);
  const int64_t rows = span_numel(x.shape(), 0, x.rank() - 1);
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kFloat32, out_shape));
  float* yp = y.data<float>();
  const float* bp = has_b ? ctx.input(2).data<float>() : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < N; ++j) yp[r * N + j] = bp != nullptr ? bp[j] : 0.0f;
  }
  if (rows > 0 && N > 0 && K > 0) {
    gemm_f32(false, false, rows, N, K, 1.0f, x.data<float>(), K, w.data<float>(), N, 1.0f, yp, N);
  }
  act.apply(yp, y.numel());
  return Status::ok();
}

// ---- Softmax / LogSoftmax / Hardmax -------------------------------------------

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

// Splits the input into [outer, len, inner] around the axis: before opset 13 the
// input is coerced to 2-D at the axis (len covers every later dim, default axis
// 1); from 13 on the op works along the one axis (default -1).
Status softmax_frame(const KernelContext& ctx, const Shape& shape, int64_t* outer, int64_t* len, int64_t* inner) {
  const bool legacy = ctx.opset() < 13;
  const int64_t rank = static_cast<int64_t>(shape.size());
  int64_t axis = ctx.node().attr_int("axis", legacy ? 1 : -1);
  if (rank == 0) {
    *outer = *len = *inner = 1;
    return Status::ok();
  }
  if (axis < -rank || axis >= rank) {
    return ctx.error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  if (axis < 0) axis += rank;
  const size_t ax = static_cast<size_t>(axis);
  *outer = span_numel(shape, 0, ax);
  if (legacy) {
    *len = span_numel(shape, ax, shape.size());
    *inner = 1;
  } else {
    *len = shape[ax];
    *inner = span_numel(shape, ax + 1, shape.size());
  }
  return Status::ok();
}

template <typename T>
void softmax_slices(SoftmaxKind kind, const T* x, T* y, int64_t outer, int64_t len, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      const T* xs = x + o * len * inner + in;
      T* ys = y + o * len * inner + in;
      if (len == 0) continue;
      T mx = xs[0];
      int64_t arg = 0;
      for (int64_t l = 1; l < len; ++l) {
        if (xs[l * inner] > mx) {
          mx = xs[l * inner];
          arg = l;
        }
      }
      if (kind == SoftmaxKind::kHardmax) {
        for (int64_t l = 0; l < len; ++l) ys[l * inner] = l == arg ? T(1) : T(0);
        continue;
      }
      double sum = 0;
      if (kind == SoftmaxKind::kSoftmax) {
        for (int64_t l = 0; l < len; ++l) {
          const T e = std::exp(xs[l * inner] - mx);
          ys[l * inner] = e;
          sum += e;
        }
        const T scale = static_cast<T>(1.0 / sum);
        for (int64_t l = 0; l < len; ++l) ys[l * inner] *= scale;
      } else {
        for (int64_t l = 0; l < len; ++l) sum += std::exp(xs[l * inner] - mx);
        const T lse = static_cast<T>(std::log(sum));
        for (int64_t l = 0; l < len; ++l) ys[l * inner] = xs[l * inner] - mx - lse;
      }
    }
  }
}

template <SoftmaxKind kKind>
Status softmax_like(KernelContext& ctx) {
  const Tensor& x_in = ctx.input(0);
  const DType dtype = x_in.dtype();
  if (!dtype_is_float(dtype)) {
    return ctx.error(std::string("input must be a floating-point tensor, got ") + dtype_name(dtype));
  }
  int64_t outer = 0, len = 0, inner = 0;
  TANDEM_RETURN_IF_ERROR(softmax_frame(ctx, x_in.shape(), &outer, &len, &inner));
  if (is_half(dtype)) {
    TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x_in));
    TANDEM_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(DType::kFloat32, x.shape()));
    softmax_slices<float>(kKind, x.data<float>(), y.data<float>(), outer, len, inner);
    return emit_from_float32(ctx, 0, y, dtype);
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dtype, x_in.shape()));
  return visit_float(dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    softmax_slices<T>(kKind, x_in.data<T>(), y.data<T>(), outer, len, inner);
    return Status::ok();
  });
}

// ---- CumSum ------------------------------------------------------------------

Status cumsum(KernelContext& ctx) {
  const Tensor& x_in = ctx.input(0);
  const Tensor& axis_t = ctx.input(1);
  if (!dtype_is_integer(axis_t.dtype()) || axis_t.numel() != 1 || axis_t.rank() > 1) {
    return ctx.error("axis must be an int32/int64 scalar");
  }
  const int64_t rank = static_cast<int64_t>(x_in.rank());
  if (rank == 0) return ctx.error("input must have rank >= 1");
  const int64_t axis_raw = axis_t.get_as_int64(0);
  if (axis_raw < -rank || axis_raw >= rank) {
    return ctx.error("axis " + std::to_string(axis_raw) + " is out of range for rank " + std::to_string(rank));
  }
  const size_t axis = static_cast<size_t>(axis_raw < 0 ? axis_raw + rank : axis_raw);
  const bool exclusive = ctx.node().attr_int("exclusive", 0) != 0;
  const bool reverse = ctx.node().attr_int("reverse", 0) != 0;
  const Shape& shape = x_in.shape();
  const int64_t outer = span_numel(shape, 0, axis), len = shape[axis],
                inner = span_numel(shape, axis + 1, shape.size());

  auto run = [&](auto tag, const Tensor& x, Tensor& y) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t in = 0; in < inner; ++in) {
        T sum{};
        for (int64_t s = 0; s < len; ++s) {
          const int64_t l = reverse ? len - 1 - s : s;
          const int64_t idx = (o * len + l) * inner + in;
          const T v = xp[idx];
          if (exclusive) {
            yp[idx] = sum;
            sum += v;
          } else {
            sum += v;
            yp[idx] = sum;
          }
        }
      }
    }
    return Status::ok();
  };
  if (is_half(x_in.dtype())) {
    TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x_in));
    TANDEM_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(DType::kFloat32, shape));
    TANDEM_RETURN_IF_ERROR(run(float{}, x, y));
    return emit_from_float32(ctx, 0, y, x_in.dtype());
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x_in.dtype(), shape));
  return visit_numeric(x_in.dtype(), [&](auto tag) { return run(tag, x_in, y); });
}

// ---- TopK --------------------------------------------------------------------

template <typename T>
bool topk_before(T a, int64_t ia, T b, int64_t ib, bool largest) {
  // NaN ranks above every number (as in numpy's sort); ties keep the lower index.
  if constexpr (std::is_floating_point_v<T>) {
    const bool na = std::isnan(a), nb = std::isnan(b);
    if (na || nb) {
      if (na && nb) return ia < ib;
      return largest ? na : nb;
    }
  }
  if (a != b) return largest ? a > b : a < b;
  return ia < ib;
}

Status topk(KernelContext& ctx) {
  const Tensor& x_in = ctx.input(0);
  const int64_t rank = static_cast<int64_t>(x_in.rank());
  if (rank == 0) return ctx.error("input must have rank >= 1");
  int64_t k = 0;
  if (ctx.opset() < 10 || !ctx.has_input(1)) {
    k = ctx.node().attr_int("k", -1);
  } else {
    const Tensor& kt = ctx.input(1);
    if (!dtype_is_integer(kt.dtype()) || kt.numel() != 1) return ctx.error("K must be a 1-element int64 tensor");
    k = kt.get_as_int64(0);
  }
  int64_t axis = ctx.node().attr_int("axis", -1);
  if (axis < -rank || axis >= rank) {
    return ctx.error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  if (axis < 0) axis += rank;
  const Shape& shape = x_in.shape();
  const int64_t len = shape[static_cast<size_t>(axis)];
  if (k < 0 || k > len) {
    return ctx.error("K = " + std::to_string(k) + " must be in [0, " + std::to_string(len) + "] (axis " +
                     std::to_string(axis) + " of " + shape_to_string(shape) + ")");
  }
  const bool largest = ctx.node().attr_int("largest", 1) != 0;
  // Results are always sorted: that is a valid answer for sorted=0 as well.
  Shape out_shape = shape;
  out_shape[static_cast<size_t>(axis)] = k;
  const int64_t outer = span_numel(shape, 0, static_cast<size_t>(axis));
  const int64_t inner = span_numel(shape, static_cast<size_t>(axis) + 1, shape.size());

  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x_in));
  TANDEM_ASSIGN_OR_RETURN(Tensor values, ctx.allocate_output(0, x_in.dtype(), out_shape));
  TANDEM_ASSIGN_OR_RETURN(Tensor indices, ctx.allocate_output(1, DType::kInt64, out_shape));
  int64_t* ip = indices.data<int64_t>();
  TANDEM_RETURN_IF_ERROR(visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    std::vector<int64_t> order(static_cast<size_t>(len));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t in = 0; in < inner; ++in) {
        const T* xs = xp + o * len * inner + in;
        std::iota(order.begin(), order.end(), int64_t{0});
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
          return topk_before<T>(xs[a * inner], a, xs[b * inner], b, largest);
        });
        for (int64_t r = 0; r < k; ++r) ip[(o * k + r) * inner + in] = order[static_cast<size_t>(r)];
      }
    }
    return Status::ok();
  }));
  // Values are gathered from the original tensor so float16 results are exact.
  return visit_any(x_in.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
      return ctx.error(std::string("dtype ") + dtype_name(x_in.dtype()) + " is not supported");
    } else {
      const T* xp = x_in.data<T>();
      T* vp = values.data<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t r = 0; r < k; ++r) {
          for (int64_t in = 0; in < inner; ++in) {
            const int64_t at = (o * k + r) * inner + in;
            vp[at] = xp[(o * len + ip[at]) * inner + in];
          }
        }
      }
      return Status::ok();
    }
  });
}

// ---- Det ---------------------------------------------------------------------

// Determinant by LU decomposition with partial pivoting, in double.
double determinant(std::vector<double>& m, int64_t n) {
  double det = 1.0;
  for (int64_t c = 0; c < n; ++c) {
    int64_t piv = c;
    for (int64_t r = c + 1; r < n; ++r) {
      if (std::fabs(m[r * n + c]) > std::fabs(m[piv * n + c])) piv = r;
    }
    if (m[piv * n + c] == 0.0) return 0.0;
    if (piv != c) {
      for (int64_t j = 0; j < n; ++j) std::swap(m[c * n + j], m[piv * n + j]);
      det = -det;
    }
    const double p = m[c * n + c];
    det *= p;
    for (int64_t r = c + 1; r < n; ++r) {
      const double f = m[r * n + c] / p;
      if (f == 0.0) continue;
      for (int64_t j = c; j < n; ++j) m[r * n + j] -= f * m[c * n + j];
    }
  }
  return det;
}

Status det(KernelContext& ctx) {
  const Tensor& x_in = ctx.input(0);
  const DType dtype = x_in.dtype();
  if (!dtype_is_float(dtype)) return ctx.error(std::string("input must be floating-point, got ") + dtype_name(dtype));
  const Shape& shape = x_in.shape();
  if (shape.size() < 2 || shape[shape.size() - 1] != shape[shape.size() - 2]) {
    return ctx.error("input must be [..., M, M], got " + shape_to_string(shape));
  }
  const int64_t n = shape.back();
  const Shape out_shape(shape.begin(), shape.end() - 2);
  const int64_t batch = span_numel(out_shape, 0, out_shape.size());
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x_in));
  std::vector<double> dets(static_cast<size_t>(batch));
  std::vector<double> m(static_cast<size_t>(n * n));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < n * n; ++i) m[static_cast<size_t>(i)] = x.get_as_double(b * n * n + i);
    dets[static_cast<size_t>(b)] = determinant(m, n);
  }
  if (is_half(dtype)) {
    TANDEM_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(DType::kFloat32, out_shape));
    for (int64_t b = 0; b < batch; ++b) y.data<float>()[b] = static_cast<float>(dets[static_cast<size_t>(b)]);
    return emit_from_float32(ctx, 0, y, dtype);
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dtype, out_shape));
  return visit_float(dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    for (int64_t b = 0; b < batch; ++b) y.data<T>()[b] = static_cast<T>(dets[static_cast<size_t>(b)]);
    return Status::ok();
  });
}

}  // namespace

void register_math_kernels() {
  register_kernel("", "MatMul", matmul);
  register_kernel("", "Gemm", gemm);
  register_kernel(passes::kTandemDomain, "FullyConnected", fully_connected);
  register_kernel("", "Softmax", softmax_like<SoftmaxKind::kSoftmax>);
  register_kernel("", "LogSoftmax", softmax_like<SoftmaxKind::kLogSoftmax>);
  register_kernel("", "Hardmax", softmax_like<SoftmaxKind::kHardmax>);
  register_kernel("", "CumSum", cumsum);
  register_kernel("", "TopK", topk);
  register_kernel("", "Det", det);
  register_math_einsum_kernels();
  register_math_loss_kernels();
}

}  // namespace tandem::reference
