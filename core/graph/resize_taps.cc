#include "core/graph/resize_taps.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tandem::graph {
namespace {

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

// Output sizes from scales: floor(in * scale).
Status sizes_from_scales(const Shape& x, ResizeParams& p) {
  p.out.resize(x.size());
  for (size_t d = 0; d < x.size(); ++d) {
    const double s = p.scales[d];
    if (!(s > 0) || !std::isfinite(s)) return invalid_argument("scales must be positive, got " + std::to_string(s));
    const double o = std::floor(static_cast<double>(x[d]) * s);
    if (o > 1e15) return invalid_argument("scales give an output that is too large");
    p.out[d] = static_cast<int64_t>(o);
  }
  return Status::ok();
}

std::string normalize_mode(std::string mode) {
  if (mode == "bilinear" || mode == "trilinear") return "linear";
  if (mode == "bicubic") return "cubic";
  return mode;
}

const Tensor* input_at(std::span<const Tensor* const> inputs, size_t i) {
  return i < inputs.size() && inputs[i] != nullptr && inputs[i]->numel() > 0 ? inputs[i] : nullptr;
}

Status scales_per_dim(const Tensor* scales, size_t rank, ResizeParams& p) {
  if (scales == nullptr) return invalid_argument("scales input is required");
  for (float f : scales->to_float_vector()) p.scales.push_back(f);
  if (p.scales.size() != rank)
    return invalid_argument("scales must have one value per dim of X (" + std::to_string(rank) + ")");
  return Status::ok();
}

Result<ResizeParams> upsample_params(const Node& node, const Shape& x, std::span<const Tensor* const> inputs) {
  ResizeParams p;
  p.mode = normalize_mode(node.attr_string("mode", "nearest"));
  p.coord = "asymmetric";
  p.nearest_mode = "simple";
  if (node.inputs.size() > 1) {
    TANDEM_RETURN_IF_ERROR(scales_per_dim(input_at(inputs, 1), x.size(), p));
  } else {
    for (float f : node.attr_floats("scales")) p.scales.push_back(f);
    if (p.scales.size() != x.size())
      return invalid_argument("scales must have one value per dim of X (" + std::to_string(x.size()) + ")");
  }
  if (p.mode != "nearest" && p.mode != "linear")
    return invalid_argument("mode must be nearest or linear, got " + p.mode);
  TANDEM_RETURN_IF_ERROR(sizes_from_scales(x, p));
  return p;
}

}  // namespace

Result<ResizeParams> resize_params(const Node& node, int64_t opset, const Shape& x,
                                   std::span<const Tensor* const> inputs) {
  if (node.op_type == "Upsample") return upsample_params(node, x, inputs);
  const size_t rank = x.size();
  ResizeParams p;
  p.mode = normalize_mode(node.attr_string("mode", "nearest"));
  if (p.mode != "nearest" && p.mode != "linear" && p.mode != "cubic")
    return invalid_argument("unknown mode '" + p.mode + "'");
  p.roi_start.assign(rank, 0.0);
  p.roi_end.assign(rank, 1.0);
  if (opset < 11) {
    p.coord = "asymmetric";
    p.nearest_mode = "simple";
    TANDEM_RETURN_IF_ERROR(scales_per_dim(input_at(inputs, 1), rank, p));
    TANDEM_RETURN_IF_ERROR(sizes_from_scales(x, p));
    return p;
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
    if (a < -static_cast<int64_t>(rank) || a >= static_cast<int64_t>(rank))
      return invalid_argument("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    if (a < 0) a += static_cast<int64_t>(rank);
    if (seen[static_cast<size_t>(a)]) return invalid_argument("axes must not repeat");
    seen[static_cast<size_t>(a)] = true;
  }
  const size_t na = axes.size();
  const Tensor* roi_t = input_at(inputs, 1);
  if (roi_t != nullptr && p.coord == "tf_crop_and_resize") {
    const std::vector<float> roi = roi_t->to_float_vector();
    if (roi.size() != 2 * na) return invalid_argument("roi must have " + std::to_string(2 * na) + " values");
    for (size_t k = 0; k < na; ++k) {
      p.roi_start[static_cast<size_t>(axes[k])] = roi[k];
      p.roi_end[static_cast<size_t>(axes[k])] = roi[k + na];
    }
  }
  const Tensor* scales = input_at(inputs, 2);
  const Tensor* sizes = input_at(inputs, 3);
  if ((scales != nullptr) == (sizes != nullptr))
    return invalid_argument("exactly one of scales and sizes must be given");
  p.scales.assign(rank, 1.0);
  if (scales != nullptr) {
    const std::vector<float> s = scales->to_float_vector();
    if (s.size() != na) return invalid_argument("scales must have " + std::to_string(na) + " values");
    for (size_t k = 0; k < na; ++k) p.scales[static_cast<size_t>(axes[k])] = s[k];
    TANDEM_RETURN_IF_ERROR(sizes_from_scales(x, p));
    return p;
  }
  const std::vector<int64_t> s = sizes->to_int64_vector();
  if (s.size() != na) return invalid_argument("sizes must have " + std::to_string(na) + " values");
  p.out = x;
  for (size_t k = 0; k < na; ++k) {
    if (s[k] < 0) return invalid_argument("sizes must be non-negative");
    if (x[static_cast<size_t>(axes[k])] == 0 && s[k] != 0) return invalid_argument("cannot resize an empty dim");
  }
  auto in_dim = [&](size_t k) { return static_cast<double>(x[static_cast<size_t>(axes[k])]); };
  if (policy == "stretch") {
    for (size_t k = 0; k < na; ++k) {
      const auto a = static_cast<size_t>(axes[k]);
      p.out[a] = s[k];
      p.scales[a] = x[a] > 0 ? static_cast<double>(s[k]) / in_dim(k) : 1.0;
    }
  } else if (policy == "not_larger" || policy == "not_smaller") {
    double scale = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
    for (size_t k = 0; k < na; ++k) {
      if (x[static_cast<size_t>(axes[k])] == 0) continue;
      const double r = static_cast<double>(s[k]) / in_dim(k);
      scale = policy == "not_larger" ? std::min(scale, r) : std::max(scale, r);
    }
    if (!std::isfinite(scale)) scale = 1.0;
    for (size_t k = 0; k < na; ++k) {
      const auto a = static_cast<size_t>(axes[k]);
      p.scales[a] = scale;
      p.out[a] = static_cast<int64_t>(std::nearbyint(scale * in_dim(k)));
    }
  } else {
    return invalid_argument("unknown keep_aspect_ratio_policy '" + policy + "'");
  }
  return p;
}

Result<ResizeTaps> resize_taps(const ResizeParams& p, size_t d, int64_t in) {
  const int64_t out = p.out[d];
  const double scale = p.scales[d];
  const double out_w = scale * static_cast<double>(in);  // the reference's (possibly fractional) output width
  ResizeTaps m;
  m.outside.assign(static_cast<size_t>(out), 0);
  const bool nearest = p.mode == "nearest";
  std::vector<double> w;
  int64_t first = 0;
  if (!nearest) {
    // Antialiasing widens the filter by 1/scale: bound the tables it needs.
    if (p.antialias && scale < 1 && (scale < 1e-4 || static_cast<double>(out) * 4 / scale > 1e8)) {
      return invalid_argument("scale " + std::to_string(scale) + " is too small for an antialiased resize");
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
      if (xo < 0 || xo > fin - 1) m.outside[static_cast<size_t>(o)] = 1;
    } else {
      return invalid_argument("unknown coordinate_transformation_mode '" + c + "'");
    }
    if (!std::isfinite(xo)) return invalid_argument("scales give a non-finite source coordinate");
    // Far outside, every tap clamps to the edge anyway; keep the integers small.
    xo = std::clamp(xo, -fin - 64.0, 2 * fin + 64.0);
    const double fl = std::floor(xo);
    const double ratio = xo - fl;
    const auto base = static_cast<int64_t>(fl);
    int64_t* idx = &m.idx[static_cast<size_t>(o * m.taps)];
    double* wt = &m.w[static_cast<size_t>(o * m.taps)];
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
          return invalid_argument("unknown nearest_mode '" + nm + "'");
        }
      }
      idx[0] = std::clamp<int64_t>(i, 0, in - 1);
      wt[0] = 1.0;
      identity = identity && idx[0] == o && !m.outside[static_cast<size_t>(o)];
      continue;
    }
    identity = false;
    interpolation_weights(p, ratio, scale, &first, &w);
    double sum = 0;
    for (int64_t t = 0; t < m.taps; ++t) {
      const int64_t raw = base + first + t;
      double wv = w[static_cast<size_t>(t)];
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

}  // namespace tandem::graph
