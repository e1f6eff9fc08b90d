// Reference kernels: Resize (opsets 10-19) and Upsample. The semantics (parameters, per-axis
// taps) are core/graph/resize_taps; this applies the taps axis by axis.
#include <cmath>
#include <limits>
#include <type_traits>

#include "backends/reference/kernels/nn_common.h"
#include "core/graph/resize_taps.h"

namespace tandem::reference {
namespace {

using graph::ResizeParams;
using graph::ResizeTaps;

template <typename T>
T from_acc(double v) {
  if constexpr (std::is_integral_v<T>) {
    v = std::nearbyint(v);
    v = std::clamp(v, static_cast<double>(std::numeric_limits<T>::lowest()),
                   static_cast<double>(std::numeric_limits<T>::max()));
  }
  return static_cast<T>(v);
}

// Resizes axis d of src (viewed as [outer, in_d, inner]) into dst [outer, out_d, inner].
template <typename T>
void resize_axis(const T* src, T* dst, int64_t outer, int64_t in_d, int64_t inner, const ResizeTaps& m, int64_t out_d,
                 T extrapolation, std::vector<double>& acc) {
  acc.assign(static_cast<size_t>(inner), 0.0);
  for (int64_t b = 0; b < outer; ++b) {
    const T* s = src + b * in_d * inner;
    for (int64_t o = 0; o < out_d; ++o) {
      T* drow = dst + (b * out_d + o) * inner;
      if (m.outside[o]) {
        std::fill(drow, drow + inner, extrapolation);
        continue;
      }
      if (m.taps == 1) {
        const T* srow = s + m.idx[o] * inner;
        std::copy(srow, srow + inner, drow);
        continue;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t t = 0; t < m.taps; ++t) {
        const double wv = m.w[o * m.taps + t];
        if (wv == 0) continue;
        const T* srow = s + m.idx[o * m.taps + t] * inner;
        for (int64_t i = 0; i < inner; ++i) acc[i] += wv * static_cast<double>(srow[i]);
      }
      for (int64_t i = 0; i < inner; ++i) drow[i] = from_acc<T>(acc[i]);
    }
  }
}

Status run_resize(KernelContext& ctx, const Tensor& x0, const ResizeParams& p) {
  const size_t rank = x0.rank();
  // The output first: its allocation refuses absurd sizes before any per-axis tables are built.
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x0.dtype(), p.out));
  std::vector<ResizeTaps> maps(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (x0.dim(d) == 0 && p.out[d] > 0) return ctx.error("cannot resize an empty dim to a non-empty one");
    if (p.out[d] == 0 || x0.dim(d) == 0) {
      maps[d].identity = false;
      continue;
    }
    Result<ResizeTaps> taps = graph::resize_taps(p, d, x0.dim(d));
    if (!taps.is_ok()) return ctx.error(taps.status().message());
    maps[d] = std::move(*taps);
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  if (y.numel() == 0) return nn::finish_output(ctx, 0, x0.dtype(), y);
  Status st = visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T extrapolation = from_acc<T>(p.extrapolation);
    std::vector<double> acc;
    Tensor cur = x;
    Shape shape = x0.shape();
    std::vector<size_t> todo;
    for (size_t d = 0; d < rank; ++d) {
      if (!maps[d].identity) todo.push_back(d);
    }
    if (todo.empty()) {
      std::copy(x.data<T>(), x.data<T>() + x.numel(), y.data<T>());
      return Status::ok();
    }
    for (size_t k = 0; k < todo.size(); ++k) {
      const size_t d = todo[k];
      Shape next_shape = shape;
      next_shape[d] = p.out[d];
      Tensor next;
      if (k + 1 == todo.size()) {
        next = y;
      } else {
        TANDEM_ASSIGN_OR_RETURN(next, Tensor::allocate(x.dtype(), next_shape));
      }
      int64_t outer = 1, inner = 1;
      for (size_t e = 0; e < d; ++e) outer *= shape[e];
      for (size_t e = d + 1; e < rank; ++e) inner *= shape[e];
      resize_axis<T>(cur.data<T>(), next.data<T>(), outer, shape[d], inner, maps[d], p.out[d], extrapolation, acc);
      cur = next;
      shape = next_shape;
    }
    return Status::ok();
  });
  if (!st.is_ok()) return st;
  return nn::finish_output(ctx, 0, x0.dtype(), y);
}

Status check_resize_input(const KernelContext& ctx, const Tensor& x) {
  if (x.dtype() == DType::kString || x.dtype() == DType::kBool || x.dtype() == DType::kUndefined) {
    return ctx.error(std::string("X dtype ") + dtype_name(x.dtype()) + " is not supported");
  }
  return Status::ok();
}

// Resize and Upsample: the parameters from the node and its inputs (core/graph/resize_taps).
Status resize(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  TANDEM_RETURN_IF_ERROR(check_resize_input(ctx, *xp));
  std::vector<const Tensor*> inputs(ctx.node().inputs.size(), nullptr);
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (ctx.has_input(i)) inputs[i] = &ctx.input(i);
  }
  Result<ResizeParams> p = graph::resize_params(ctx.node(), ctx.opset(), xp->shape(), inputs);
  if (!p.is_ok()) return ctx.error(p.status().message());
  return run_resize(ctx, *xp, *p);
}

}  // namespace

void register_nn_resize_kernels() {
  register_kernel("", "Resize", resize);
  register_kernel("", "Upsample", resize);
}

}  // namespace tandem::reference
