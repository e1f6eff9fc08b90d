// Reference kernels: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
// Both see the input as [N, C, D] (D = product of the trailing dims) and the
// target as [N, D]; the loss is computed in double and written in the input dtype.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backends/reference/kernels/common.h"
#include "backends/reference/kernels/math_common.h"

namespace tandem::reference {
namespace {

using mathk::emit_from_float32;
using mathk::span_numel;

// Writes double values into output `i` of `dtype` (float32/float64/float16/bfloat16).
Status emit_doubles(KernelContext& ctx, size_t i, DType dtype, const Shape& shape, const std::vector<double>& v) {
  if (dtype == DType::kFloat64) {
    TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(i, dtype, shape));
    for (size_t k = 0; k < v.size(); ++k) out.data<double>()[k] = v[k];
    return Status::ok();
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor f, Tensor::allocate(DType::kFloat32, shape));
  for (size_t k = 0; k < v.size(); ++k) f.data<float>()[k] = static_cast<float>(v[k]);
  return emit_from_float32(ctx, i, f, dtype);
}

// Shared NLL over log-probabilities `logp` laid out [N, C, D].
Status nll(KernelContext& ctx, const std::vector<double>& logp, const Shape& in_shape, DType dtype) {
  const Tensor& target = ctx.input(1);
  const int64_t N = in_shape[0], C = in_shape[1];
  const int64_t D = span_numel(in_shape, 2, in_shape.size());
  if (target.dtype() != DType::kInt32 && target.dtype() != DType::kInt64) {
    return ctx.error("target must be int32 or int64");
  }
  Shape want(in_shape.begin(), in_shape.end());
  want.erase(want.begin() + 1);
  if (target.shape() != want) {
    return ctx.error("target shape " + shape_to_string(target.shape()) + " does not match input " +
                     shape_to_string(in_shape) + " (expected " + shape_to_string(want) + ")");
  }
  std::vector<double> weight;
  if (ctx.has_input(2)) {
    const Tensor& w = ctx.input(2);
    if (w.rank() != 1 || w.dim(0) != C) {
      return ctx.error("weight must have shape [" + std::to_string(C) + "], got " + shape_to_string(w.shape()));
    }
    if (!dtype_is_float(w.dtype())) return ctx.error("weight must be floating-point");
    TANDEM_ASSIGN_OR_RETURN(Tensor wf, to_float32(w));
    for (int64_t c = 0; c < C; ++c) weight.push_back(wf.get_as_double(c));
  }
  const std::string reduction = ctx.node().attr_string("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean") {
    return ctx.error("reduction must be none, sum or mean, got '" + reduction + "'");
  }
  const graph::Attribute* ii_attr = ctx.node().attr("ignore_index");
  const bool has_ignore = ii_attr != nullptr;
  const int64_t ignore_index = has_ignore ? ii_attr->i : 0;

  std::vector<double> loss(static_cast<size_t>(N * D));
  double loss_sum = 0, weight_sum = 0;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t d = 0; d < D; ++d) {
      const int64_t t = target.get_as_int64(n * D + d);
      double l = 0, w = 0;
      if (!(has_ignore && t == ignore_index)) {
        if (t < 0 || t >= C) {
          return ctx.error("target value " + std::to_string(t) + " is out of range [0, " + std::to_string(C) + ")");
        }
        w = weight.empty() ? 1.0 : weight[static_cast<size_t>(t)];
        l = -logp[static_cast<size_t>((n * C + t) * D + d)] * w;
      }
      loss[static_cast<size_t>(n * D + d)] = l;
      loss_sum += l;
      weight_sum += w;
    }
  }
  if (reduction == "none") return emit_doubles(ctx, 0, dtype, target.shape(), loss);
  // mean divides by the total weight of the elements not ignored (their count without weights).
  const double r = reduction == "sum" ? loss_sum : loss_sum / weight_sum;
  return emit_doubles(ctx, 0, dtype, {}, {r});
}

Status check_input(const KernelContext& ctx, const Tensor& x) {
  if (!dtype_is_float(x.dtype())) {
    return ctx.error(std::string("input must be floating-point, got ") + dtype_name(x.dtype()));
  }
  if (x.rank() < 2) return ctx.error("input must be [N, C, ...], got " + shape_to_string(x.shape()));
  return Status::ok();
}

Result<std::vector<double>> as_doubles(const Tensor& x) {
  TANDEM_ASSIGN_OR_RETURN(Tensor f, to_float32(x));
  std::vector<double> v(static_cast<size_t>(f.numel()));
  if (f.dtype() == DType::kFloat64) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = f.data<double>()[i];
  } else {
    for (size_t i = 0; i < v.size(); ++i) v[i] = f.data<float>()[i];
  }
  return v;
}

Status nll_loss(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  TANDEM_RETURN_IF_ERROR(check_input(ctx, x));
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> logp, as_doubles(x));
  return nll(ctx, logp, x.shape(), x.dtype());
}

Status softmax_cross_entropy(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  TANDEM_RETURN_IF_ERROR(check_input(ctx, x));
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> v, as_doubles(x));
  const int64_t N = x.dim(0), C = x.dim(1), D = span_numel(x.shape(), 2, x.rank());
  // log_softmax over the class axis.
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t d = 0; d < D; ++d) {
      double* base = v.data() + n * C * D + d;
      if (C == 0) continue;
      double mx = base[0];
      for (int64_t c = 1; c < C; ++c) mx = std::max(mx, base[c * D]);
      double sum = 0;
      for (int64_t c = 0; c < C; ++c) sum += std::exp(base[c * D] - mx);
      const double lse = mx + std::log(sum);
      for (int64_t c = 0; c < C; ++c) base[c * D] -= lse;
    }
  }
  TANDEM_RETURN_IF_ERROR(nll(ctx, v, x.shape(), x.dtype()));
  if (ctx.has_output(1)) TANDEM_RETURN_IF_ERROR(emit_doubles(ctx, 1, x.dtype(), x.shape(), v));
  return Status::ok();
}

}  // namespace

void register_math_loss_kernels() {
  register_kernel("", "NegativeLogLikelihoodLoss", nll_loss);
  register_kernel("", "SoftmaxCrossEntropyLoss", softmax_cross_entropy);
}

}  // namespace tandem::reference
