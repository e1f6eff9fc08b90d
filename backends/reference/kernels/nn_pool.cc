// Reference kernels: MaxPool, AveragePool, LpPool, their Global* forms and
// MaxUnpool. Windows of 1 to 3 spatial dims run as 3-D with leading unit dims.
#include <cmath>
#include <limits>

#include "backends/reference/kernels/nn_common.h"

namespace tandem::reference {
namespace {

using nn::Window;

// Per spatial dim (padded to 3), for every output index: the valid input
// indices of its window and how many window positions lie inside the padding.
struct PoolPlan {
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  std::vector<std::vector<int64_t>> taps[3];
  std::vector<int64_t> padded_count[3];
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
};

Result<PoolPlan> make_pool_plan(const KernelContext& ctx, const Window& w) {
  const size_t r = w.rank();
  if (r < 1 || r > 3) return ctx.error("pooling supports 1 to 3 spatial dims, got " + std::to_string(r));
  PoolPlan p;
  const size_t lead = 3 - r;
  for (size_t d = 0; d < 3; ++d) {
    if (d < lead) {
      p.taps[d] = {{0}};
      p.padded_count[d] = {1};
      continue;
    }
    const size_t s = d - lead;
    p.in[d] = w.in[s];
    p.out[d] = w.out[s];
    p.taps[d].resize(static_cast<size_t>(w.out[s]));
    p.padded_count[d].resize(static_cast<size_t>(w.out[s]));
    for (int64_t o = 0; o < w.out[s]; ++o) {
      int64_t padded = 0;
      for (int64_t k = 0; k < w.kernel[s]; ++k) {
        const int64_t pos = o * w.stride[s] - w.pad_begin[s] + k * w.dilation[s];
        if (pos >= 0 && pos < w.in[s]) p.taps[d][o].push_back(pos);
        if (pos < w.in[s] + w.pad_end[s]) ++padded;
      }
      p.padded_count[d][o] = padded;
    }
  }
  return p;
}

struct PoolSetup {
  Window w;
  PoolPlan plan;
  Shape out_shape;
  int64_t planes = 0;  // N * C
};

Result<PoolSetup> setup_pool(const KernelContext& ctx, const Tensor& x) {
  if (x.rank() < 3) return ctx.error("X must have rank >= 3 [N, C, spatial...], got " + shape_to_string(x.shape()));
  const std::vector<int64_t> kernel = ctx.node().attr_ints("kernel_shape");
  if (kernel.empty()) return ctx.error("kernel_shape is required");
  PoolSetup s;
  const std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  TANDEM_ASSIGN_OR_RETURN(s.w, nn::make_window(ctx, in, kernel, true));
  TANDEM_ASSIGN_OR_RETURN(s.plan, make_pool_plan(ctx, s.w));
  s.out_shape = {x.dim(0), x.dim(1)};
  s.out_shape.insert(s.out_shape.end(), s.w.out.begin(), s.w.out.end());
  s.planes = x.dim(0) * x.dim(1);
  return s;
}

// Calls fn(plane, out_offset, od, oh, ow) for every output position.
template <typename Fn>
void for_each_output(const PoolSetup& s, Fn&& fn) {
  const PoolPlan& p = s.plan;
  int64_t o = 0;
  for (int64_t plane = 0; plane < s.planes; ++plane) {
    for (int64_t od = 0; od < p.out[0]; ++od) {
      for (int64_t oh = 0; oh < p.out[1]; ++oh) {
        for (int64_t ow = 0; ow < p.out[2]; ++ow) fn(plane, o++, od, oh, ow);
      }
    }
  }
}

template <typename T>
void max_pool_impl(const PoolSetup& s, const T* x, T* y, int64_t* indices, bool column_major) {
  const PoolPlan& p = s.plan;
  const int64_t H = p.in[1], W = p.in[2], D = p.in[0], plane_size = p.in_size();
  for_each_output(s, [&](int64_t plane, int64_t o, int64_t od, int64_t oh, int64_t ow) {
    const T* src = x + plane * plane_size;
    T best = std::numeric_limits<T>::lowest();
    int64_t best_at = -1;
    for (int64_t id : p.taps[0][od]) {
      for (int64_t ih : p.taps[1][oh]) {
        const T* row = src + (id * H + ih) * W;
        for (int64_t iw : p.taps[2][ow]) {
          if (best_at < 0 || row[iw] > best) {
            best = row[iw];
            best_at = column_major ? id + ih * D + iw * D * H : (id * H + ih) * W + iw;
          }
        }
      }
    }
    y[o] = best;
    if (indices) indices[o] = best_at < 0 ? -1 : plane * plane_size + best_at;
  });
}

Status max_pool(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(PoolSetup s, setup_pool(ctx, *xp));
  const int64_t storage_order = ctx.node().attr_int("storage_order", 0);
  if (storage_order != 0 && storage_order != 1) return ctx.error("storage_order must be 0 or 1");
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(*xp));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, xp->dtype(), s.out_shape));
  Tensor indices;
  if (ctx.has_output(1)) {
    TANDEM_ASSIGN_OR_RETURN(indices, ctx.allocate_output(1, DType::kInt64, s.out_shape));
  }
  int64_t* id = ctx.has_output(1) ? indices.data<int64_t>() : nullptr;
  TANDEM_RETURN_IF_ERROR(visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    max_pool_impl<T>(s, x.data<T>(), y.data<T>(), id, storage_order == 1);
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, xp->dtype(), y);
}

Status average_pool(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  if (!nn::is_float_like(xp->dtype())) return ctx.error(std::string("X must be a float tensor, got ") + dtype_name(xp->dtype()));
  TANDEM_ASSIGN_OR_RETURN(PoolSetup s, setup_pool(ctx, *xp));
  const bool include_pad = ctx.node().attr_int("count_include_pad", 0) != 0;
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(*xp));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, xp->dtype(), s.out_shape));
  TANDEM_RETURN_IF_ERROR(visit_float(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const PoolPlan& p = s.plan;
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    const int64_t H = p.in[1], W = p.in[2], plane_size = p.in_size();
    for_each_output(s, [&](int64_t plane, int64_t o, int64_t od, int64_t oh, int64_t ow) {
      const T* src = xd + plane * plane_size;
      T sum = 0;
      for (int64_t id : p.taps[0][od]) {
        for (int64_t ih : p.taps[1][oh]) {
          const T* row = src + (id * H + ih) * W;
          for (int64_t iw : p.taps[2][ow]) sum += row[iw];
        }
      }
      const int64_t count = include_pad
                                ? p.padded_count[0][od] * p.padded_count[1][oh] * p.padded_count[2][ow]
                                : static_cast<int64_t>(p.taps[0][od].size() * p.taps[1][oh].size() * p.taps[2][ow].size());
      yd[o] = count > 0 ? sum / static_cast<T>(count) : T(0);
    });
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, xp->dtype(), y);
}

Result<double> lp_norm_p(const KernelContext& ctx) {
  const int64_t p = ctx.node().attr_int("p", 2);
  if (p <= 0) return ctx.error("p must be positive, got " + std::to_string(p));
  return static_cast<double>(p);
}

Status lp_pool(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  if (!nn::is_float_like(xp->dtype())) return ctx.error(std::string("X must be a float tensor, got ") + dtype_name(xp->dtype()));
  TANDEM_ASSIGN_OR_RETURN(PoolSetup s, setup_pool(ctx, *xp));
  TANDEM_ASSIGN_OR_RETURN(double pw, lp_norm_p(ctx));
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(*xp));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, xp->dtype(), s.out_shape));
  TANDEM_RETURN_IF_ERROR(visit_float(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const PoolPlan& p = s.plan;
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    const int64_t H = p.in[1], W = p.in[2], plane_size = p.in_size();
    for_each_output(s, [&](int64_t plane, int64_t o, int64_t od, int64_t oh, int64_t ow) {
      const T* src = xd + plane * plane_size;
      double sum = 0;
      for (int64_t id : p.taps[0][od]) {
        for (int64_t ih : p.taps[1][oh]) {
          const T* row = src + (id * H + ih) * W;
          for (int64_t iw : p.taps[2][ow]) sum += std::pow(std::fabs(static_cast<double>(row[iw])), pw);
        }
      }
      yd[o] = static_cast<T>(std::pow(sum, 1.0 / pw));
    });
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, xp->dtype(), y);
}

enum class GlobalKind { kAverage, kMax, kLp };

template <GlobalKind kKind>
Status global_pool(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  const Tensor& x0 = *xp;
  if (x0.rank() < 2) return ctx.error("X must have rank >= 2 [N, C, spatial...], got " + shape_to_string(x0.shape()));
  if (kKind != GlobalKind::kMax && !nn::is_float_like(x0.dtype())) {
    return ctx.error(std::string("X must be a float tensor, got ") + dtype_name(x0.dtype()));
  }
  double pw = 2;
  if (kKind == GlobalKind::kLp) {
    TANDEM_ASSIGN_OR_RETURN(pw, lp_norm_p(ctx));
  }
  Shape out_shape(x0.rank(), 1);
  out_shape[0] = x0.dim(0);
  out_shape[1] = x0.dim(1);
  const int64_t planes = x0.dim(0) * x0.dim(1);
  const int64_t spatial = planes > 0 ? x0.numel() / planes : 0;
  if (kKind == GlobalKind::kMax && spatial == 0 && planes > 0) return ctx.error("GlobalMaxPool of an empty spatial extent");
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x0.dtype(), out_shape));
  TANDEM_RETURN_IF_ERROR(visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    for (int64_t p = 0; p < planes; ++p) {
      const T* src = xd + p * spatial;
      if constexpr (kKind == GlobalKind::kMax) {
        yd[p] = *std::max_element(src, src + spatial);
      } else if constexpr (kKind == GlobalKind::kAverage) {
        double sum = 0;
        for (int64_t i = 0; i < spatial; ++i) sum += static_cast<double>(src[i]);
        yd[p] = static_cast<T>(spatial > 0 ? sum / static_cast<double>(spatial) : 0.0);
      } else {
        double sum = 0;
        for (int64_t i = 0; i < spatial; ++i) sum += std::pow(std::fabs(static_cast<double>(src[i])), pw);
        yd[p] = static_cast<T>(std::pow(sum, 1.0 / pw));
      }
    }
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, x0.dtype(), y);
}

// MaxUnpool: Y is zero except where Indices (flat positions in the unpooled
// tensor of the default shape) say the pooled values came from.
Status max_unpool(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* ip, nn::tensor_input(ctx, 1));
  const Tensor& x = *xp;
  const Tensor& ind = *ip;
  if (x.rank() < 3) return ctx.error("X must have rank >= 3 [N, C, spatial...], got " + shape_to_string(x.shape()));
  if (ind.shape() != x.shape()) return ctx.error("I must have the shape of X");
  if (ind.dtype() != DType::kInt64) return ctx.error("I must be int64");
  if (x.dtype() == DType::kString) return ctx.error("string X is not supported");
  const graph::Node& node = ctx.node();
  const size_t r = x.rank() - 2;
  const std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  const std::vector<int64_t> strides = node.attr_ints("strides", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * r, 0));
  if (kernel.size() != r || strides.size() != r || pads.size() != 2 * r) {
    return ctx.error("kernel_shape and strides need " + std::to_string(r) + " values and pads " + std::to_string(2 * r));
  }
  Shape def_shape{x.dim(0), x.dim(1)};
  for (size_t d = 0; d < r; ++d) {
    const int64_t v = (x.dim(d + 2) - 1) * strides[d] + kernel[d] - pads[d] - pads[d + r];
    if (kernel[d] <= 0 || strides[d] <= 0 || v < 0) return ctx.error("invalid kernel_shape, strides or pads");
    def_shape.push_back(v);
  }
  Shape out_shape = def_shape;
  if (ctx.has_input(2)) {
    out_shape = ctx.input(2).to_int64_vector();
    if (out_shape.size() != x.rank() || out_shape[0] != x.dim(0) || out_shape[1] != x.dim(1)) {
      return ctx.error("output_shape " + shape_to_string(out_shape) + " must be [N, C, spatial...] matching X");
    }
    for (int64_t v : out_shape) {
      if (v < 0) return ctx.error("output_shape must be non-negative");
    }
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out_shape));
  const size_t esize = dtype_size(x.dtype());
  if (y.byte_size() > 0) std::memset(y.raw_data(), 0, y.byte_size());
  const int64_t def_total = shape_numel(def_shape);
  const std::vector<int64_t> def_strides = strides_of(def_shape);
  const std::vector<int64_t> out_strides = strides_of(out_shape);
  const int64_t* idx = ind.data<int64_t>();
  const auto* src = static_cast<const uint8_t*>(x.raw_data());
  auto* dst = static_cast<uint8_t*>(y.raw_data());
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t flat = idx[i];
    if (flat < 0 || flat >= def_total) {
      return ctx.error("index " + std::to_string(flat) + " is outside the unpooled tensor " + shape_to_string(def_shape));
    }
    // Same coordinates in the (possibly larger) requested output.
    int64_t at = 0;
    for (size_t d = 0; d < def_shape.size(); ++d) {
      const int64_t c = flat / def_strides[d];
      flat %= def_strides[d];
      if (c >= out_shape[d]) return ctx.error("index " + std::to_string(idx[i]) + " does not fit output_shape");
      at += c * out_strides[d];
    }
    std::memcpy(dst + at * esize, src + i * esize, esize);
  }
  return Status::ok();
}

}  // namespace

void register_nn_pool_kernels() {
  register_kernel("", "MaxPool", max_pool);
  register_kernel("", "AveragePool", average_pool);
  register_kernel("", "LpPool", lp_pool);
  register_kernel("", "GlobalAveragePool", global_pool<GlobalKind::kAverage>);
  register_kernel("", "GlobalMaxPool", global_pool<GlobalKind::kMax>);
  register_kernel("", "GlobalLpPool", global_pool<GlobalKind::kLp>);
  register_kernel("", "MaxUnpool", max_unpool);
}

}  // namespace tandem::reference
