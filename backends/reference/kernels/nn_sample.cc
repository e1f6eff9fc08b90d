// Reference kernels: GridSample (opset 16 2-D and opset 20 N-D forms, PyTorch
// grid_sample semantics) and RoiAlign (ONNX Runtime semantics, incl. its
// "max" mode that takes the largest weighted corner).
#include <array>
#include <cmath>

#include "backends/reference/kernels/nn_common.h"

namespace tandem::reference {
namespace {

constexpr size_t kMaxGridDims = 3;

enum class PadMode { kZeros, kBorder, kReflection };
enum class SampleMode { kLinear, kNearest, kCubic };

double reflect(double x, double twice_low, double twice_high) {
  if (twice_low == twice_high) return 0;
  const double lo = twice_low / 2, span = (twice_high - twice_low) / 2;
  x = std::fabs(x - lo);
  const double extra = std::fmod(x, span);
  const auto flips = static_cast<int64_t>(std::floor(x / span));
  return flips % 2 == 0 ? extra + lo : span - extra + lo;
}

// Applies border/reflection padding to a source coordinate.
double pad_coordinate(double x, int64_t size, PadMode pad, bool align) {
  const double hi = static_cast<double>(size - 1);
  if (pad == PadMode::kBorder) return std::clamp(x, 0.0, hi);
  if (pad == PadMode::kReflection) {
    x = align ? reflect(x, 0, 2 * hi) : reflect(x, -1, 2 * static_cast<double>(size) - 1);
    return std::clamp(x, 0.0, hi);
  }
  return x;
}

struct Taps {
  int n = 0;
  std::array<int64_t, 4> idx{};  // -1: outside (contributes zero)
  std::array<double, 4> w{};
};

double cubic_weight(double t, double a) {
  t = std::fabs(t);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

Taps axis_taps(double g, int64_t size, SampleMode mode, PadMode pad, bool align) {
  Taps t;
  if (!std::isfinite(g)) g = 0;  // NaN/inf grid values sample as zero-padded nothing below
  g = std::clamp(g, -1e6, 1e6);
  const double s = static_cast<double>(size);
  double x = align ? (g + 1) / 2 * (s - 1) : ((g + 1) * s - 1) / 2;
  auto bounded = [&](int64_t i) { return i >= 0 && i < size ? i : -1; };
  if (mode == SampleMode::kCubic) {
    const double fl = std::floor(x);
    const double r = x - fl;
    t.n = 4;
    for (int k = 0; k < 4; ++k) {
      double xi = fl - 1 + k;
      if (pad != PadMode::kZeros) xi = pad_coordinate(xi, size, pad, align);
      t.idx[k] = bounded(static_cast<int64_t>(xi));
      t.w[k] = cubic_weight(r - (k - 1), -0.75);
    }
    return t;
  }
  x = pad_coordinate(x, size, pad, align);
  if (mode == SampleMode::kNearest) {
    t.n = 1;
    t.idx[0] = bounded(static_cast<int64_t>(std::nearbyint(x)));
    t.w[0] = 1;
    return t;
  }
  const double fl = std::floor(x);
  t.n = 2;
  t.idx[0] = bounded(static_cast<int64_t>(fl));
  t.idx[1] = bounded(static_cast<int64_t>(fl) + 1);
  t.w[1] = x - fl;
  t.w[0] = 1 - t.w[1];
  return t;
}

Status grid_sample(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* gp, nn::tensor_input(ctx, 1));
  const Tensor& x0 = *xp;
  const Tensor& grid = *gp;
  if (!nn::is_float_like(x0.dtype()) || !nn::is_float_like(grid.dtype())) return ctx.error("X and grid must be float tensors");
  if (x0.rank() < 3 || x0.rank() - 2 > kMaxGridDims) return ctx.error("X must have 1 to 3 spatial dims, got " + shape_to_string(x0.shape()));
  const size_t r = x0.rank() - 2;
  if (grid.rank() != x0.rank() || grid.dim(0) != x0.dim(0) || grid.dim(grid.rank() - 1) != static_cast<int64_t>(r)) {
    return ctx.error("grid " + shape_to_string(grid.shape()) + " must be [N, out spatial..., " + std::to_string(r) + "]");
  }
  const std::string mode_s = ctx.node().attr_string("mode", ctx.opset() >= 20 ? "linear" : "bilinear");
  const std::string pad_s = ctx.node().attr_string("padding_mode", "zeros");
  const bool align = ctx.node().attr_int("align_corners", 0) != 0;
  SampleMode mode;
  if (mode_s == "bilinear" || mode_s == "linear") {
    mode = SampleMode::kLinear;
  } else if (mode_s == "nearest") {
    mode = SampleMode::kNearest;
  } else if (mode_s == "bicubic" || mode_s == "cubic") {
    mode = SampleMode::kCubic;
  } else {
    return ctx.error("unknown mode '" + mode_s + "'");
  }
  PadMode pad;
  if (pad_s == "zeros") {
    pad = PadMode::kZeros;
  } else if (pad_s == "border") {
    pad = PadMode::kBorder;
  } else if (pad_s == "reflection") {
    pad = PadMode::kReflection;
  } else {
    return ctx.error("unknown padding_mode '" + pad_s + "'");
  }
  const int64_t n = x0.dim(0), c = x0.dim(1);
  Shape out_shape{n, c};
  int64_t out_sp = 1, in_sp = 1;
  for (size_t d = 0; d < r; ++d) {
    out_shape.push_back(grid.dim(d + 1));
    out_sp *= grid.dim(d + 1);
    in_sp *= x0.dim(d + 2);
  }
  const std::vector<int64_t> in_strides = strides_of(Shape(x0.shape().begin() + 2, x0.shape().end()));
  if (in_sp == 0 && out_sp > 0 && n * c > 0) return ctx.error("X has an empty spatial extent");
  const std::vector<double> g = nn::as_doubles(grid);
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x0.dtype(), out_shape));
  TANDEM_RETURN_IF_ERROR(visit_float(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    std::array<Taps, kMaxGridDims> taps;
    std::vector<int64_t> offs;
    std::vector<double> ws;
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t p = 0; p < out_sp; ++p) {
        const double* gv = g.data() + (b * out_sp + p) * static_cast<int64_t>(r);
        for (size_t d = 0; d < r; ++d) taps[d] = axis_taps(gv[r - 1 - d], x0.dim(d + 2), mode, pad, align);
        // Cartesian product of the per-axis taps, skipping outside ones.
        offs.clear();
        ws.clear();
        std::array<int, kMaxGridDims> k{};
        while (true) {
          int64_t off = 0;
          double w = 1;
          bool inside = true;
          for (size_t d = 0; d < r; ++d) {
            const int64_t i = taps[d].idx[k[d]];
            if (i < 0) { inside = false; break; }
            off += i * in_strides[d];
            w *= taps[d].w[k[d]];
          }
          if (inside && w != 0) {
            offs.push_back(off);
            ws.push_back(w);
          }
          size_t d = r;
          while (d-- > 0) {
            if (++k[d] < taps[d].n) break;
            k[d] = 0;
          }
          if (d == static_cast<size_t>(-1)) break;
        }
        for (int64_t ch = 0; ch < c; ++ch) {
          const T* plane = xd + (b * c + ch) * in_sp;
          double acc = 0;
          for (size_t t = 0; t < offs.size(); ++t) acc += ws[t] * static_cast<double>(plane[offs[t]]);
          yd[(b * c + ch) * out_sp + p] = static_cast<T>(acc);
        }
      }
    }
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, x0.dtype(), y);
}

struct Bilinear {
  int64_t o1 = 0, o2 = 0, o3 = 0, o4 = 0;
  double w1 = 0, w2 = 0, w3 = 0, w4 = 0;
};

Bilinear bilinear_at(double yy, double xx, int64_t height, int64_t width) {
  Bilinear b;
  if (yy < -1.0 || yy > static_cast<double>(height) || xx < -1.0 || xx > static_cast<double>(width)) return b;
  yy = std::max(yy, 0.0);
  xx = std::max(xx, 0.0);
  auto y_low = static_cast<int64_t>(yy), x_low = static_cast<int64_t>(xx);
  int64_t y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    yy = static_cast<double>(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    xx = static_cast<double>(x_low);
  } else {
    x_high = x_low + 1;
  }
  const double ly = yy - static_cast<double>(y_low), lx = xx - static_cast<double>(x_low);
  const double hy = 1 - ly, hx = 1 - lx;
  b.o1 = y_low * width + x_low;
  b.o2 = y_low * width + x_high;
  b.o3 = y_high * width + x_low;
  b.o4 = y_high * width + x_high;
  b.w1 = hy * hx;
  b.w2 = hy * lx;
  b.w3 = ly * hx;
  b.w4 = ly * lx;
  return b;
}

Status roi_align(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* rp, nn::tensor_input(ctx, 1));
  TANDEM_ASSIGN_OR_RETURN(const Tensor* bp, nn::tensor_input(ctx, 2));
  const Tensor& x0 = *xp;
  if (!nn::is_float_like(x0.dtype()) || !nn::is_float_like(rp->dtype())) return ctx.error("X and rois must be float tensors");
  if (x0.rank() != 4) return ctx.error("X must be [N, C, H, W], got " + shape_to_string(x0.shape()));
  if (rp->rank() != 2 || rp->dim(1) != 4) return ctx.error("rois must be [num_rois, 4], got " + shape_to_string(rp->shape()));
  const int64_t num_rois = rp->dim(0);
  if (bp->numel() != num_rois) return ctx.error("batch_indices must have one value per roi");
  const graph::Node& node = ctx.node();
  const std::string mode = node.attr_string("mode", "avg");
  if (mode != "avg" && mode != "max") return ctx.error("mode must be avg or max, got " + mode);
  const int64_t ph_n = node.attr_int("output_height", 1), pw_n = node.attr_int("output_width", 1);
  const int64_t sampling = node.attr_int("sampling_ratio", 0);
  const double spatial_scale = node.attr_float("spatial_scale", 1.0f);
  const bool half_pixel =
      node.attr_string("coordinate_transformation_mode", ctx.opset() >= 16 ? "half_pixel" : "output_half_pixel") ==
      "half_pixel";
  if (ph_n <= 0 || pw_n <= 0 || sampling < 0) return ctx.error("output_height/width must be positive and sampling_ratio >= 0");
  const int64_t n = x0.dim(0), c = x0.dim(1), height = x0.dim(2), width = x0.dim(3);
  const std::vector<double> rois = nn::as_doubles(*rp);
  const std::vector<int64_t> batch = bp->to_int64_vector();
  for (int64_t b : batch) {
    if (b < 0 || b >= n) return ctx.error("batch index " + std::to_string(b) + " is out of range for N = " + std::to_string(n));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor x, to_float32(x0));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, nn::output_buffer(ctx, 0, x0.dtype(), {num_rois, c, ph_n, pw_n}));
  const double offset = half_pixel ? 0.5 : 0.0;
  const bool avg = mode == "avg";
  if ((height == 0 || width == 0) && num_rois > 0 && c > 0) return ctx.error("X has an empty spatial extent");
  TANDEM_RETURN_IF_ERROR(visit_float(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    std::vector<Bilinear> samples;
    for (int64_t ri = 0; ri < num_rois; ++ri) {
      const double* roi = rois.data() + ri * 4;
      const double x1 = roi[0] * spatial_scale - offset, y1 = roi[1] * spatial_scale - offset;
      const double x2 = roi[2] * spatial_scale - offset, y2 = roi[3] * spatial_scale - offset;
      double roi_w = x2 - x1, roi_h = y2 - y1;
      if (!half_pixel) {
        roi_w = std::max(roi_w, 1.0);
        roi_h = std::max(roi_h, 1.0);
      }
      const double bin_h = roi_h / static_cast<double>(ph_n), bin_w = roi_w / static_cast<double>(pw_n);
      const int64_t grid_h = sampling > 0 ? sampling : static_cast<int64_t>(std::ceil(roi_h / static_cast<double>(ph_n)));
      const int64_t grid_w = sampling > 0 ? sampling : static_cast<int64_t>(std::ceil(roi_w / static_cast<double>(pw_n)));
      if (grid_h > 4096 || grid_w > 4096) return ctx.error("roi is too large for adaptive sampling");
      const double count = static_cast<double>(std::max<int64_t>(grid_h * grid_w, 1));
      // Sample positions are shared by every channel.
      samples.clear();
      for (int64_t ph = 0; ph < ph_n; ++ph) {
        for (int64_t pw = 0; pw < pw_n; ++pw) {
          for (int64_t iy = 0; iy < grid_h; ++iy) {
            const double yy = y1 + ph * bin_h + (iy + 0.5) * bin_h / static_cast<double>(grid_h);
            for (int64_t ix = 0; ix < grid_w; ++ix) {
              const double xx = x1 + pw * bin_w + (ix + 0.5) * bin_w / static_cast<double>(grid_w);
              samples.push_back(bilinear_at(yy, xx, height, width));
            }
          }
        }
      }
      const int64_t per_bin = grid_h * grid_w;
      for (int64_t ch = 0; ch < c; ++ch) {
        const T* plane = xd + (batch[ri] * c + ch) * height * width;
        T* out = yd + ((ri * c + ch) * ph_n) * pw_n;
        for (int64_t bin = 0; bin < ph_n * pw_n; ++bin) {
          const Bilinear* s = samples.data() + bin * per_bin;
          double acc = 0;
          for (int64_t k = 0; k < per_bin; ++k) {
            const Bilinear& q = s[k];
            const double v1 = q.w1 * plane[q.o1], v2 = q.w2 * plane[q.o2], v3 = q.w3 * plane[q.o3], v4 = q.w4 * plane[q.o4];
            if (avg) {
              acc += v1 + v2 + v3 + v4;
            } else {
              const double m = std::max(std::max(v1, v2), std::max(v3, v4));
              acc = k == 0 ? m : std::max(acc, m);
            }
          }
          out[bin] = static_cast<T>(avg ? acc / count : acc);
        }
      }
    }
    return Status::ok();
  }));
  return nn::finish_output(ctx, 0, x0.dtype(), y);
}

}  // namespace

void register_nn_sample_kernels() {
  register_kernel("", "GridSample", grid_sample);
  register_kernel("", "RoiAlign", roi_align);
}

}  // namespace tandem::reference
