// Reference kernels: BatchNormalization, InstanceNormalization,
// LayerNormalization, GroupNormalization, LRN, MeanVarianceNormalization.
// Statistics accumulate in double; outputs are written in X's dtype.
#include <cmath>

#include "backends/reference/kernels/nn_common.h"

namespace tandem::reference {
namespace {

Status require_float(const KernelContext& ctx, const Tensor& x, const char* name) {
  if (!nn::is_float_like(x.dtype())) {
    return ctx.error(std::string(name) + " must be a float tensor, got " + dtype_name(x.dtype()));
  }
  return Status::ok();
}

// Writes a small vector of statistics as output i with the given dtype.
Status write_stats(KernelContext& ctx, size_t i, DType dtype, const Shape& shape, const std::vector<double>& v) {
  if (!ctx.has_output(i)) return Status::ok();
  if (dtype == DType::kFloat64) {
    TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(i, dtype, shape));
    std::copy(v.begin(), v.end(), out.data<double>());
    return Status::ok();
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor f, Tensor::allocate(DType::kFloat32, shape));
  for (size_t k = 0; k < v.size(); ++k) f.data<float>()[k] = static_cast<float>(v[k]);
  TANDEM_ASSIGN_OR_RETURN(Tensor converted, from_float32(f, dtype));
  TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(i, dtype, shape));
  if (converted.byte_size() > 0) std::memcpy(out.raw_data(), converted.raw_data(), converted.byte_size());
  return Status::ok();
}

// y[plane, i] = x[plane, i] * a[plane % channels] + b[plane % channels] over planes of `inner` elements.
Status affine_planes(KernelContext& ctx, const Tensor& x0, int64_t planes, int64_t channels, int64_t inner,
                     const std::vector<double>& a, const std::vector<double>& b) {
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x0.dtype(), x0.shape()));
  TANDEM_RETURN_IF_ERROR(visit_float(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    for (int64_t p = 0; p < planes; ++p) {
      const T sa = static_cast<T>(a[p % channels]), sb = static_cast<T>(b[p % channels]);
      const T* src = xd + p * inner;
      T* dst = yd + p * inner;
      for (int64_t i = 0; i < inner; ++i) dst[i] = src[i] * sa + sb;
    }
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, x0.dtype(), y);
}

// Mean and (population) variance of each group of `count` consecutive values.
template <typename T>
void moments(const T* x, int64_t groups, int64_t count, std::vector<double>* mean, std::vector<double>* var) {
  mean->assign(static_cast<size_t>(groups), 0.0);
  var->assign(static_cast<size_t>(groups), 0.0);
  for (int64_t g = 0; g < groups; ++g) {
    const T* src = x + g * count;
    double s = 0;
    for (int64_t i = 0; i < count; ++i) s += static_cast<double>(src[i]);
    const double m = count > 0 ? s / static_cast<double>(count) : 0.0;
    double v = 0;
    for (int64_t i = 0; i < count; ++i) {
      const double d = static_cast<double>(src[i]) - m;
      v += d * d;
    }
    (*mean)[g] = m;
    (*var)[g] = count > 0 ? v / static_cast<double>(count) : 0.0;
  }
}

// Moments per group of `count` consecutive values of any float tensor.
Status tensor_moments(const Tensor& x0, int64_t groups, int64_t count, std::vector<double>* mean,
                      std::vector<double>* var) {
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  return visit_float(x.dtype(), [&](auto tag) -> Status {
    moments(x.data<decltype(tag)>(), groups, count, mean, var);
    return Status::ok();
  });
}

Result<std::vector<double>> channel_param(const KernelContext& ctx, size_t i, int64_t channels, const char* name) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* t, nn::tensor_input(ctx, i));
  if (!nn::is_float_like(t->dtype()) || t->numel() != channels) {
    return ctx.error(std::string(name) + " must hold " + std::to_string(channels) + " float values, got " +
                     shape_to_string(t->shape()));
  }
  return nn::as_doubles(*t);
}

Status batch_norm(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  const Tensor& x = *xp;
  TANDEM_RETURN_IF_ERROR(require_float(ctx, x, "X"));
  if (x.rank() < 2) return ctx.error("X must have rank >= 2 [N, C, ...], got " + shape_to_string(x.shape()));
  const int64_t n = x.dim(0), c = x.dim(1);
  const int64_t inner = n * c > 0 ? x.numel() / (n * c) : 0;
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> scale, channel_param(ctx, 1, c, "scale"));
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> bias, channel_param(ctx, 2, c, "B"));
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> mean, channel_param(ctx, 3, c, "mean"));
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> var, channel_param(ctx, 4, c, "var"));
  const double eps = ctx.node().attr_float("epsilon", 1e-5f);
  const double momentum = ctx.node().attr_float("momentum", 0.9f);
  const bool training =
      ctx.opset() >= 14 ? ctx.node().attr_int("training_mode", 0) != 0 : ctx.has_output(1) || ctx.has_output(3);
  std::vector<double> use_mean = mean, use_var = var;
  if (training) {
    // Per-channel batch statistics over N and the spatial dims.
    std::vector<double> pm, pv;
    TANDEM_RETURN_IF_ERROR(tensor_moments(x, n * c, inner, &pm, &pv));
    for (int64_t ch = 0; ch < c; ++ch) {
      double s = 0, sq = 0;
      for (int64_t b = 0; b < n; ++b) {
        s += pm[b * c + ch];
        sq += pv[b * c + ch] + pm[b * c + ch] * pm[b * c + ch];
      }
      use_mean[ch] = n > 0 ? s / static_cast<double>(n) : 0.0;
      use_var[ch] = n > 0 ? sq / static_cast<double>(n) - use_mean[ch] * use_mean[ch] : 0.0;
    }
  }
  std::vector<double> a(static_cast<size_t>(c)), b(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    a[ch] = scale[ch] / std::sqrt(use_var[ch] + eps);
    b[ch] = bias[ch] - use_mean[ch] * a[ch];
  }
  TANDEM_RETURN_IF_ERROR(affine_planes(ctx, x, n * c, std::max<int64_t>(c, 1), inner, a, b));
  if (training) {
    const DType stat_dtype = ctx.input(3).dtype();
    std::vector<double> running_mean(static_cast<size_t>(c)), running_var(static_cast<size_t>(c));
    for (int64_t ch = 0; ch < c; ++ch) {
      running_mean[ch] = mean[ch] * momentum + use_mean[ch] * (1 - momentum);
      running_var[ch] = var[ch] * momentum + use_var[ch] * (1 - momentum);
    }
    TANDEM_RETURN_IF_ERROR(write_stats(ctx, 1, stat_dtype, {c}, running_mean));
    TANDEM_RETURN_IF_ERROR(write_stats(ctx, 2, stat_dtype, {c}, running_var));
    TANDEM_RETURN_IF_ERROR(write_stats(ctx, 3, stat_dtype, {c}, use_mean));
    TANDEM_RETURN_IF_ERROR(write_stats(ctx, 4, stat_dtype, {c}, use_var));
  } else {
    for (size_t i = 1; i < ctx.num_outputs(); ++i) {
      if (ctx.has_output(i)) return ctx.error("outputs beyond Y need training mode");
    }
  }
  return Status::ok();
}

Status instance_norm(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  const Tensor& x = *xp;
  TANDEM_RETURN_IF_ERROR(require_float(ctx, x, "input"));
  if (x.rank() < 3) return ctx.error("input must have rank >= 3 [N, C, spatial...], got " + shape_to_string(x.shape()));
  const int64_t n = x.dim(0), c = x.dim(1);
  const int64_t inner = n * c > 0 ? x.numel() / (n * c) : 0;
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> scale, channel_param(ctx, 1, c, "scale"));
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> bias, channel_param(ctx, 2, c, "B"));
  const double eps = ctx.node().attr_float("epsilon", 1e-5f);
  std::vector<double> mean, var;
  TANDEM_RETURN_IF_ERROR(tensor_moments(x, n * c, inner, &mean, &var));
  std::vector<double> a(static_cast<size_t>(n * c)), b(static_cast<size_t>(n * c));
  for (int64_t p = 0; p < n * c; ++p) {
    a[p] = scale[p % c] / std::sqrt(var[p] + eps);
    b[p] = bias[p % c] - mean[p] * a[p];
  }
  return affine_planes(ctx, x, n * c, std::max<int64_t>(n * c, 1), inner, a, b);
}

// `t` broadcast (unidirectionally, numpy rules) to `target`, as doubles.
Result<std::vector<double>> expand_to(const KernelContext& ctx, const Tensor& t, const Shape& target, const char* name) {
  if (!nn::is_float_like(t.dtype())) return ctx.error(std::string(name) + " must be a float tensor");
  if (t.shape() == target) return nn::as_doubles(t);
  auto b = Broadcaster::make({target, t.shape()});
  if (!b.is_ok() || b->output_shape() != target) {
    return ctx.error(std::string(name) + " " + shape_to_string(t.shape()) + " cannot broadcast to " + shape_to_string(target));
  }
  std::vector<double> src = nn::as_doubles(t);
  std::vector<double> out(static_cast<size_t>(b->size()));
  b->for_each([&](int64_t i, const int64_t* offs) { out[i] = src[offs[1]]; });
  return out;
}

Status layer_norm(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  const Tensor& x = *xp;
  TANDEM_RETURN_IF_ERROR(require_float(ctx, x, "X"));
  const int64_t rank = static_cast<int64_t>(x.rank());
  TANDEM_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx.node().attr_int("axis", -1), rank));
  if (rank == 0) return ctx.error("X must have rank >= 1");
  const double eps = ctx.node().attr_float("epsilon", 1e-5f);
  const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  const int64_t cols = shape_numel(norm_shape);
  const int64_t rows = cols > 0 ? x.numel() / cols : shape_numel(Shape(x.shape().begin(), x.shape().begin() + axis));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* sp, nn::tensor_input(ctx, 1));
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> scale, expand_to(ctx, *sp, norm_shape, "Scale"));
  std::vector<double> bias(static_cast<size_t>(cols), 0.0);
  if (ctx.has_input(2)) {
    TANDEM_ASSIGN_OR_RETURN(bias, expand_to(ctx, ctx.input(2), norm_shape, "B"));
  }
  std::vector<double> mean, var;
  TANDEM_RETURN_IF_ERROR(tensor_moments(x, rows, cols, &mean, &var));
  std::vector<double> inv(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) inv[r] = 1.0 / std::sqrt(var[r] + eps);

  TANDEM_ASSIGN_OR_RETURN(Tensor xf, to_float32(x));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x.dtype(), x.shape()));
  TANDEM_RETURN_IF_ERROR(visit_float(xf.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* xd = xf.data<T>();
    T* yd = y.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* src = xd + r * cols;
      T* dst = yd + r * cols;
      for (int64_t j = 0; j < cols; ++j) {
        dst[j] = static_cast<T>((static_cast<double>(src[j]) - mean[r]) * inv[r] * scale[j] + bias[j]);
      }
    }
    return Status::ok();
  }));
  TANDEM_RETURN_IF_ERROR(nn::finish_output(ctx, 0, x.dtype(), y));
  Shape stat_shape(x.shape().begin(), x.shape().begin() + axis);
  stat_shape.resize(x.rank(), 1);
  const DType stat_dtype = x.dtype() == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
  TANDEM_RETURN_IF_ERROR(write_stats(ctx, 1, stat_dtype, stat_shape, mean));
  return write_stats(ctx, 2, stat_dtype, stat_shape, inv);
}

Status group_norm(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  const Tensor& x = *xp;
  TANDEM_RETURN_IF_ERROR(require_float(ctx, x, "X"));
  if (x.rank() < 2) return ctx.error("X must have rank >= 2 [N, C, ...], got " + shape_to_string(x.shape()));
  const int64_t groups = ctx.node().attr_int("num_groups", 0);
  const int64_t n = x.dim(0), c = x.dim(1);
  if (groups <= 0 || c % groups != 0) {
    return ctx.error("num_groups (" + std::to_string(groups) + ") must be positive and divide the " + std::to_string(c) +
                     " channels");
  }
  const double eps = ctx.node().attr_float("epsilon", 1e-5f);
  TANDEM_ASSIGN_OR_RETURN(const Tensor* sp, nn::tensor_input(ctx, 1));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* bp, nn::tensor_input(ctx, 2));
  // Opset 18 gives scale/bias per group, opset 21 per channel; accept either.
  const int64_t per = sp->numel() == c ? c : groups;
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> scale, channel_param(ctx, 1, per, "scale"));
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> bias, channel_param(ctx, 2, per, "bias"));
  (void)bp;
  const int64_t cg = c / groups;
  const int64_t inner = n * c > 0 ? x.numel() / (n * c) : 0;
  std::vector<double> mean, var;
  TANDEM_RETURN_IF_ERROR(tensor_moments(x, n * groups, cg * inner, &mean, &var));
  std::vector<double> a(static_cast<size_t>(n * c)), b(static_cast<size_t>(n * c));
  for (int64_t p = 0; p < n * c; ++p) {
    const int64_t ch = p % c, g = (p / c) * groups + ch / cg;
    const int64_t k = per == c ? ch : ch / cg;
    a[p] = scale[k] / std::sqrt(var[g] + eps);
    b[p] = bias[k] - mean[g] * a[p];
  }
  return affine_planes(ctx, x, n * c, std::max<int64_t>(n * c, 1), inner, a, b);
}

Status lrn(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  const Tensor& x0 = *xp;
  TANDEM_RETURN_IF_ERROR(require_float(ctx, x0, "X"));
  if (x0.rank() < 2) return ctx.error("X must have rank >= 2 [N, C, ...], got " + shape_to_string(x0.shape()));
  const int64_t size = ctx.node().attr_int("size", 0);
  if (size <= 0) return ctx.error("size must be positive");
  const double alpha = ctx.node().attr_float("alpha", 1e-4f);
  const double beta = ctx.node().attr_float("beta", 0.75f);
  const double bias = ctx.node().attr_float("bias", 1.0f);
  const int64_t n = x0.dim(0), c = x0.dim(1);
  const int64_t inner = n * c > 0 ? x0.numel() / (n * c) : 0;
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;  // floor and ceil of (size-1)/2
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x0.dtype(), x0.shape()));
  std::vector<double> sq(static_cast<size_t>(inner));
  TANDEM_RETURN_IF_ERROR(visit_float(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t ch = 0; ch < c; ++ch) {
        std::fill(sq.begin(), sq.end(), 0.0);
        for (int64_t k = std::max<int64_t>(0, ch - lo); k <= std::min(c - 1, ch + hi); ++k) {
          const T* src = xd + (b * c + k) * inner;
          for (int64_t i = 0; i < inner; ++i) sq[i] += static_cast<double>(src[i]) * static_cast<double>(src[i]);
        }
        const T* src = xd + (b * c + ch) * inner;
        T* dst = yd + (b * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i) {
          dst[i] = static_cast<T>(static_cast<double>(src[i]) / std::pow(bias + alpha / size * sq[i], beta));
        }
      }
    }
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, x0.dtype(), y);
}

Status mean_variance_norm(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  const Tensor& x0 = *xp;
  TANDEM_RETURN_IF_ERROR(require_float(ctx, x0, "X"));
  const int64_t rank = static_cast<int64_t>(x0.rank());
  std::vector<int64_t> axes = ctx.node().attr_ints("axes", {0, 2, 3});
  Shape kept = x0.shape();
  for (int64_t& a : axes) {
    TANDEM_ASSIGN_OR_RETURN(a, normalize_axis(a, rank));
    kept[a] = 1;
  }
  const int64_t groups = shape_numel(kept);
  const int64_t count = groups > 0 ? x0.numel() / groups : 0;
  TANDEM_ASSIGN_OR_RETURN(Broadcaster bc, Broadcaster::make({x0.shape(), kept}));
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x0.dtype(), x0.shape()));
  TANDEM_RETURN_IF_ERROR(visit_float(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    std::vector<double> sum(static_cast<size_t>(groups), 0.0), sumsq(static_cast<size_t>(groups), 0.0);
    bc.for_each([&](int64_t i, const int64_t* offs) {
      const double v = static_cast<double>(xd[offs[0]]);
      sum[offs[1]] += v;
      sumsq[offs[1]] += v * v;
    });
    for (int64_t g = 0; g < groups; ++g) {
      const double m = sum[g] / static_cast<double>(count);
      sum[g] = m;
      sumsq[g] = std::sqrt(std::max(0.0, sumsq[g] / static_cast<double>(count) - m * m)) + 1e-9;
    }
    bc.for_each([&](int64_t i, const int64_t* offs) {
      yd[offs[0]] = static_cast<T>((static_cast<double>(xd[offs[0]]) - sum[offs[1]]) / sumsq[offs[1]]);
    });
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, x0.dtype(), y);
}

}  // namespace

void register_nn_norm_kernels() {
  register_kernel("", "BatchNormalization", batch_norm);
  register_kernel("", "InstanceNormalization", instance_norm);
  register_kernel("", "LayerNormalization", layer_norm);
  register_kernel("", "GroupNormalization", group_norm);
  register_kernel("", "LRN", lrn);
  register_kernel("", "MeanVarianceNormalization", mean_variance_norm);
}

}  // namespace tandem::reference
