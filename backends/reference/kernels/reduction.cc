// Reference kernels: reduction family (Reduce*, ArgMax, ArgMin).
//
// A reduction merges adjacent dims that are all reduced or all kept, then walks
// the input once in memory order with a running output offset; the innermost
// merged dim is a contiguous run handled in a tight loop. Accumulation is in
// double for floating types and in 64-bit integers for integer types.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/reference/kernels/common.h"
#include "backends/reference/kernels/math_common.h"

namespace tandem::reference {
namespace {

using mathk::emit_from_float32;
using mathk::span_numel;

enum class ReduceOp { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// The input viewed as merged dims, each wholly reduced or kept.
struct ReducePlan {
  std::vector<int64_t> dims;
  std::vector<int64_t> out_strides;  // 0 for reduced dims
  std::vector<bool> reduced;
  int64_t in_numel = 0;
  int64_t out_numel = 0;
  int64_t count = 0;  // input elements per output element
};

ReducePlan make_plan(const Shape& shape, const std::vector<bool>& mask) {
  ReducePlan p;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;  // size-1 dims change nothing in the walk
    if (!p.dims.empty() && p.reduced.back() == mask[d]) {
      p.dims.back() *= shape[d];
    } else {
      p.dims.push_back(shape[d]);
      p.reduced.push_back(mask[d]);
    }
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    p.reduced.push_back(true);
  }
  p.out_strides.assign(p.dims.size(), 0);
  int64_t s = 1;
  for (size_t d = p.dims.size(); d-- > 0;) {
    if (!p.reduced[d]) {
      p.out_strides[d] = s;
      s *= p.dims[d];
    }
  }
  // From the original shape so that empty inputs still give the right sizes.
  p.out_numel = 1;
  p.count = 1;
  for (size_t d = 0; d < shape.size(); ++d) (mask[d] ? p.count : p.out_numel) *= shape[d];
  p.in_numel = p.out_numel * p.count;
  return p;
}

// Calls fn(in_offset, out_offset, run_length, run_is_reduced) for each run of the innermost merged dim.
template <typename Fn>
void walk(const ReducePlan& p, Fn&& fn) {
  const size_t r = p.dims.size();
  const int64_t inner = p.dims[r - 1];
  if (inner == 0 || p.in_numel == 0) return;
  const bool inner_reduced = p.reduced[r - 1];
  const int64_t outer = p.in_numel / inner;
  std::vector<int64_t> idx(r - 1, 0);
  int64_t out_off = 0;
  for (int64_t o = 0; o < outer; ++o) {
    fn(o * inner, out_off, inner, inner_reduced);
    for (size_t d = r - 1; d-- > 0;) {
      ++idx[d];
      out_off += p.out_strides[d];
      if (idx[d] < p.dims[d]) break;
      out_off -= p.out_strides[d] * p.dims[d];
      idx[d] = 0;
    }
  }
}

template <typename T>
using AccOf = std::conditional_t<std::is_floating_point_v<T>, double,
                                 std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <typename A>
bool is_nan(A v) {
  if constexpr (std::is_floating_point_v<A>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

template <typename T>
void reduce_typed(ReduceOp op, const ReducePlan& p, const T* x, T* y) {
  using A = AccOf<T>;
  const size_t n_out = static_cast<size_t>(p.out_numel);
  // Identity of each combine; for float max/min that is -inf/+inf (also the
  // result of reducing an empty set).
  A init{};
  if (op == ReduceOp::kProd) init = A(1);
  if (op == ReduceOp::kMax || op == ReduceOp::kLogSumExp) {
    if constexpr (std::is_floating_point_v<A>) {
      init = -std::numeric_limits<A>::infinity();
    } else {
      init = static_cast<A>(std::numeric_limits<T>::lowest());
    }
  }
  if (op == ReduceOp::kMin) {
    if constexpr (std::is_floating_point_v<A>) {
      init = std::numeric_limits<A>::infinity();
    } else {
      init = static_cast<A>(std::numeric_limits<T>::max());
    }
  }
  std::vector<A> acc(n_out, init);

  // Every op is "combine a transformed element into the accumulator".
  auto run = [&](auto combine) {
    walk(p, [&](int64_t in_off, int64_t out_off, int64_t len, bool reduced) {
      const T* xs = x + in_off;
      if (reduced) {
        A a = acc[static_cast<size_t>(out_off)];
        for (int64_t i = 0; i < len; ++i) a = combine(a, static_cast<A>(xs[i]));
        acc[static_cast<size_t>(out_off)] = a;
      } else {
        A* as = acc.data() + out_off;
        for (int64_t i = 0; i < len; ++i) as[i] = combine(as[i], static_cast<A>(xs[i]));
      }
    });
  };
  std::vector<A> maxes;
  switch (op) {
    case ReduceOp::kSum: case ReduceOp::kMean: case ReduceOp::kLogSum:
      run([](A a, A v) { return a + v; });
      break;
    case ReduceOp::kSumSquare: case ReduceOp::kL2:
      run([](A a, A v) { return a + v * v; });
      break;
    case ReduceOp::kL1:
      run([](A a, A v) {
        if constexpr (std::is_signed_v<A>) {
          return a + (v < 0 ? -v : v);
        } else {
          return a + v;
        }
      });
      break;
    case ReduceOp::kProd:
      run([](A a, A v) { return a * v; });
      break;
    case ReduceOp::kMax:
      run([](A a, A v) { return (v > a || is_nan(v)) && !is_nan(a) ? v : a; });
      break;
    case ReduceOp::kMin:
      run([](A a, A v) { return (v < a || is_nan(v)) && !is_nan(a) ? v : a; });
      break;
    case ReduceOp::kLogSumExp: {
      run([](A a, A v) { return (v > a || is_nan(v)) && !is_nan(a) ? v : a; });
      maxes.swap(acc);
      acc.assign(n_out, A{});
      walk(p, [&](int64_t in_off, int64_t out_off, int64_t len, bool reduced) {
        const T* xs = x + in_off;
        for (int64_t i = 0; i < len; ++i) {
          const size_t o = static_cast<size_t>(reduced ? out_off : out_off + i);
          if (std::isinf(static_cast<double>(maxes[o]))) continue;  // all -inf, or +inf present
          acc[o] += static_cast<A>(std::exp(static_cast<double>(xs[i]) - static_cast<double>(maxes[o])));
        }
      });
      break;
    }
  }

  for (size_t o = 0; o < n_out; ++o) {
    const A a = acc[o];
    switch (op) {
      case ReduceOp::kMean:
        if constexpr (std::is_floating_point_v<A>) {
          y[o] = static_cast<T>(a / static_cast<double>(p.count));
        } else {
          y[o] = p.count == 0 ? T{} : static_cast<T>(a / static_cast<A>(p.count));
        }
        break;
      case ReduceOp::kL2: y[o] = static_cast<T>(std::sqrt(static_cast<double>(a))); break;
      case ReduceOp::kLogSum: y[o] = static_cast<T>(std::log(static_cast<double>(a))); break;
      case ReduceOp::kLogSumExp: {
        const double m = static_cast<double>(maxes[o]);
        y[o] = static_cast<T>(std::isinf(m) ? m : m + std::log(static_cast<double>(a)));
        break;
      }
      default: y[o] = static_cast<T>(a); break;
    }
  }
}

// Reduced-axis mask from the axes input (when given) or attribute. Sets *noop
// when the axes are empty and noop_with_empty_axes asks for the identity.
Status reduce_mask(const KernelContext& ctx, int64_t rank, std::vector<bool>* mask, bool* noop) {
  if (ctx.has_input(1) && !dtype_is_integer(ctx.input(1).dtype())) {
    return ctx.error("axes must be an int64 tensor");
  }
  auto axes_or = axes_from(ctx, 1, "axes", rank);
  if (!axes_or.is_ok()) return ctx.error(axes_or.status().message());
  const std::vector<int64_t>& axes = axes_or.value();
  *noop = false;
  mask->assign(static_cast<size_t>(rank), axes.empty());
  if (axes.empty()) {
    *noop = ctx.node().attr_int("noop_with_empty_axes", 0) != 0;
    return Status::ok();
  }
  for (int64_t a : axes) {
    if (a >= rank) return ctx.error("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    (*mask)[static_cast<size_t>(a)] = true;
  }
  return Status::ok();
}

template <ReduceOp kOp>
Status reduce(KernelContext& ctx) {
  const Tensor& x_in = ctx.input(0);
  const DType dtype = x_in.dtype();
  const int64_t rank = static_cast<int64_t>(x_in.rank());
  std::vector<bool> mask;
  bool noop = false;
  TANDEM_RETURN_IF_ERROR(reduce_mask(ctx, rank, &mask, &noop));
  if (noop) {
    if (dtype == DType::kString) return ctx.error("string tensors cannot be reduced");
    TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dtype, x_in.shape()));
    if (x_in.byte_size() > 0) std::memmove(y.raw_data(), x_in.raw_data(), x_in.byte_size());
    return Status::ok();
  }
  const bool keepdims = ctx.node().attr_int("keepdims", 1) != 0;
  Shape out_shape;
  for (size_t d = 0; d < x_in.rank(); ++d) {
    if (!mask[d]) {
      out_shape.push_back(x_in.dim(d));
    } else if (keepdims) {
      out_shape.push_back(1);
    }
  }
  const ReducePlan plan = make_plan(x_in.shape(), mask);
  if (is_half(dtype)) {
    TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x_in));
    TANDEM_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(DType::kFloat32, out_shape));
    reduce_typed<float>(kOp, plan, x.data<float>(), y.data<float>());
    return emit_from_float32(ctx, 0, y, dtype);
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dtype, out_shape));
  return visit_numeric(dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    reduce_typed<T>(kOp, plan, x_in.data<T>(), y.data<T>());
    return Status::ok();
  });
}

// ---- ArgMax / ArgMin -----------------------------------------------------------

template <bool kMax>
Status arg_reduce(KernelContext& ctx) {
  const Tensor& x_in = ctx.input(0);
  const int64_t rank = static_cast<int64_t>(x_in.rank());
  if (rank == 0) return ctx.error("input must have rank >= 1");
  int64_t axis = ctx.node().attr_int("axis", 0);
  if (axis < -rank || axis >= rank) {
    return ctx.error("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  if (axis < 0) axis += rank;
  const size_t ax = static_cast<size_t>(axis);
  const bool keepdims = ctx.node().attr_int("keepdims", 1) != 0;
  const bool last = ctx.node().attr_int("select_last_index", 0) != 0;
  const Shape& shape = x_in.shape();
  const int64_t len = shape[ax];
  Shape out_shape = shape;
  if (keepdims) {
    out_shape[ax] = 1;
  } else {
    out_shape.erase(out_shape.begin() + axis);
  }
  const int64_t outer = span_numel(shape, 0, ax), inner = span_numel(shape, ax + 1, shape.size());
  if (len == 0 && outer * inner > 0) return ctx.error("cannot take the arg of an empty axis");
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x_in));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kInt64, out_shape));
  int64_t* yp = y.data<int64_t>();
  return visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    std::vector<T> best(static_cast<size_t>(inner));
    for (int64_t o = 0; o < outer; ++o) {
      const T* xs = xp + o * len * inner;
      int64_t* ys = yp + o * inner;
      for (int64_t i = 0; i < inner; ++i) {
        best[static_cast<size_t>(i)] = xs[i];
        ys[i] = 0;
      }
      // Rows in order, so the inner loop is contiguous; ties go to the first
      // (or, with select_last_index, the last) index.
      for (int64_t l = 1; l < len; ++l) {
        const T* row = xs + l * inner;
        for (int64_t i = 0; i < inner; ++i) {
          const T v = row[i];
          T& b = best[static_cast<size_t>(i)];
          const bool better = kMax ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
          if (better) {
            b = v;
            ys[i] = l;
          }
        }
      }
    }
    return Status::ok();
  });
}

}  // namespace

void register_reduction_kernels() {
  register_kernel("", "ReduceSum", reduce<ReduceOp::kSum>);
  register_kernel("", "ReduceMean", reduce<ReduceOp::kMean>);
  register_kernel("", "ReduceMax", reduce<ReduceOp::kMax>);
  register_kernel("", "ReduceMin", reduce<ReduceOp::kMin>);
  register_kernel("", "ReduceProd", reduce<ReduceOp::kProd>);
  register_kernel("", "ReduceL1", reduce<ReduceOp::kL1>);
  register_kernel("", "ReduceL2", reduce<ReduceOp::kL2>);
  register_kernel("", "ReduceLogSum", reduce<ReduceOp::kLogSum>);
  register_kernel("", "ReduceLogSumExp", reduce<ReduceOp::kLogSumExp>);
  register_kernel("", "ReduceSumSquare", reduce<ReduceOp::kSumSquare>);
  register_kernel("", "ArgMax", arg_reduce<true>);
  register_kernel("", "ArgMin", arg_reduce<false>);
}

}  // namespace tandem::reference
