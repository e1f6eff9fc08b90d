// Reference kernels: Resize (opsets 10-19: nearest/linear/cubic, every
// coordinate_transformation_mode and nearest_mode, scales or sizes, axes,
// keep_aspect_ratio_policy, antialias) and Upsample. Interpolation is
// separable, so each resized axis is applied in turn with precomputed taps
// (input index + weight per output index), following onnx's numpy reference.
#include <cmath>
#include <limits>
#include <type_traits>

#include "backends/reference/kernels/nn_common.h"

namespace tandem::reference {
namespace {

struct ResizeParams {
  std::string mode = "nearest";  // nearest | linear | cubic
  std::string coord = "half_pixel";
  std::string nearest_mode = "round_prefer_floor";  // or "simple" (opset 10 / Upsample)
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
  bool antialias = false;
  std::vector<double> scales;  // per dim of X
  Shape out;
  std::vector<double> roi_start, roi_end;  // per dim (tf_crop_and_resize)
};

// Taps of one axis: output o reads idx[o * taps + t] with weight w[o * taps + t].
struct AxisMap {
  int64_t taps = 1;
  std::vector<int64_t> idx;
  std::vector<double> w;
  std::vector<uint8_t> outside;  // tf_crop_and_resize: output takes the extrapolation value
  bool identity = false;
};

// Weights at integer offsets first_offset .. first_offset + n - 1 from floor(x), for ratio = x - floor(x).
void interpolation_weights(const ResizeParams& p, double ratio, double scale, int64_t* first_offset,
                           std::vector<double>* w) {
  w->clear();
  const double s = p.antialias ? std::min(scale, 1.0) : 1.0;
  if (p.mode == "linear") {
    const int64_t start = p.antialias ? static_cast<int64_t>(std::floor(-1.0 / s) + 1) : 0;
    const int64_t n = 2 - 2 * start;
    *first_offset = start;
    for (int64_t k = 0; k < n; ++k) w->push_back(std::max(0.0, 1.0 - std::fabs((start + k - ratio) * s)));
  } else {  // cubic
    const double a = p.cubic_a;
    const int64_t start = p.antialias ? static_cast<int64_t>(std::floor(-2.0 / s) + 1) : -1;
    const int64_t n = 2 - 2 * start;
    *first_offset = start;
    for (int64_t k = 0; k < n; ++k) {
      const double t = std::fabs((start + k - ratio) * s);
      double c = 0;
      if (t < 1) {
        c = ((a + 2) * t - (a + 3)) * t * t + 1;
      } else if (t < 2) {
        c = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
      }
      w->push_back(c);
    }
  }
  if (p.antialias) {
    double sum = 0;
    for (double v : *w) sum += v;
    if (sum != 0) {
      for (double& v : *w) v /= sum;
    }
  }
}

Result<AxisMap> make_axis_map(const KernelContext& ctx, const ResizeParams& p, size_t d, int64_t in) {
  const int64_t out = p.out[d];
  const double scale = p.scales[d];
  const double out_w = scale * static_cast<double>(in);  // the reference's (possibly fractional) output width
  AxisMap m;
  m.outside.assign(static_cast<size_t>(out), 0);
  const bool nearest = p.mode == "nearest";
  std::vector<double> w;
  int64_t first = 0;
  if (!nearest) {
    // Antialiasing widens the filter by 1/scale: bound the tables it needs.
    if (p.antialias && scale < 1 && (scale < 1e-4 || static_cast<double>(out) * 4 / scale > 1e8)) {
      return ctx.error("scale " + std::to_string(scale) + " is too small for an antialiased resize");
    }
    interpolation_weights(p, 0.5, scale, &first, &w);
    m.taps = static_cast<int64_t>(w.size());
  }
  m.idx.resize(static_cast<size_t>(out * m.taps));
  m.w.resize(static_cast<size_t>(out * m.taps));
  bool identity = out == in;
  const double fin = static_cast<double>(in);
  for (int64_t o = 0; o < out; ++o) {
    const double x = static_cast<double>(o);
    double xo = 0;
    const std::string& c = p.coord;
    if (c == "half_pixel") {
      xo = (x + 0.5) / scale - 0.5;
    } else if (c == "half_pixel_symmetric") {
      const double adjustment = std::floor(out_w) / out_w;
      xo = fin / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5;
    } else if (c == "pytorch_half_pixel") {
      xo = out_w == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    } else if (c == "align_corners") {
      xo = out_w == 1 ? 0.0 : x * (fin - 1) / (out_w - 1);
    } else if (c == "asymmetric") {
      xo = x / scale;
    } else if (c == "tf_half_pixel_for_nn") {
      xo = (x + 0.5) / scale;
    } else if (c == "tf_crop_and_resize") {
      const double s0 = p.roi_start[d], e0 = p.roi_end[d];
      xo = out_w == 1 ? (e0 - s0) * (fin - 1) / 2 : x * (e0 - s0) * (fin - 1) / (out_w - 1);
      xo += s0 * (fin - 1);
      if (xo < 0 || xo > fin - 1) m.outside[o] = 1;
    } else {
      return ctx.error("unknown coordinate_transformation_mode '" + c + "'");
    }
    if (!std::isfinite(xo)) return ctx.error("scales give a non-finite source coordinate");
    // Far outside, every tap clamps to the edge anyway; keep the integers small.
    xo = std::clamp(xo, -fin - 64.0, 2 * fin + 64.0);
    const double fl = std::floor(xo);
    const double ratio = xo - fl;
    const auto base = static_cast<int64_t>(fl);
    int64_t* idx = &m.idx[o * m.taps];
    double* wt = &m.w[o * m.taps];
    if (nearest) {
      int64_t i = base;
      if (ratio > 0) {
        const std::string& nm = p.nearest_mode;
        if (nm == "round_prefer_floor") {
          i += ratio > 0.5 ? 1 : 0;
        } else if (nm == "round_prefer_ceil") {
          i += ratio >= 0.5 ? 1 : 0;
        } else if (nm == "ceil") {
          i += 1;
        } else if (nm == "simple") {
          i += scale < 1 ? 1 : 0;
        } else if (nm != "floor") {
          return ctx.error("unknown nearest_mode '" + nm + "'");
        }
      }
      idx[0] = std::clamp<int64_t>(i, 0, in - 1);
      wt[0] = 1.0;
      identity = identity && idx[0] == o && !m.outside[o];
      continue;
    }
    identity = false;
    interpolation_weights(p, ratio, scale, &first, &w);
    double sum = 0;
    for (int64_t t = 0; t < m.taps; ++t) {
      const int64_t raw = base + first + t;
      double wv = w[t];
      if (p.exclude_outside && (raw < 0 || raw >= in)) wv = 0;
      idx[t] = std::clamp<int64_t>(raw, 0, in - 1);
      wt[t] = wv;
      sum += wv;
    }
    if (p.exclude_outside && sum != 0) {
      for (int64_t t = 0; t < m.taps; ++t) wt[t] /= sum;
    }
  }
  m.identity = identity;
  return m;
}

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
void resize_axis(const T* src, T* dst, int64_t outer, int64_t in_d, int64_t inner, const AxisMap& m, int64_t out_d,
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
  std::vector<AxisMap> maps(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (x0.dim(d) == 0 && p.out[d] > 0) return ctx.error("cannot resize an empty dim to a non-empty one");
    if (p.out[d] == 0 || x0.dim(d) == 0) {
      maps[d].identity = false;
      continue;
    }
    TANDEM_ASSIGN_OR_RETURN(maps[d], make_axis_map(ctx, p, d, x0.dim(d)));
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

// Output sizes from scales: floor(in * scale).
Status sizes_from_scales(const KernelContext& ctx, const Tensor& x, ResizeParams& p) {
  p.out.resize(x.rank());
  for (size_t d = 0; d < x.rank(); ++d) {
    const double s = p.scales[d];
    if (!(s > 0) || !std::isfinite(s)) return ctx.error("scales must be positive, got " + std::to_string(s));
    const double o = std::floor(static_cast<double>(x.dim(d)) * s);
    if (o > 1e15) return ctx.error("scales give an output that is too large");
    p.out[d] = static_cast<int64_t>(o);
  }
  return Status::ok();
}

std::string normalize_mode(std::string mode) {
  if (mode == "bilinear" || mode == "trilinear") return "linear";
  if (mode == "bicubic") return "cubic";
  return mode;
}

Status upsample(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  const Tensor& x = *xp;
  TANDEM_RETURN_IF_ERROR(check_resize_input(ctx, x));
  ResizeParams p;
  p.mode = normalize_mode(ctx.node().attr_string("mode", "nearest"));
  p.coord = "asymmetric";
  p.nearest_mode = "simple";
  if (ctx.has_input(1)) {
    for (float f : ctx.input(1).to_float_vector()) p.scales.push_back(f);
  } else {
    for (float f : ctx.node().attr_floats("scales")) p.scales.push_back(f);
  }
  if (p.scales.size() != x.rank()) return ctx.error("scales must have one value per dim of X (" + std::to_string(x.rank()) + ")");
  if (p.mode != "nearest" && p.mode != "linear") return ctx.error("mode must be nearest or linear, got " + p.mode);
  TANDEM_RETURN_IF_ERROR(sizes_from_scales(ctx, x, p));
  return run_resize(ctx, x, p);
}

Status resize(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, nn::tensor_input(ctx, 0));
  const Tensor& x = *xp;
  TANDEM_RETURN_IF_ERROR(check_resize_input(ctx, x));
  const graph::Node& node = ctx.node();
  const size_t rank = x.rank();
  ResizeParams p;
  p.mode = normalize_mode(node.attr_string("mode", "nearest"));
  if (p.mode != "nearest" && p.mode != "linear" && p.mode != "cubic") return ctx.error("unknown mode '" + p.mode + "'");
  p.roi_start.assign(rank, 0.0);
  p.roi_end.assign(rank, 1.0);
  if (ctx.opset() < 11) {
    p.coord = "asymmetric";
    p.nearest_mode = "simple";
    if (!ctx.has_input(1)) return ctx.error("scales input is required");
    for (float f : ctx.input(1).to_float_vector()) p.scales.push_back(f);
    if (p.scales.size() != rank) return ctx.error("scales must have one value per dim of X (" + std::to_string(rank) + ")");
    TANDEM_RETURN_IF_ERROR(sizes_from_scales(ctx, x, p));
    return run_resize(ctx, x, p);
  }
  p.coord = node.attr_string("coordinate_transformation_mode", "half_pixel");
  p.nearest_mode = node.attr_string("nearest_mode", "round_prefer_floor");
  p.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  p.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  p.extrapolation = node.attr_float("extrapolation_value", 0.0f);
  p.antialias = node.attr_int("antialias", 0) != 0 && p.mode != "nearest";
  const std::string policy = node.attr_string("keep_aspect_ratio_policy", "stretch");
  std::vector<int64_t> axes = node.attr_ints("axes");
  if (axes.empty()) {
    for (size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int64_t>(d));
  }
  std::vector<bool> seen(rank, false);
  for (int64_t& a : axes) {
    TANDEM_ASSIGN_OR_RETURN(a, normalize_axis(a, static_cast<int64_t>(rank)));
    if (seen[a]) return ctx.error("axes must not repeat");
    seen[a] = true;
  }
  const size_t na = axes.size();
  auto present = [&](size_t i) { return ctx.has_input(i) && ctx.input(i).numel() > 0; };
  if (present(1) && p.coord == "tf_crop_and_resize") {
    const std::vector<float> roi = ctx.input(1).to_float_vector();
    if (roi.size() != 2 * na) return ctx.error("roi must have " + std::to_string(2 * na) + " values");
    for (size_t k = 0; k < na; ++k) {
      p.roi_start[axes[k]] = roi[k];
      p.roi_end[axes[k]] = roi[k + na];
    }
  }
  const bool has_scales = present(2), has_sizes = present(3);
  if (has_scales == has_sizes) return ctx.error("exactly one of scales and sizes must be given");
  p.scales.assign(rank, 1.0);
  if (has_scales) {
    const std::vector<float> s = ctx.input(2).to_float_vector();
    if (s.size() != na) return ctx.error("scales must have " + std::to_string(na) + " values");
    for (size_t k = 0; k < na; ++k) p.scales[axes[k]] = s[k];
    TANDEM_RETURN_IF_ERROR(sizes_from_scales(ctx, x, p));
  } else {
    const std::vector<int64_t> s = ctx.input(3).to_int64_vector();
    if (s.size() != na) return ctx.error("sizes must have " + std::to_string(na) + " values");
    p.out = x.shape();
    for (size_t k = 0; k < na; ++k) {
      if (s[k] < 0) return ctx.error("sizes must be non-negative");
      if (x.dim(axes[k]) == 0 && s[k] != 0) return ctx.error("cannot resize an empty dim");
    }
    if (policy == "stretch") {
      for (size_t k = 0; k < na; ++k) {
        p.out[axes[k]] = s[k];
        p.scales[axes[k]] = x.dim(axes[k]) > 0 ? static_cast<double>(s[k]) / static_cast<double>(x.dim(axes[k])) : 1.0;
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      double scale = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
      for (size_t k = 0; k < na; ++k) {
        if (x.dim(axes[k]) == 0) continue;
        const double r = static_cast<double>(s[k]) / static_cast<double>(x.dim(axes[k]));
        scale = policy == "not_larger" ? std::min(scale, r) : std::max(scale, r);
      }
      if (!std::isfinite(scale)) scale = 1.0;
      for (size_t k = 0; k < na; ++k) {
        p.scales[axes[k]] = scale;
        p.out[axes[k]] = static_cast<int64_t>(std::nearbyint(scale * static_cast<double>(x.dim(axes[k]))));
      }
    } else {
      return ctx.error("unknown keep_aspect_ratio_policy '" + policy + "'");
    }
  }
  return run_resize(ctx, x, p);
}

}  // namespace

void register_nn_resize_kernels() {
  register_kernel("", "Resize", resize);
  register_kernel("", "Upsample", upsample);
}

}  // namespace tandem::reference
