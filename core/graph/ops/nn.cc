// Shape inference: nn family (Conv, ConvTranspose, Col2Im, pools, MaxUnpool,
// normalizations, LRN, Dropout, Resize/Upsample, GridSample, RoiAlign).
// Mirrors the kernels' output-size arithmetic in backends/reference/kernels/nn_*.cc;
// a dim whose inputs are not known stays unknown.
#include <cmath>
#include <string>

#include "core/graph/ops/rules.h"

namespace tandem::graph {
namespace {

bool is_tensor(const TypeInfo& t) { return t.kind == TypeInfo::Kind::kTensor && t.dtype != DType::kUndefined; }
bool ranked(const TypeInfo& t) { return is_tensor(t) && t.has_shape; }

Status same_as_input0(InferContext& ctx) {
  if (is_tensor(ctx.input_type(0))) ctx.propagate(0, 0);
  return Status::ok();
}

// Output size of a sliding window along one dim; unknown when `in` is, or when attributes are bad.
Dim window_out(const Dim& in, int64_t k, int64_t s, int64_t dil, int64_t pb, int64_t pe, const std::string& auto_pad,
               bool ceil_mode) {
  if (!in.known() || k <= 0 || s <= 0 || dil <= 0) return Dim{};
  const int64_t ek = (k - 1) * dil + 1;
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") return Dim::of((in.value + s - 1) / s);
  if (auto_pad == "VALID") pb = pe = 0;
  else if (auto_pad != "NOTSET" && !auto_pad.empty()) return Dim{};
  const int64_t span = in.value + pb + pe - ek;
  if (span < 0 || pb < 0 || pe < 0) return Dim{};
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && out > 1 && (out - 1) * s >= in.value + pb) --out;
  return Dim::of(out);
}

// Spatial output dims of Conv/pools given the input type and the kernel sizes (-1 unknown).
std::vector<Dim> window_dims(const InferContext& ctx, const TypeInfo& x, const std::vector<int64_t>& kernel,
                             bool ceil_allowed) {
  const size_t r = x.dims.size() - 2;
  const graph::Node& node = ctx.node();
  const std::vector<int64_t> strides = node.attr_ints("strides", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> dil = node.attr_ints("dilations", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * r, 0));
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  const bool ceil_mode = ceil_allowed && node.attr_int("ceil_mode", 0) != 0;
  std::vector<Dim> out(r);
  if (strides.size() != r || dil.size() != r || pads.size() != 2 * r || kernel.size() != r) return out;
  for (size_t d = 0; d < r; ++d) {
    out[d] = window_out(x.dims[d + 2], kernel[d], strides[d], dil[d], pads[d], pads[d + r], auto_pad, ceil_mode);
  }
  return out;
}

Status conv(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const TypeInfo& w = ctx.input_type(1);
  if (!is_tensor(x)) return Status::ok();
  if (!ranked(x) || x.dims.size() < 3) {
    ctx.set_output_rank_unknown(0, x.dtype);
    return Status::ok();
  }
  const size_t r = x.dims.size() - 2;
  std::vector<int64_t> kernel = ctx.node().attr_ints("kernel_shape");
  Dim m;
  if (ranked(w) && w.dims.size() == x.dims.size()) {
    m = w.dims[0];
    const int64_t group = ctx.node().attr_int("group", 1);
    if (x.dims[1].known() && w.dims[1].known() && x.dims[1].value != w.dims[1].value * group) {
      return invalid_argument("Conv input has " + std::to_string(x.dims[1].value) + " channels but W " + w.to_string() +
                              " with group " + std::to_string(group) + " expects " +
                              std::to_string(w.dims[1].value * group));
    }
    if (kernel.empty()) {
      for (size_t d = 0; d < r; ++d) kernel.push_back(w.dims[d + 2].value);
    }
  }
  std::vector<Dim> out{x.dims[0], m};
  if (kernel.size() == r) {
    const std::vector<Dim> sp = window_dims(ctx, x, kernel, false);
    out.insert(out.end(), sp.begin(), sp.end());
  } else {
    out.resize(x.dims.size());
  }
  ctx.set_output(0, x.dtype, out);
  return Status::ok();
}

Status conv_transpose(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const TypeInfo& w = ctx.input_type(1);
  if (!is_tensor(x)) return Status::ok();
  if (!ranked(x) || x.dims.size() < 3) {
    ctx.set_output_rank_unknown(0, x.dtype);
    return Status::ok();
  }
  const graph::Node& node = ctx.node();
  const size_t r = x.dims.size() - 2;
  const int64_t group = node.attr_int("group", 1);
  std::vector<Dim> out(x.dims.size());
  out[0] = x.dims[0];
  std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  if (ranked(w) && w.dims.size() == x.dims.size()) {
    if (w.dims[1].known()) out[1] = Dim::of(w.dims[1].value * group);
    if (kernel.empty()) {
      for (size_t d = 0; d < r; ++d) kernel.push_back(w.dims[d + 2].value);
    }
  }
  std::vector<int64_t> out_shape = node.attr_ints("output_shape");
  if (out_shape.size() == r + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  const std::vector<int64_t> strides = node.attr_ints("strides", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> dil = node.attr_ints("dilations", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * r, 0));
  const std::vector<int64_t> out_pad = node.attr_ints("output_padding", std::vector<int64_t>(r, 0));
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  const bool attrs_ok = strides.size() == r && dil.size() == r && pads.size() == 2 * r && out_pad.size() == r;
  for (size_t d = 0; d < r && attrs_ok; ++d) {
    if (out_shape.size() == r) {
      out[d + 2] = Dim::of(out_shape[d]);
      continue;
    }
    const Dim& in = x.dims[d + 2];
    if (!in.known()) continue;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out[d + 2] = Dim::of(in.value * strides[d]);
    } else if (kernel.size() == r && kernel[d] > 0) {
      const int64_t full = strides[d] * (in.value - 1) + out_pad[d] + (kernel[d] - 1) * dil[d] + 1;
      const int64_t v = auto_pad == "VALID" ? full : full - pads[d] - pads[d + r];
      if (v >= 0) out[d + 2] = Dim::of(v);
    }
  }
  ctx.set_output(0, x.dtype, out);
  return Status::ok();
}

Status pool(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  if (!ranked(x) || x.dims.size() < 3) {
    ctx.set_output_rank_unknown(0, x.dtype);
    ctx.set_output_rank_unknown(1, DType::kInt64);
    return Status::ok();
  }
  std::vector<Dim> out{x.dims[0], x.dims[1]};
  const std::vector<Dim> sp = window_dims(ctx, x, ctx.node().attr_ints("kernel_shape"), true);
  out.insert(out.end(), sp.begin(), sp.end());
  ctx.set_output(0, x.dtype, out);
  ctx.set_output(1, DType::kInt64, out);
  return Status::ok();
}

Status global_pool(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  if (!ranked(x) || x.dims.size() < 2) {
    ctx.set_output_rank_unknown(0, x.dtype);
    return Status::ok();
  }
  std::vector<Dim> out(x.dims.size(), Dim::of(1));
  out[0] = x.dims[0];
  out[1] = x.dims[1];
  ctx.set_output(0, x.dtype, out);
  return Status::ok();
}

Status max_unpool(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  if (const Tensor* s = ctx.input_constant(2)) {
    ctx.set_output(0, x.dtype, s->to_int64_vector());
    return Status::ok();
  }
  if (ctx.has_input(2) || !ranked(x) || x.dims.size() < 3) {
    if (ranked(x)) {
      ctx.set_output(0, x.dtype, std::vector<Dim>(x.dims.size()));
    } else {
      ctx.set_output_rank_unknown(0, x.dtype);
    }
    return Status::ok();
  }
  const size_t r = x.dims.size() - 2;
  const std::vector<int64_t> kernel = ctx.node().attr_ints("kernel_shape");
  const std::vector<int64_t> strides = ctx.node().attr_ints("strides", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> pads = ctx.node().attr_ints("pads", std::vector<int64_t>(2 * r, 0));
  std::vector<Dim> out{x.dims[0], x.dims[1]};
  for (size_t d = 0; d < r; ++d) {
    const Dim& in = x.dims[d + 2];
    if (!in.known() || kernel.size() != r || strides.size() != r || pads.size() != 2 * r) {
      out.push_back(Dim{});
      continue;
    }
    const int64_t v = (in.value - 1) * strides[d] + kernel[d] - pads[d] - pads[d + r];
    out.push_back(v >= 0 ? Dim::of(v) : Dim{});
  }
  ctx.set_output(0, x.dtype, out);
  return Status::ok();
}

Status batch_norm(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  ctx.propagate(0, 0);
  // Training outputs (running/saved mean and var): [C] in the statistics' dtype.
  const TypeInfo& mean = ctx.input_type(3);
  const DType stat = is_tensor(mean) ? mean.dtype : x.dtype;
  const Dim c = ranked(x) && x.dims.size() >= 2 ? x.dims[1] : Dim{};
  for (size_t i = 1; i < ctx.num_outputs(); ++i) ctx.set_output(i, stat, std::vector<Dim>{c});
  return Status::ok();
}

Status layer_norm(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  ctx.propagate(0, 0);
  const DType stat = x.dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
  if (!ranked(x)) {
    ctx.set_output_rank_unknown(1, stat);
    ctx.set_output_rank_unknown(2, stat);
    return Status::ok();
  }
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = ctx.node().attr_int("axis", -1);
  if (axis < -rank || axis >= rank) return invalid_argument("LayerNormalization axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  if (axis < 0) axis += rank;
  std::vector<Dim> dims(x.dims.begin(), x.dims.begin() + axis);
  dims.resize(x.dims.size(), Dim::of(1));
  ctx.set_output(1, stat, dims);
  ctx.set_output(2, stat, dims);
  return Status::ok();
}

Status dropout(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  ctx.propagate(0, 0);
  const DType mask = ctx.opset() >= 10 ? DType::kBool : x.dtype;
  if (ranked(x)) {
    ctx.set_output(1, mask, x.dims);
  } else {
    ctx.set_output_rank_unknown(1, mask);
  }
  return Status::ok();
}

// Resize / Upsample: sizes or scales from constant inputs (or attributes).
Status resize(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  if (!ranked(x)) {
    ctx.set_output_rank_unknown(0, x.dtype);
    return Status::ok();
  }
  const graph::Node& node = ctx.node();
  const size_t rank = x.dims.size();
  std::vector<Dim> out(rank);
  const bool upsample = node.op_type == "Upsample";
  const int64_t opset = ctx.opset();
  std::vector<float> scales;
  const Tensor* sizes = nullptr;
  bool scales_known = false;
  if (upsample && !ctx.has_input(1)) {
    scales = node.attr_floats("scales");
    scales_known = true;
  } else if (upsample || opset < 11) {
    if (const Tensor* s = ctx.input_constant(1)) {
      scales = s->to_float_vector();
      scales_known = true;
    }
  } else {
    const Tensor* s = ctx.has_input(2) ? ctx.input_constant(2) : nullptr;
    const Tensor* z = ctx.has_input(3) ? ctx.input_constant(3) : nullptr;
    if (s && s->numel() > 0) {
      scales = s->to_float_vector();
      scales_known = true;
    } else if (z && z->numel() > 0) {
      sizes = z;
    }
    // Opset 18's axes and aspect-ratio policies: only the plain full-rank forms are inferred.
    if (!node.attr_ints("axes").empty() || node.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch") {
      scales_known = false;
      sizes = nullptr;
    }
  }
  if (sizes) {
    const std::vector<int64_t> v = sizes->to_int64_vector();
    if (v.size() == rank) {
      for (size_t d = 0; d < rank; ++d) out[d] = Dim::of(v[d]);
    }
  } else if (scales_known && scales.size() == rank) {
    for (size_t d = 0; d < rank; ++d) {
      if (scales[d] == 1.0f) {
        out[d] = x.dims[d];
      } else if (x.dims[d].known() && scales[d] > 0) {
        out[d] = Dim::of(static_cast<int64_t>(std::floor(static_cast<double>(x.dims[d].value) * scales[d])));
      }
    }
  }
  ctx.set_output(0, x.dtype, out);
  return Status::ok();
}

Status grid_sample(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const TypeInfo& g = ctx.input_type(1);
  if (!is_tensor(x)) return Status::ok();
  if (!ranked(g) || g.dims.size() < 3) {
    if (ranked(x)) {
      std::vector<Dim> out(x.dims.size());
      if (!out.empty()) out[0] = x.dims[0];
      if (out.size() > 1) out[1] = x.dims[1];
      ctx.set_output(0, x.dtype, out);
    } else {
      ctx.set_output_rank_unknown(0, x.dtype);
    }
    return Status::ok();
  }
  std::vector<Dim> out{g.dims[0], ranked(x) && x.dims.size() > 1 ? x.dims[1] : Dim{}};
  out.insert(out.end(), g.dims.begin() + 1, g.dims.end() - 1);
  ctx.set_output(0, x.dtype, out);
  return Status::ok();
}

Status roi_align(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const TypeInfo& rois = ctx.input_type(1);
  if (!is_tensor(x)) return Status::ok();
  const Dim n = ranked(rois) && rois.dims.size() == 2 ? rois.dims[0] : Dim{};
  const Dim c = ranked(x) && x.dims.size() == 4 ? x.dims[1] : Dim{};
  ctx.set_output(0, x.dtype,
                 std::vector<Dim>{n, c, Dim::of(ctx.node().attr_int("output_height", 1)),
                                  Dim::of(ctx.node().attr_int("output_width", 1))});
  return Status::ok();
}

Status col2im(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  const Tensor* image = ctx.input_constant(1);
  const Tensor* block = ctx.input_constant(2);
  if (!image) {
    ctx.set_output_rank_unknown(0, x.dtype);
    return Status::ok();
  }
  const std::vector<int64_t> img = image->to_int64_vector();
  std::vector<Dim> out{ranked(x) && x.dims.size() == 3 ? x.dims[0] : Dim{}, Dim{}};
  if (block && ranked(x) && x.dims.size() == 3 && x.dims[1].known()) {
    int64_t kprod = 1;
    for (int64_t b : block->to_int64_vector()) kprod *= b;
    if (kprod > 0 && x.dims[1].value % kprod == 0) out[1] = Dim::of(x.dims[1].value / kprod);
  }
  for (int64_t v : img) out.push_back(Dim::of(v));
  ctx.set_output(0, x.dtype, out);
  return Status::ok();
}

}  // namespace

void register_nn_rules() {
  register_infer("", "Conv", conv);
  register_infer("com.tandem", "FusedConv", conv);  // Conv + activation (core/passes): Conv's shapes
  register_infer("", "ConvTranspose", conv_transpose);
  register_infer("", "Col2Im", col2im);
  register_infer("", "MaxPool", pool);
  register_infer("", "AveragePool", pool);
  register_infer("", "LpPool", pool);
  register_infer("", "GlobalAveragePool", global_pool);
  register_infer("", "GlobalMaxPool", global_pool);
  register_infer("", "GlobalLpPool", global_pool);
  register_infer("", "MaxUnpool", max_unpool);
  register_infer("", "BatchNormalization", batch_norm);
  register_infer("", "InstanceNormalization", same_as_input0);
  register_infer("", "LayerNormalization", layer_norm);
  register_infer("", "GroupNormalization", same_as_input0);
  register_infer("", "LRN", same_as_input0);
  register_infer("", "MeanVarianceNormalization", same_as_input0);
  register_infer("", "Dropout", dropout);
  register_infer("", "Resize", resize);
  register_infer("", "Upsample", resize);
  register_infer("", "GridSample", grid_sample);
  register_infer("", "RoiAlign", roi_align);
}

}  // namespace tandem::graph
