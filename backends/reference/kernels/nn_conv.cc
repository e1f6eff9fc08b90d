// Reference kernels: Conv (im2col + blocked GEMM) and com.tandem.FusedConv
// (Conv + activation), ConvTranspose (GEMM + col2im) and Col2Im. Any number
// of spatial dims; float16 runs in float32.
#include "backends/reference/kernels/activation.h"
#include "backends/reference/kernels/nn_common.h"

namespace tandem::reference {
namespace {

using nn::Window;

// Unfolds an image [channels, in...] into col [channels * prod(kernel), prod(out)].
template <typename T>
void im2col(const T* image, int64_t channels, const Window& w, T* col) {
  const size_t r = w.rank();
  int64_t kprod = 1, img = 1;
  for (size_t d = 0; d < r; ++d) {
    kprod *= w.kernel[d];
    img *= w.in[d];
  }
  const std::vector<int64_t> img_strides = strides_of(w.in);
  const size_t last = r - 1;
  const int64_t last_out = w.out[last], s = w.stride[last], in_last = w.in[last];
  std::vector<int64_t> k(r, 0), o(r, 0);
  T* row = col;
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = image + c * img;
    std::fill(k.begin(), k.end(), 0);
    for (int64_t kk = 0; kk < kprod; ++kk, nn::next_index(k, w.kernel, r)) {
      const int64_t off = k[last] * w.dilation[last] - w.pad_begin[last];
      // Output positions x whose input x*s + off lies inside [0, in_last).
      const int64_t x_lo = std::min(last_out, off >= 0 ? 0 : (-off + s - 1) / s);
      const int64_t x_hi = std::max(x_lo, std::min(last_out, in_last - off <= 0 ? 0 : (in_last - off + s - 1) / s));
      std::fill(o.begin(), o.end(), 0);
      do {
        int64_t base = 0;
        bool inside = true;
        for (size_t d = 0; d < last; ++d) {
          const int64_t p = o[d] * w.stride[d] - w.pad_begin[d] + k[d] * w.dilation[d];
          if (p < 0 || p >= w.in[d]) { inside = false; break; }
          base += p * img_strides[d];
        }
        if (!inside) {
          std::fill(row, row + last_out, T(0));
        } else {
          std::fill(row, row + x_lo, T(0));
          const T* src = plane + base;  // element x reads src[x * s + off]
          if (s == 1) {
            if (x_hi > x_lo) std::copy(src + x_lo + off, src + x_hi + off, row + x_lo);
          } else {
            for (int64_t x = x_lo; x < x_hi; ++x) row[x] = src[x * s + off];
          }
          std::fill(row + x_hi, row + last_out, T(0));
        }
        row += last_out;
      } while (nn::next_index(o, w.out, last));
    }
  }
}

struct ConvArgs {
  int64_t n = 0, c = 0, m = 0, group = 1;
  Window w;
};

template <typename T>
Status conv_impl(const ConvArgs& a, const Tensor& x, const Tensor& wt, const Tensor* bias, Tensor& y) {
  const Window& w = a.w;
  int64_t kprod = 1, in_sp = 1, out_sp = 1;
  bool pointwise = true;
  for (size_t d = 0; d < w.rank(); ++d) {
    kprod *= w.kernel[d];
    in_sp *= w.in[d];
    out_sp *= w.out[d];
    pointwise = pointwise && w.kernel[d] == 1 && w.stride[d] == 1 && w.pad_begin[d] == 0 && w.pad_end[d] == 0;
  }
  const int64_t cg = a.c / a.group, mg = a.m / a.group, kdim = cg * kprod;
  Tensor col;
  if (!pointwise && out_sp > 0) {
    TANDEM_ASSIGN_OR_RETURN(col, Tensor::allocate(DTypeOf<T>::value, {kdim, out_sp}));
  }
  const T* xd = x.data<T>();
  const T* wd = wt.data<T>();
  const T* bd = bias ? bias->data<T>() : nullptr;
  T* yd = y.data<T>();
  for (int64_t n = 0; n < a.n; ++n) {
    for (int64_t g = 0; g < a.group; ++g) {
      const T* xg = xd + (n * a.c + g * cg) * in_sp;
      T* yg = yd + (n * a.m + g * mg) * out_sp;
      for (int64_t m = 0; m < mg; ++m) std::fill(yg + m * out_sp, yg + (m + 1) * out_sp, bd ? bd[g * mg + m] : T(0));
      if (out_sp == 0 || kdim == 0) continue;
      const T* colp = xg;
      if (!pointwise) {
        im2col(xg, cg, w, col.data<T>());
        colp = col.data<T>();
      }
      nn::gemm_acc(mg, out_sp, kdim, wd + g * mg * kdim, kdim, colp, out_sp, yg, out_sp);
    }
  }
  return Status::ok();
}

// Common input checks of Conv/ConvTranspose; returns float32 copies for half.
Status check_conv_inputs(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
  if (!nn::is_float_like(x.dtype())) return ctx.error(std::string("X must be a float tensor, got ") + dtype_name(x.dtype()));
  if (w.dtype() != x.dtype()) return ctx.error("W must have the same dtype as X");
  if (x.rank() < 3) return ctx.error("X must have rank >= 3 [N, C, spatial...], got " + shape_to_string(x.shape()));
  if (w.rank() != x.rank()) {
    return ctx.error("W " + shape_to_string(w.shape()) + " must have the same rank as X " + shape_to_string(x.shape()));
  }
  return Status::ok();
}

Status conv(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* wp, nn::tensor_input(ctx, 1));
  TANDEM_RETURN_IF_ERROR(check_conv_inputs(ctx, *xp, *wp));
  const Tensor& x0 = *xp;
  const Tensor& w0 = *wp;
  ConvArgs a;
  a.n = x0.dim(0);
  a.c = x0.dim(1);
  a.m = w0.dim(0);
  a.group = ctx.node().attr_int("group", 1);
  if (a.group <= 0) return ctx.error("group must be positive");
  if (a.c % a.group != 0 || w0.dim(1) * a.group != a.c) {
    return ctx.error("X has " + std::to_string(a.c) + " channels but W " + shape_to_string(w0.shape()) + " with group " +
                     std::to_string(a.group) + " expects " + std::to_string(w0.dim(1) * a.group));
  }
  if (a.m % a.group != 0) return ctx.error("output channels (" + std::to_string(a.m) + ") must be divisible by group");
  const std::vector<int64_t> kernel(w0.shape().begin() + 2, w0.shape().end());
  const std::vector<int64_t> ks = ctx.node().attr_ints("kernel_shape");
  if (!ks.empty() && ks != kernel) {
    return ctx.error("kernel_shape " + shape_to_string(ks) + " does not match W " + shape_to_string(w0.shape()));
  }
  const Tensor* b0 = nullptr;
  if (ctx.has_input(2)) {
    b0 = &ctx.input(2);
    if (b0->dtype() != x0.dtype() || b0->rank() != 1 || b0->dim(0) != a.m) {
      return ctx.error("B must be a 1-D tensor of " + std::to_string(a.m) + " values of X's dtype");
    }
  }
  const std::vector<int64_t> in(x0.shape().begin() + 2, x0.shape().end());
  TANDEM_ASSIGN_OR_RETURN(a.w, nn::make_window(ctx, in, kernel, false));
  Shape out_shape{a.n, a.m};
  out_shape.insert(out_shape.end(), a.w.out.begin(), a.w.out.end());

  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  TANDEM_ASSIGN_OR_RETURN(Tensor w, to_float32(w0));
  Tensor b;
  if (b0) {
    TANDEM_ASSIGN_OR_RETURN(b, to_float32(*b0));
  }
  // com.tandem.FusedConv: Conv, then its activation on the result.
  TANDEM_ASSIGN_OR_RETURN(FusedActivation act, fused_activation(ctx));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x0.dtype(), out_shape));
  TANDEM_RETURN_IF_ERROR(visit_float(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    TANDEM_RETURN_IF_ERROR(conv_impl<T>(a, x, w, b0 ? &b : nullptr, y));
    act.apply(y.data<T>(), y.numel());
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, x0.dtype(), y);
}

template <typename T>
Status conv_transpose_impl(const ConvArgs& a, const Tensor& x, const Tensor& wt, const Tensor* bias, Tensor& y) {
  // a.w describes the output as the "image" (w.in) and the input as the window grid (w.out).
  const Window& w = a.w;
  int64_t kprod = 1, in_sp = 1, out_sp = 1;
  for (size_t d = 0; d < w.rank(); ++d) {
    kprod *= w.kernel[d];
    in_sp *= w.out[d];
    out_sp *= w.in[d];
  }
  const int64_t cg = a.c / a.group, mg = a.m / a.group, rows = mg * kprod;
  // W is [C, M/group, k...]; per group transpose to [M/group * k, C/group] so the GEMM walks rows.
  TANDEM_ASSIGN_OR_RETURN(Tensor wtr, Tensor::allocate(DTypeOf<T>::value, {a.group, rows, cg}));
  const T* wd = wt.data<T>();
  T* wtd = wtr.data<T>();
  for (int64_t g = 0; g < a.group; ++g) {
    for (int64_t c = 0; c < cg; ++c) {
      for (int64_t r = 0; r < rows; ++r) wtd[(g * rows + r) * cg + c] = wd[(g * cg + c) * rows + r];
    }
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor col, Tensor::allocate(DTypeOf<T>::value, {rows, in_sp}));
  const T* xd = x.data<T>();
  const T* bd = bias ? bias->data<T>() : nullptr;
  T* yd = y.data<T>();
  T* cd = col.data<T>();
  for (int64_t n = 0; n < a.n; ++n) {
    for (int64_t g = 0; g < a.group; ++g) {
      T* yg = yd + (n * a.m + g * mg) * out_sp;
      for (int64_t m = 0; m < mg; ++m) std::fill(yg + m * out_sp, yg + (m + 1) * out_sp, bd ? bd[g * mg + m] : T(0));
      if (in_sp == 0 || rows == 0) continue;
      std::fill(cd, cd + rows * in_sp, T(0));
      nn::gemm_acc(rows, in_sp, cg, wtd + g * rows * cg, cg, xd + (n * a.c + g * cg) * in_sp, in_sp, cd, in_sp);
      nn::col2im_add(static_cast<const T*>(cd), mg, w, yg);
    }
  }
  return Status::ok();
}

Status conv_transpose(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* wp, nn::tensor_input(ctx, 1));
  TANDEM_RETURN_IF_ERROR(check_conv_inputs(ctx, *xp, *wp));
  const Tensor& x0 = *xp;
  const Tensor& w0 = *wp;
  const graph::Node& node = ctx.node();
  ConvArgs a;
  a.n = x0.dim(0);
  a.c = x0.dim(1);
  a.group = node.attr_int("group", 1);
  if (a.group <= 0) return ctx.error("group must be positive");
  if (w0.dim(0) != a.c || a.c % a.group != 0) {
    return ctx.error("W " + shape_to_string(w0.shape()) + " does not match X's " + std::to_string(a.c) +
                     " channels with group " + std::to_string(a.group));
  }
  a.m = w0.dim(1) * a.group;
  const size_t r = x0.rank() - 2;
  const std::vector<int64_t> kernel(w0.shape().begin() + 2, w0.shape().end());
  const std::vector<int64_t> ks = node.attr_ints("kernel_shape");
  if (!ks.empty() && ks != kernel) {
    return ctx.error("kernel_shape " + shape_to_string(ks) + " does not match W " + shape_to_string(w0.shape()));
  }
  const Tensor* b0 = nullptr;
  if (ctx.has_input(2)) {
    b0 = &ctx.input(2);
    if (b0->dtype() != x0.dtype() || b0->rank() != 1 || b0->dim(0) != a.m) {
      return ctx.error("B must be a 1-D tensor of " + std::to_string(a.m) + " values of X's dtype");
    }
  }
  Window& w = a.w;
  w.kernel = kernel;
  w.out.assign(x0.shape().begin() + 2, x0.shape().end());  // the grid of window positions = the input
  w.stride = node.attr_ints("strides", std::vector<int64_t>(r, 1));
  w.dilation = node.attr_ints("dilations", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * r, 0));
  const std::vector<int64_t> out_pad = node.attr_ints("output_padding", std::vector<int64_t>(r, 0));
  std::vector<int64_t> out_shape_attr = node.attr_ints("output_shape");
  if (out_shape_attr.size() == r + 2) out_shape_attr.erase(out_shape_attr.begin(), out_shape_attr.begin() + 2);
  if (w.stride.size() != r || w.dilation.size() != r || pads.size() != 2 * r || out_pad.size() != r ||
      (!out_shape_attr.empty() && out_shape_attr.size() != r)) {
    return ctx.error("strides, dilations, output_padding, output_shape need " + std::to_string(r) +
                     " values and pads " + std::to_string(2 * r));
  }
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  w.in.resize(r);
  w.pad_begin.resize(r);
  w.pad_end.resize(r);
  for (size_t d = 0; d < r; ++d) {
    if (w.stride[d] <= 0 || w.dilation[d] <= 0 || kernel[d] <= 0) {
      return ctx.error("strides, dilations and kernel sizes must be positive");
    }
    if (out_pad[d] < 0 || pads[d] < 0 || pads[d + r] < 0) return ctx.error("pads and output_padding must be non-negative");
    const int64_t full = w.stride[d] * (w.out[d] - 1) + out_pad[d] + w.effective_kernel(d);
    const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
    if (!out_shape_attr.empty() || same) {
      const int64_t target = !out_shape_attr.empty() ? out_shape_attr[d] : w.out[d] * w.stride[d];
      if (target < 0) return ctx.error("output_shape must be non-negative");
      const int64_t total = std::max<int64_t>(0, full - target);
      // SAME_UPPER puts the extra padding at the end; SAME_LOWER and explicit output_shape at the beginning.
      w.pad_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pad_end[d] = total - w.pad_begin[d];
      w.in[d] = target;
    } else if (auto_pad == "VALID" || auto_pad == "NOTSET" || auto_pad.empty()) {
      w.pad_begin[d] = auto_pad == "VALID" ? 0 : pads[d];
      w.pad_end[d] = auto_pad == "VALID" ? 0 : pads[d + r];
      w.in[d] = full - w.pad_begin[d] - w.pad_end[d];
      if (w.in[d] < 0) return ctx.error("pads are larger than the output");
    } else {
      return ctx.error("unknown auto_pad '" + auto_pad + "'");
    }
  }
  Shape out_shape{a.n, a.m};
  out_shape.insert(out_shape.end(), w.in.begin(), w.in.end());

  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  TANDEM_ASSIGN_OR_RETURN(Tensor wt, to_float32(w0));
  Tensor b;
  if (b0) {
    TANDEM_ASSIGN_OR_RETURN(b, to_float32(*b0));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x0.dtype(), out_shape));
  TANDEM_RETURN_IF_ERROR(visit_float(x.dtype(), [&](auto tag) -> Status {
    return conv_transpose_impl<decltype(tag)>(a, x, wt, b0 ? &b : nullptr, y);
  }));
  return nn::finish_output(ctx, 0, x0.dtype(), y);
}

// Col2Im (opset 18): input [N, C * prod(block_shape), L] -> [N, C, image_shape...].
Status col2im(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* ip, nn::tensor_input(ctx, 1));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* bp, nn::tensor_input(ctx, 2));
  const Tensor& x0 = *xp;
  if (x0.rank() != 3) return ctx.error("input must have rank 3 [N, C*prod(block_shape), L], got " + shape_to_string(x0.shape()));
  const std::vector<int64_t> image = ip->to_int64_vector();
  const std::vector<int64_t> block = bp->to_int64_vector();
  if (image.empty() || image.size() != block.size()) return ctx.error("image_shape and block_shape must have the same non-zero length");
  TANDEM_ASSIGN_OR_RETURN(Window w, nn::make_window(ctx, image, block, false));
  int64_t kprod = 1, grid = 1;
  for (size_t d = 0; d < w.rank(); ++d) {
    kprod *= block[d];
    grid *= w.out[d];
  }
  if (kprod <= 0 || x0.dim(1) % kprod != 0) {
    return ctx.error("dim 1 (" + std::to_string(x0.dim(1)) + ") must be a multiple of prod(block_shape) = " + std::to_string(kprod));
  }
  if (x0.dim(2) != grid) {
    return ctx.error("dim 2 (" + std::to_string(x0.dim(2)) + ") must equal the number of blocks " + std::to_string(grid));
  }
  const int64_t c = x0.dim(1) / kprod;
  Shape out_shape{x0.dim(0), c};
  out_shape.insert(out_shape.end(), image.begin(), image.end());
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x0.dtype(), out_shape));
  const int64_t img = shape_numel(image);
  TANDEM_RETURN_IF_ERROR(visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T* yd = y.data<T>();
    std::fill(yd, yd + y.numel(), T(0));
    for (int64_t n = 0; n < x0.dim(0); ++n) {
      nn::col2im_add(x.data<T>() + n * x0.dim(1) * grid, c, w, yd + n * c * img);
    }
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, x0.dtype(), y);
}

}  // namespace

void register_nn_conv_kernels() {
  register_kernel("", "Conv", conv);
  register_kernel(passes::kTandemDomain, "FusedConv", conv);
  register_kernel("", "ConvTranspose", conv_transpose);
  register_kernel("", "Col2Im", col2im);
}

}  // namespace tandem::reference
