#include "backends/xnnpack/lower.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <set>
#include <unordered_map>

namespace tandem::xnnpack {
namespace {

using graph::Graph;
using graph::Node;
using graph::ValueId;

constexpr float kInf = std::numeric_limits<float>::infinity();
// NCHW axis -> NHWC position, and back.
constexpr size_t kToNhwc[4] = {0, 2, 3, 1};    // nhwc dims = nchw dims permuted by this
constexpr size_t kFromNhwc[4] = {0, 3, 1, 2};  // nchw axis a sits at nhwc position kFromNhwc[a]

Status xnn_check(xnn_status s, const Node& node, const char* what) {
  if (s == xnn_status_success) return Status::ok();
  return unsupported(node.describe() + ": XNNPACK rejected " + what + " (" + status_name(s) + ")");
}

std::vector<size_t> to_sizes(const Shape& s) { return {s.begin(), s.end()}; }

Shape nhwc_dims(const Shape& nchw) { return {nchw[0], nchw[2], nchw[3], nchw[1]}; }

int64_t norm_axis(int64_t axis, size_t rank) { return axis < 0 ? axis + static_cast<int64_t>(rank) : axis; }

// Activation fused into a Conv / FullyConnected (com.tandem ops; see core/passes/README.md).
struct Activation {
  float min = -kInf, max = kInf;
  xnn_unary_operator trailing = xnn_unary_invalid;  // applied after the clamp-free op
};

class Lowerer {
 public:
  Lowerer(const Graph& g, xnn_subgraph_t sg, ConstantStore& store, std::vector<Tensor>& pinned)
      : g_(g), sg_(sg), store_(store), pinned_(pinned) {}

  Status add_external_input(ValueId v, uint32_t ext) {
    TANDEM_ASSIGN_OR_RETURN(Shape s, shape(v));
    auto dims = to_sizes(s);
    uint32_t id = 0;
    if (xnn_define_tensor_value(sg_, xnn_datatype_fp32, dims.size(), dims.data(), nullptr, ext,
                                XNN_VALUE_FLAG_EXTERNAL_INPUT, &id) != xnn_status_success) {
      return unsupported("XNNPACK rejected input '" + name(v) + "' of shape " + shape_to_string(s));
    }
    values_[v].native = id;
    return Status::ok();
  }
  void add_external_output(ValueId v, uint32_t ext) { external_out_[v] = ext; }

  Status lower(const Node& n);

  Status check_outputs_defined() const {
    for (const auto& [v, ext] : external_out_) {
      auto it = values_.find(v);
      if (it == values_.end() || it->second.native == XNN_INVALID_VALUE_ID) {
        return internal_error("XNNPACK lowering left output '" + name(v) + "' undefined");
      }
    }
    return Status::ok();
  }

 private:
  struct Stored {
    uint32_t native = XNN_INVALID_VALUE_ID;
    uint32_t nhwc = XNN_INVALID_VALUE_ID;
  };

  const std::string& name(ValueId v) const { return g_.values[static_cast<size_t>(v)].name; }
  bool is_constant(ValueId v) const { return v != graph::kNoValue && g_.values[static_cast<size_t>(v)].constant; }
  const Tensor& constant(ValueId v) const { return *g_.values[static_cast<size_t>(v)].constant; }

  Result<Shape> shape(ValueId v) const {
    const graph::ValueEntry& e = g_.values[static_cast<size_t>(v)];
    if (e.constant) return e.constant->shape();
    if (!e.type.shape_known()) return unsupported("value '" + e.name + "' has no concrete shape here");
    return e.type.concrete_shape();
  }

  // Where `v` is stored now: NHWC if that is all we have.
  Layout stored_layout(ValueId v) const {
    auto it = values_.find(v);
    if (it != values_.end() && it->second.native == XNN_INVALID_VALUE_ID && it->second.nhwc != XNN_INVALID_VALUE_ID) {
      return Layout::kNhwc;
    }
    return Layout::kNative;
  }

  uint32_t define_internal(const Shape& dims) {
    auto d = to_sizes(dims);
    uint32_t id = XNN_INVALID_VALUE_ID;
    xnn_define_tensor_value(sg_, xnn_datatype_fp32, d.size(), d.data(), nullptr, XNN_INVALID_VALUE_ID, 0, &id);
    return id;
  }

  Result<uint32_t> define_static(const Shape& dims, const float* data) {
    auto d = to_sizes(dims);
    uint32_t id = XNN_INVALID_VALUE_ID;
    if (xnn_define_tensor_value(sg_, xnn_datatype_fp32, d.size(), d.data(), data, XNN_INVALID_VALUE_ID, 0, &id) !=
        xnn_status_success) {
      return unsupported("XNNPACK rejected a constant of shape " + shape_to_string(dims));
    }
    return id;
  }

  // A float32 constant as XNNPACK static data (the tensor is pinned for the runtime's life).
  Result<uint32_t> static_constant(ValueId v) {
    const Tensor& t = constant(v);
    if (t.dtype() != DType::kFloat32) return unsupported("constant '" + name(v) + "' is not float32");
    pinned_.push_back(t);
    return define_static(t.shape(), t.data<float>());
  }

  // A store-owned constant (transformed weights).
  Result<uint32_t> stored_constant(const std::string& key, const Shape& dims, const std::function<std::vector<float>()>& make) {
    const std::vector<float>& data = store_.get(key, make);
    return define_static(dims, data.data());
  }

  // Store key for a transform of constant `v` (by address: the store pins the tensor).
  std::string key_of(ValueId v, const char* what) {
    const Tensor& t = constant(v);
    store_.pin(t);
    return std::string(what) + ":" + std::to_string(reinterpret_cast<uintptr_t>(t.raw_data())) + ":" + name(v);
  }

  Status transpose(uint32_t in, uint32_t out, const size_t* perm, size_t rank, const Node& n) {
    return xnn_check(xnn_define_static_transpose(sg_, rank, perm, in, out, 0), n, "a layout transpose");
  }

  // `v` in ONNX layout.
  Result<uint32_t> native(ValueId v, const Node& n) {
    Stored& s = values_[v];
    if (s.native != XNN_INVALID_VALUE_ID) return s.native;
    if (is_constant(v)) {
      TANDEM_ASSIGN_OR_RETURN(s.native, static_constant(v));
      return s.native;
    }
    if (s.nhwc == XNN_INVALID_VALUE_ID) return internal_error("value '" + name(v) + "' is used before it is defined");
    TANDEM_ASSIGN_OR_RETURN(Shape dims, shape(v));
    const uint32_t id = define_internal(dims);
    TANDEM_RETURN_IF_ERROR(transpose(s.nhwc, id, kFromNhwc, 4, n));
    values_[v].native = id;
    return id;
  }

  // Rank-4 `v` stored as NHWC.
  Result<uint32_t> nhwc(ValueId v, const Node& n) {
    Stored& s = values_[v];
    if (s.nhwc != XNN_INVALID_VALUE_ID) return s.nhwc;
    TANDEM_ASSIGN_OR_RETURN(Shape dims, shape(v));
    if (dims.size() != 4) return unsupported("value '" + name(v) + "' is not rank 4");
    if (is_constant(v)) {
      const Tensor& t = constant(v);
      if (t.dtype() != DType::kFloat32) return unsupported("constant '" + name(v) + "' is not float32");
      TANDEM_ASSIGN_OR_RETURN(uint32_t id, stored_constant(key_of(v, "nhwc"), nhwc_dims(dims), [&] {
        return permute_nchw_to_nhwc(t.data<float>(), dims);
      }));
      values_[v].nhwc = id;
      return id;
    }
    TANDEM_ASSIGN_OR_RETURN(uint32_t src, native(v, n));
    const uint32_t id = define_internal(nhwc_dims(dims));
    TANDEM_RETURN_IF_ERROR(transpose(src, id, kToNhwc, 4, n));
    values_[v].nhwc = id;
    return id;
  }

  // `v` in the given layout.
  Result<uint32_t> in_layout(ValueId v, Layout layout, const Node& n) {
    return layout == Layout::kNhwc ? nhwc(v, n) : native(v, n);
  }

  static std::vector<float> permute_nchw_to_nhwc(const float* src, const Shape& d) {
    const int64_t N = d[0], C = d[1], H = d[2], W = d[3];
    std::vector<float> out(static_cast<size_t>(N * C * H * W));
    for (int64_t b = 0; b < N; ++b)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) out[((b * H + y) * W + x) * C + c] = src[((b * C + c) * H + y) * W + x];
    return out;
  }

  // Value for an operand that broadcasts against a rank-4 NHWC result.
  Result<uint32_t> nhwc_broadcast(ValueId v, const Node& n) {
    TANDEM_ASSIGN_OR_RETURN(Shape dims, shape(v));
    if (dims.size() == 4) return nhwc(v, n);
    Shape padded(4 - dims.size(), 1);
    padded.insert(padded.end(), dims.begin(), dims.end());
    if (is_constant(v)) {
      const Tensor& t = constant(v);
      if (t.dtype() != DType::kFloat32) return unsupported("constant '" + name(v) + "' is not float32");
      return stored_constant(key_of(v, "nhwc4"), nhwc_dims(padded),
                             [&] { return permute_nchw_to_nhwc(t.data<float>(), padded); });
    }
    TANDEM_ASSIGN_OR_RETURN(uint32_t src, native(v, n));
    const uint32_t as4 = define_internal(padded);
    auto p = to_sizes(padded);
    TANDEM_RETURN_IF_ERROR(xnn_check(xnn_define_static_reshape(sg_, 4, p.data(), src, as4, 0), n, "a reshape"));
    const uint32_t id = define_internal(nhwc_dims(padded));
    TANDEM_RETURN_IF_ERROR(transpose(as4, id, kToNhwc, 4, n));
    return id;
  }

  // Defines the XNNPACK value a node writes for ONNX output `v`, in `layout`.
  // Partition outputs are external values in ONNX layout: an NHWC result is
  // written to an internal value and transposed out after the node.
  Result<uint32_t> output(ValueId v, Layout layout) {
    TANDEM_ASSIGN_OR_RETURN(Shape dims, shape(v));
    Stored& s = values_[v];
    auto ext = external_out_.find(v);
    if (layout == Layout::kNative) {
      if (ext != external_out_.end()) {
        auto d = to_sizes(dims);
        uint32_t id = XNN_INVALID_VALUE_ID;
        if (xnn_define_tensor_value(sg_, xnn_datatype_fp32, d.size(), d.data(), nullptr, ext->second,
                                    XNN_VALUE_FLAG_EXTERNAL_OUTPUT, &id) != xnn_status_success) {
          return unsupported("XNNPACK rejected output '" + name(v) + "'");
        }
        s.native = id;
      } else {
        s.native = define_internal(dims);
      }
      return s.native;
    }
    s.nhwc = define_internal(nhwc_dims(dims));
    if (ext != external_out_.end()) pending_nhwc_outputs_.push_back(v);
    return s.nhwc;
  }

  // After a node: copy NHWC results that leave the partition into their external value.
  Status flush_outputs(const Node& n) {
    for (ValueId v : pending_nhwc_outputs_) {
      const uint32_t src = values_[v].nhwc;
      values_[v].nhwc = XNN_INVALID_VALUE_ID;  // force native() to take the external value
      TANDEM_ASSIGN_OR_RETURN(uint32_t out, output(v, Layout::kNative));
      TANDEM_RETURN_IF_ERROR(transpose(src, out, kFromNhwc, 4, n));
      values_[v].nhwc = src;
    }
    pending_nhwc_outputs_.clear();
    return Status::ok();
  }

  // ---- operator families ---------------------------------------------------
  Status lower_unary(const Node& n, xnn_unary_operator op, const xnn_unary_params* params);
  Status lower_binary(const Node& n, xnn_binary_operator op, ValueId a, ValueId b, ValueId out, float min = -kInf,
                      float max = kInf);
  Status lower_conv(const Node& n, const Activation& act);
  Status lower_conv_transpose(const Node& n);
  Status lower_pool(const Node& n, bool is_max);
  Status lower_global_pool(const Node& n, bool is_max);
  Status lower_fully_connected(const Node& n, ValueId x, ValueId w, ValueId bias, bool w_is_kn, float alpha,
                               float beta, const Activation& act);
  Status lower_gemm(const Node& n);
  Status lower_matmul(const Node& n);
  Status lower_softmax(const Node& n);
  Status lower_concat(const Node& n);
  Status lower_split(const Node& n);
  Status lower_slice(const Node& n);
  Status lower_transpose(const Node& n);
  Status lower_reshape(const Node& n);
  Status lower_pad(const Node& n);
  Status lower_reduce(const Node& n, xnn_reduce_operator op);
  Status lower_layer_norm(const Node& n);
  Status lower_batch_norm(const Node& n);
  Status lower_resize(const Node& n);
  Status apply_activation(const Node& n, ValueId out, Layout layout, const Activation& act,
                          const std::function<Status(uint32_t, float, float)>& define);

  const Graph& g_;
  xnn_subgraph_t sg_;
  ConstantStore& store_;
  std::vector<Tensor>& pinned_;
  std::unordered_map<ValueId, Stored> values_;
  std::map<ValueId, uint32_t> external_out_;
  std::vector<ValueId> pending_nhwc_outputs_;
};

// ---- activations -------------------------------------------------------------

Result<Activation> activation_of(const Node& n) {
  Activation a;
  const std::string kind = n.attr_string("activation", "");
  const std::vector<float> params = n.attr_floats("activation_params");
  if (kind.empty()) return a;
  if (kind == "Relu") {
    a.min = 0;
  } else if (kind == "Clip") {
    if (params.size() >= 1) a.min = params[0];
    if (params.size() >= 2) a.max = params[1];
  } else if (kind == "HardSwish") {
    a.trailing = xnn_unary_hardswish;
  } else if (kind == "Sigmoid") {
    a.trailing = xnn_unary_sigmoid;
  } else if (kind == "Tanh") {
    a.trailing = xnn_unary_tanh;
  } else {
    return unsupported(n.describe() + ": activation " + kind);
  }
  return a;
}

Status Lowerer::apply_activation(const Node& n, ValueId out, Layout layout, const Activation& act,
                                 const std::function<Status(uint32_t, float, float)>& define) {
  if (act.trailing == xnn_unary_invalid) {
    TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(out, layout));
    return define(y, act.min, act.max);
  }
  TANDEM_ASSIGN_OR_RETURN(Shape dims, shape(out));
  const uint32_t tmp = define_internal(layout == Layout::kNhwc ? nhwc_dims(dims) : dims);
  TANDEM_RETURN_IF_ERROR(define(tmp, act.min, act.max));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(out, layout));
  return xnn_check(xnn_define_unary(sg_, act.trailing, nullptr, tmp, y, 0), n, "the fused activation");
}

// ---- elementwise ---------------------------------------------------------------

Status Lowerer::lower_unary(const Node& n, xnn_unary_operator op, const xnn_unary_params* params) {
  const Layout layout = stored_layout(n.inputs[0]);
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, in_layout(n.inputs[0], layout, n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], layout));
  if (op == xnn_unary_invalid) return xnn_check(xnn_define_copy(sg_, x, y, 0), n, "a copy");
  return xnn_check(xnn_define_unary(sg_, op, params, x, y, 0), n, "the operator");
}

Status Lowerer::lower_binary(const Node& n, xnn_binary_operator op, ValueId a, ValueId b, ValueId out, float min,
                             float max) {
  TANDEM_ASSIGN_OR_RETURN(Shape out_dims, shape(out));
  // NHWC when a non-constant operand already is, and the result is rank 4.
  const bool use_nhwc = out_dims.size() == 4 && ((!is_constant(a) && stored_layout(a) == Layout::kNhwc) ||
                                                 (!is_constant(b) && stored_layout(b) == Layout::kNhwc));
  uint32_t xa = 0, xb = 0;
  if (use_nhwc) {
    TANDEM_ASSIGN_OR_RETURN(xa, nhwc_broadcast(a, n));
    TANDEM_ASSIGN_OR_RETURN(xb, nhwc_broadcast(b, n));
  } else {
    TANDEM_ASSIGN_OR_RETURN(xa, native(a, n));
    TANDEM_ASSIGN_OR_RETURN(xb, native(b, n));
  }
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(out, use_nhwc ? Layout::kNhwc : Layout::kNative));
  xnn_binary_params params{min, max};
  const bool clamped = min != -kInf || max != kInf;
  return xnn_check(xnn_define_binary(sg_, op, clamped ? &params : nullptr, xa, xb, y, 0), n, "the operator");
}

// ---- convolution -----------------------------------------------------------------

struct Window2d {
  uint32_t top = 0, left = 0, bottom = 0, right = 0;
  uint32_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
};

// Kernel, strides, dilations and padding of a 2-D Conv/Pool node for a concrete input.
Result<Window2d> window_of(const Node& n, const Shape& in, const std::vector<int64_t>& kernel) {
  Window2d w;
  if (kernel.size() != 2) return unsupported(n.describe() + ": only 2-D windows");
  const auto strides = n.attr_ints("strides", {1, 1});
  const auto dil = n.attr_ints("dilations", {1, 1});
  auto pads = n.attr_ints("pads", {0, 0, 0, 0});
  if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4) return unsupported(n.describe() + ": window attributes");
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "VALID") {
    pads = {0, 0, 0, 0};
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (int i = 0; i < 2; ++i) {
      const int64_t size = in[static_cast<size_t>(2 + i)];
      const int64_t out = (size + strides[i] - 1) / strides[i];
      const int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - size);
      const int64_t small = total / 2, big = total - small;
      pads[i] = auto_pad == "SAME_UPPER" ? small : big;
      pads[i + 2] = auto_pad == "SAME_UPPER" ? big : small;
    }
  } else if (auto_pad != "NOTSET") {
    return unsupported(n.describe() + ": auto_pad " + auto_pad);
  }
  for (int64_t v : pads) {
    if (v < 0) return unsupported(n.describe() + ": negative padding");
  }
  w.top = static_cast<uint32_t>(pads[0]);
  w.left = static_cast<uint32_t>(pads[1]);
  w.bottom = static_cast<uint32_t>(pads[2]);
  w.right = static_cast<uint32_t>(pads[3]);
  w.kh = static_cast<uint32_t>(kernel[0]);
  w.kw = static_cast<uint32_t>(kernel[1]);
  w.sh = static_cast<uint32_t>(strides[0]);
  w.sw = static_cast<uint32_t>(strides[1]);
  w.dh = static_cast<uint32_t>(dil[0]);
  w.dw = static_cast<uint32_t>(dil[1]);
  return w;
}

Status Lowerer::lower_conv(const Node& n, const Activation& act) {
  const ValueId xv = n.inputs[0], wv = n.inputs[1];
  const ValueId bv = n.has_input(2) ? n.inputs[2] : graph::kNoValue;
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(xv));
  const Tensor& wt = constant(wv);
  const Shape& ws = wt.shape();  // [M, C/g, kh, kw]
  if (in.size() != 4 || ws.size() != 4) return unsupported(n.describe() + ": only 2-D convolution");
  const int64_t groups = n.attr_int("group", 1);
  const int64_t M = ws[0], Cg = ws[1], KH = ws[2], KW = ws[3];
  const int64_t C = in[1];
  if (groups <= 0 || C != Cg * groups || M % groups != 0) return unsupported(n.describe() + ": channel/group mismatch");
  TANDEM_ASSIGN_OR_RETURN(Window2d w, window_of(n, in, {KH, KW}));
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, nhwc(xv, n));
  uint32_t bias = XNN_INVALID_VALUE_ID;
  if (bv != graph::kNoValue) {
    TANDEM_ASSIGN_OR_RETURN(bias, static_constant(bv));
  }
  const float* src = wt.data<float>();
  const bool depthwise = groups > 1 && Cg == 1;
  uint32_t filter = 0;
  if (depthwise) {
    // [1, kh, kw, M]: output channel m of input channel m / multiplier.
    TANDEM_ASSIGN_OR_RETURN(filter, stored_constant(key_of(wv, "dw"), {1, KH, KW, M}, [&] {
      std::vector<float> out(static_cast<size_t>(M * KH * KW));
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < KH * KW; ++k) out[static_cast<size_t>(k * M + m)] = src[m * KH * KW + k];
      return out;
    }));
  } else {
    // OIHW -> OHWI (I = channels per group).
    TANDEM_ASSIGN_OR_RETURN(filter, stored_constant(key_of(wv, "ohwi"), {M, KH, KW, Cg}, [&] {
      std::vector<float> out(static_cast<size_t>(M * KH * KW * Cg));
      for (int64_t m = 0; m < M; ++m)
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t k = 0; k < KH * KW; ++k) out[static_cast<size_t>((m * KH * KW + k) * Cg + c)] = src[(m * Cg + c) * KH * KW + k];
      return out;
    }));
  }
  return apply_activation(n, n.outputs[0], Layout::kNhwc, act, [&](uint32_t y, float lo, float hi) {
    if (depthwise) {
      return xnn_check(xnn_define_depthwise_convolution_2d(sg_, w.top, w.right, w.bottom, w.left, w.kh, w.kw, w.sh,
                                                           w.sw, w.dh, w.dw, static_cast<uint32_t>(M / C),
                                                           static_cast<size_t>(C), lo, hi, x, filter, bias, y, 0),
                       n, "the depthwise convolution");
    }
    return xnn_check(xnn_define_convolution_2d(sg_, w.top, w.right, w.bottom, w.left, w.kh, w.kw, w.sh, w.sw, w.dh,
                                               w.dw, static_cast<uint32_t>(groups), static_cast<size_t>(Cg),
                                               static_cast<size_t>(M / groups), lo, hi, x, filter, bias, y, 0),
                     n, "the convolution");
  });
}

Status Lowerer::lower_conv_transpose(const Node& n) {
  const ValueId xv = n.inputs[0], wv = n.inputs[1];
  const ValueId bv = n.has_input(2) ? n.inputs[2] : graph::kNoValue;
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(xv));
  TANDEM_ASSIGN_OR_RETURN(Shape out_shape, shape(n.outputs[0]));
  const Tensor& wt = constant(wv);
  const Shape& ws = wt.shape();  // [C, M/g, kh, kw]
  if (in.size() != 4 || ws.size() != 4) return unsupported(n.describe() + ": only 2-D");
  const int64_t groups = n.attr_int("group", 1);
  const int64_t C = ws[0], Mg = ws[1], KH = ws[2], KW = ws[3];
  if (groups <= 0 || in[1] != C || C % groups != 0) return unsupported(n.describe() + ": channel/group mismatch");
  const int64_t Cg = C / groups;
  const auto strides = n.attr_ints("strides", {1, 1});
  const auto dil = n.attr_ints("dilations", {1, 1});
  if (strides.size() != 2 || dil.size() != 2) return unsupported(n.describe() + ": window attributes");
  // Padding from the inferred output size: total = s*(in-1) + (k-1)*d + 1 - out, split begin-first
  // as the explicit pads say (or SAME_UPPER's rule); what the pads cannot take is the adjustment.
  auto pads = n.attr_ints("pads", {0, 0, 0, 0});
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  uint32_t pad[4] = {0, 0, 0, 0}, adj[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const int64_t full = strides[i] * (in[2 + i] - 1) + (ws[2 + i] - 1) * dil[i] + 1;
    const int64_t total = full - out_shape[2 + i];
    int64_t begin = 0, end = 0;
    if (n.attr("output_shape") != nullptr || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      if (total < 0) return unsupported(n.describe() + ": output larger than the full convolution");
      begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      end = total - begin;
    } else {
      if (pads.size() != 4) return unsupported(n.describe() + ": pads");
      begin = pads[i];
      end = pads[i + 2];
      const int64_t a = -(total - begin - end);  // output_padding
      if (a < 0) return unsupported(n.describe() + ": inconsistent output size");
      adj[i] = static_cast<uint32_t>(a);
    }
    if (begin < 0 || end < 0) return unsupported(n.describe() + ": negative padding");
    pad[i] = static_cast<uint32_t>(begin);
    pad[i + 2] = static_cast<uint32_t>(end);
  }
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, nhwc(xv, n));
  uint32_t bias = XNN_INVALID_VALUE_ID;
  if (bv != graph::kNoValue) {
    TANDEM_ASSIGN_OR_RETURN(bias, static_constant(bv));
  }
  const float* src = wt.data<float>();
  const int64_t M = Mg * groups;
  // [C, M/g, kh, kw] -> [M, kh, kw, C/g]: output channel g*Mg+o reads input channel g*Cg+c.
  TANDEM_ASSIGN_OR_RETURN(uint32_t filter, stored_constant(key_of(wv, "deconv"), {M, KH, KW, Cg}, [&] {
    std::vector<float> out(static_cast<size_t>(M * KH * KW * Cg));
    for (int64_t gi = 0; gi < groups; ++gi)
      for (int64_t o = 0; o < Mg; ++o)
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t k = 0; k < KH * KW; ++k)
            out[static_cast<size_t>(((gi * Mg + o) * KH * KW + k) * Cg + c)] = src[((gi * Cg + c) * Mg + o) * KH * KW + k];
    return out;
  }));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNhwc));
  return xnn_check(xnn_define_deconvolution_2d(sg_, pad[0], pad[3], pad[2], pad[1], adj[0], adj[1],
                                               static_cast<uint32_t>(KH), static_cast<uint32_t>(KW),
                                               static_cast<uint32_t>(strides[0]), static_cast<uint32_t>(strides[1]),
                                               static_cast<uint32_t>(dil[0]), static_cast<uint32_t>(dil[1]),
                                               static_cast<uint32_t>(groups), static_cast<size_t>(Cg),
                                               static_cast<size_t>(Mg), -kInf, kInf, x, filter, bias, y, 0),
                   n, "the transposed convolution");
}

// ---- pooling -----------------------------------------------------------------------

Status Lowerer::lower_pool(const Node& n, bool is_max) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  TANDEM_ASSIGN_OR_RETURN(Shape out, shape(n.outputs[0]));
  if (in.size() != 4) return unsupported(n.describe() + ": only 2-D pooling");
  TANDEM_ASSIGN_OR_RETURN(Window2d w, window_of(n, in, n.attr_ints("kernel_shape")));
  // ceil_mode: the inferred output may need extra bottom/right padding.
  uint32_t extra[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const int64_t k = i == 0 ? (int64_t{w.kh} - 1) * w.dh + 1 : (int64_t{w.kw} - 1) * w.dw + 1;
    const int64_t s = i == 0 ? w.sh : w.sw;
    const int64_t padded = in[2 + i] + (i == 0 ? w.top + w.bottom : w.left + w.right);
    const int64_t need = (out[2 + i] - 1) * s + k - padded;
    if (need > 0) extra[i] = static_cast<uint32_t>(need);
  }
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, nhwc(n.inputs[0], n));
  if (is_max) {
    TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNhwc));
    return xnn_check(xnn_define_max_pooling_2d(sg_, w.top, w.right + extra[1], w.bottom + extra[0], w.left, w.kh,
                                               w.kw, w.sh, w.sw, w.dh, w.dw, -kInf, kInf, x, y, 0),
                     n, "the max pooling");
  }
  if (w.dh != 1 || w.dw != 1 || extra[0] != 0 || extra[1] != 0) return unsupported(n.describe() + ": dilated or ceil-mode average pooling");
  const bool has_pads = w.top + w.left + w.bottom + w.right > 0;
  if (has_pads && n.attr_int("count_include_pad", 0) != 0) {
    // Zeros count: pad explicitly, then pool without padding.
    const size_t pre[4] = {0, w.top, w.left, 0}, post[4] = {0, w.bottom, w.right, 0};
    const uint32_t padded = define_internal({in[0], in[2] + w.top + w.bottom, in[3] + w.left + w.right, in[1]});
    TANDEM_RETURN_IF_ERROR(xnn_check(xnn_define_static_constant_pad(sg_, pre, post, 0.0f, x, padded, 0), n, "a pad"));
    x = padded;
    w.top = w.left = w.bottom = w.right = 0;
  }
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNhwc));
  return xnn_check(xnn_define_average_pooling_2d(sg_, w.top, w.right, w.bottom, w.left, w.kh, w.kw, w.sh, w.sw, -kInf,
                                                 kInf, x, y, 0),
                   n, "the average pooling");
}

Status Lowerer::lower_global_pool(const Node& n, bool is_max) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  if (in.size() != 4) return unsupported(n.describe() + ": only 2-D pooling");
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, nhwc(n.inputs[0], n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNhwc));
  if (in[2] * in[3] == 1) return xnn_check(xnn_define_copy(sg_, x, y, 0), n, "a copy");
  if (is_max) {
    return xnn_check(xnn_define_max_pooling_2d(sg_, 0, 0, 0, 0, static_cast<uint32_t>(in[2]),
                                               static_cast<uint32_t>(in[3]), 1, 1, 1, 1, -kInf, kInf, x, y, 0),
                     n, "the global max pooling");
  }
  const int64_t axes[2] = {1, 2};
  return xnn_check(xnn_define_static_reduce_v2(sg_, xnn_reduce_mean, 2, axes, x, y, XNN_FLAG_KEEP_DIMS), n,
                   "the global average pooling");
}

// ---- matrix multiplication --------------------------------------------------------------

// Y = act(X[..., K] @ W + beta * bias): W is [K, N] when w_is_kn, else [N, K]; alpha scales W.
Status Lowerer::lower_fully_connected(const Node& n, ValueId xv, ValueId wv, ValueId bv, bool w_is_kn, float alpha,
                                      float beta, const Activation& act) {
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, native(xv, n));
  const Tensor& wt = constant(wv);
  if (wt.dtype() != DType::kFloat32 || wt.rank() != 2) return unsupported(n.describe() + ": weights must be 2-D float32");
  const int64_t N = w_is_kn ? wt.dim(1) : wt.dim(0);
  uint32_t filter = 0;
  if (alpha == 1.0f) {
    TANDEM_ASSIGN_OR_RETURN(filter, static_constant(wv));
  } else {
    TANDEM_ASSIGN_OR_RETURN(filter, stored_constant(key_of(wv, ("alpha" + std::to_string(alpha)).c_str()), wt.shape(), [&] {
      std::vector<float> out(wt.span<const float>().begin(), wt.span<const float>().end());
      for (float& v : out) v *= alpha;
      return out;
    }));
  }
  uint32_t bias = XNN_INVALID_VALUE_ID;
  ValueId add_after = graph::kNoValue;  // a bias that is not per-output-channel: added after
  if (bv != graph::kNoValue) {
    const Tensor& bt = constant(bv);
    if (bt.dtype() != DType::kFloat32) return unsupported(n.describe() + ": bias must be float32");
    if (bt.numel() == N && (bt.rank() == 1 || (bt.rank() == 2 && bt.dim(0) == 1))) {
      TANDEM_ASSIGN_OR_RETURN(bias, stored_constant(key_of(bv, ("bias" + std::to_string(beta)).c_str()), {N}, [&] {
        std::vector<float> out(bt.span<const float>().begin(), bt.span<const float>().end());
        for (float& v : out) v *= beta;
        return out;
      }));
    } else {
      if (beta != 1.0f) return unsupported(n.describe() + ": beta with a non-vector C");
      add_after = bv;
    }
  }
  const uint32_t flags = w_is_kn ? XNN_FLAG_TRANSPOSE_WEIGHTS : 0;
  auto define_fc = [&](uint32_t y, float lo, float hi) {
    return xnn_check(xnn_define_fully_connected(sg_, lo, hi, x, filter, bias, y, flags), n, "the fully connected layer");
  };
  if (add_after == graph::kNoValue) return apply_activation(n, n.outputs[0], Layout::kNative, act, define_fc);
  if (act.trailing != xnn_unary_invalid || act.min != -kInf || act.max != kInf) {
    return unsupported(n.describe() + ": activation with a matrix bias");
  }
  TANDEM_ASSIGN_OR_RETURN(Shape out_dims, shape(n.outputs[0]));
  const uint32_t tmp = define_internal(out_dims);
  TANDEM_RETURN_IF_ERROR(define_fc(tmp, -kInf, kInf));
  TANDEM_ASSIGN_OR_RETURN(uint32_t c, native(add_after, n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNative));
  return xnn_check(xnn_define_binary(sg_, xnn_binary_add, nullptr, tmp, c, y, 0), n, "the bias add");
}

Status Lowerer::lower_gemm(const Node& n) {
  if (n.attr_int("transA", 0) != 0) return unsupported(n.describe() + ": transA");
  const ValueId c = n.has_input(2) ? n.inputs[2] : graph::kNoValue;
  return lower_fully_connected(n, n.inputs[0], n.inputs[1], c, n.attr_int("transB", 0) == 0,
                               n.attr_float("alpha", 1.0f), n.attr_float("beta", 1.0f), Activation{});
}

Status Lowerer::lower_matmul(const Node& n) {
  const ValueId a = n.inputs[0], b = n.inputs[1];
  TANDEM_ASSIGN_OR_RETURN(Shape sa, shape(a));
  TANDEM_ASSIGN_OR_RETURN(Shape sb, shape(b));
  if (sa.size() < 2 || sb.size() < 2) return unsupported(n.describe() + ": 1-D operands");
  if (is_constant(b) && sb.size() == 2) {
    return lower_fully_connected(n, a, b, graph::kNoValue, /*w_is_kn=*/true, 1.0f, 1.0f, Activation{});
  }
  TANDEM_ASSIGN_OR_RETURN(uint32_t xa, native(a, n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t xb, native(b, n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNative));
  return xnn_check(xnn_define_batch_matrix_multiply(sg_, xa, xb, y, 0), n, "the batch matrix multiply");
}

// ---- shape and data movement ---------------------------------------------------------

Status Lowerer::lower_softmax(const Node& n) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  const int64_t opset = g_.opset("");
  const int64_t axis = norm_axis(n.attr_int("axis", opset >= 13 ? -1 : 1), in.size());
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, native(n.inputs[0], n));
  if (axis == static_cast<int64_t>(in.size()) - 1) {
    TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNative));
    return xnn_check(xnn_define_softmax(sg_, x, y, 0), n, "the softmax");
  }
  if (opset >= 13) return unsupported(n.describe() + ": softmax over a non-last axis");
  // Before opset 13 Softmax works on the input flattened to [outer, inner] at `axis`.
  size_t outer = 1, inner = 1;
  for (size_t i = 0; i < in.size(); ++i) (static_cast<int64_t>(i) < axis ? outer : inner) *= static_cast<size_t>(in[i]);
  const size_t flat[2] = {outer, inner};
  const uint32_t x2 = define_internal({static_cast<int64_t>(outer), static_cast<int64_t>(inner)});
  const uint32_t y2 = define_internal({static_cast<int64_t>(outer), static_cast<int64_t>(inner)});
  TANDEM_RETURN_IF_ERROR(xnn_check(xnn_define_static_reshape(sg_, 2, flat, x, x2, 0), n, "a reshape"));
  TANDEM_RETURN_IF_ERROR(xnn_check(xnn_define_softmax(sg_, x2, y2, 0), n, "the softmax"));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNative));
  auto dims = to_sizes(in);
  return xnn_check(xnn_define_static_reshape(sg_, dims.size(), dims.data(), y2, y, 0), n, "a reshape");
}

Status Lowerer::lower_concat(const Node& n) {
  TANDEM_ASSIGN_OR_RETURN(Shape out, shape(n.outputs[0]));
  int64_t axis = norm_axis(n.attr_int("axis", 0), out.size());
  std::vector<ValueId> ins;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (!n.has_input(i)) continue;
    TANDEM_ASSIGN_OR_RETURN(Shape s, shape(n.inputs[i]));
    if (shape_numel(s) != 0) ins.push_back(n.inputs[i]);
  }
  if (ins.empty()) return unsupported(n.describe() + ": all inputs empty");
  // NHWC when every input already is (constants would need permuting: ONNX layout then).
  bool all_nhwc = out.size() == 4;
  for (ValueId v : ins) all_nhwc = all_nhwc && !is_constant(v) && stored_layout(v) == Layout::kNhwc;
  const Layout layout = all_nhwc ? Layout::kNhwc : Layout::kNative;
  if (all_nhwc) axis = static_cast<int64_t>(kFromNhwc[axis]);
  std::vector<uint32_t> ids;
  for (ValueId v : ins) {
    TANDEM_ASSIGN_OR_RETURN(uint32_t id, in_layout(v, layout, n));
    ids.push_back(id);
  }
  if (ids.size() == 1) {
    TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], layout));
    return xnn_check(xnn_define_copy(sg_, ids[0], y, 0), n, "a copy");
  }
  // XNNPACK concatenates up to 5 inputs per node; longer lists are chained.
  std::vector<Shape> shapes;
  for (ValueId v : ins) {
    TANDEM_ASSIGN_OR_RETURN(Shape s, shape(v));
    shapes.push_back(all_nhwc ? nhwc_dims(s) : s);
  }
  while (ids.size() > 1) {
    const size_t take = std::min<size_t>(5, ids.size());
    Shape part = shapes[0];
    for (size_t i = 1; i < take; ++i) part[static_cast<size_t>(axis)] += shapes[i][static_cast<size_t>(axis)];
    uint32_t y = 0;
    if (take == ids.size()) {
      TANDEM_ASSIGN_OR_RETURN(y, output(n.outputs[0], layout));
    } else {
      y = define_internal(part);
    }
    const auto ax = static_cast<int32_t>(axis);
    xnn_status s = xnn_status_success;
    switch (take) {
      case 2: s = xnn_define_concatenate2(sg_, ax, ids[0], ids[1], y, 0); break;
      case 3: s = xnn_define_concatenate3(sg_, ax, ids[0], ids[1], ids[2], y, 0); break;
      case 4: s = xnn_define_concatenate4(sg_, ax, ids[0], ids[1], ids[2], ids[3], y, 0); break;
      default: s = xnn_define_concatenate5(sg_, ax, ids[0], ids[1], ids[2], ids[3], ids[4], y, 0); break;
    }
    TANDEM_RETURN_IF_ERROR(xnn_check(s, n, "the concatenation"));
    ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(take));
    shapes.erase(shapes.begin(), shapes.begin() + static_cast<std::ptrdiff_t>(take));
    ids.insert(ids.begin(), y);
    shapes.insert(shapes.begin(), part);
  }
  return Status::ok();
}

Status Lowerer::lower_split(const Node& n) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  const int64_t axis = norm_axis(n.attr_int("axis", 0), in.size());
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, native(n.inputs[0], n));
  size_t offset = 0;
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(Shape out, shape(n.outputs[i]));
    std::vector<size_t> offsets(in.size(), 0), sizes = to_sizes(out);
    offsets[static_cast<size_t>(axis)] = offset;
    offset += sizes[static_cast<size_t>(axis)];
    if (!n.has_output(i)) continue;
    TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[i], Layout::kNative));
    TANDEM_RETURN_IF_ERROR(
        xnn_check(xnn_define_static_slice(sg_, in.size(), offsets.data(), sizes.data(), x, y, 0), n, "a split slice"));
  }
  return Status::ok();
}

Status Lowerer::lower_slice(const Node& n) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  TANDEM_ASSIGN_OR_RETURN(Shape out, shape(n.outputs[0]));
  std::vector<int64_t> starts, axes;
  if (g_.opset("") >= 10) {
    starts = constant(n.inputs[1]).to_int64_vector();
    if (n.has_input(3)) axes = constant(n.inputs[3]).to_int64_vector();
    if (n.has_input(4)) {
      for (int64_t s : constant(n.inputs[4]).to_int64_vector()) {
        if (s != 1) return unsupported(n.describe() + ": steps other than 1");
      }
    }
  } else {
    starts = n.attr_ints("starts");
    axes = n.attr_ints("axes");
  }
  if (axes.empty()) {
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (axes.size() != starts.size()) return unsupported(n.describe() + ": starts/axes mismatch");
  std::vector<size_t> offsets(in.size(), 0), sizes = to_sizes(out);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = norm_axis(axes[i], in.size());
    if (a < 0 || a >= static_cast<int64_t>(in.size())) return unsupported(n.describe() + ": axis out of range");
    const int64_t dim = in[static_cast<size_t>(a)];
    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
    s = std::clamp<int64_t>(s, 0, dim);
    offsets[static_cast<size_t>(a)] = static_cast<size_t>(s);
  }
  for (size_t d = 0; d < in.size(); ++d) {
    if (offsets[d] + sizes[d] > static_cast<size_t>(in[d])) return unsupported(n.describe() + ": slice out of range");
  }
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, native(n.inputs[0], n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNative));
  return xnn_check(xnn_define_static_slice(sg_, in.size(), offsets.data(), sizes.data(), x, y, 0), n, "the slice");
}

Status Lowerer::lower_transpose(const Node& n) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  std::vector<int64_t> perm = n.attr_ints("perm");
  if (perm.empty()) {
    for (size_t i = in.size(); i > 0; --i) perm.push_back(static_cast<int64_t>(i - 1));
  }
  if (perm.size() != in.size()) return unsupported(n.describe() + ": perm length");
  std::vector<size_t> p(perm.begin(), perm.end());
  uint32_t x = 0;
  if (in.size() == 4 && stored_layout(n.inputs[0]) == Layout::kNhwc) {
    // Read straight from the NHWC copy: output axis i is NCHW axis perm[i], stored at kFromNhwc[perm[i]].
    TANDEM_ASSIGN_OR_RETURN(x, nhwc(n.inputs[0], n));
    for (size_t& a : p) a = kFromNhwc[a];
  } else {
    TANDEM_ASSIGN_OR_RETURN(x, native(n.inputs[0], n));
  }
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNative));
  return xnn_check(xnn_define_static_transpose(sg_, p.size(), p.data(), x, y, 0), n, "the transpose");
}

Status Lowerer::lower_reshape(const Node& n) {
  TANDEM_ASSIGN_OR_RETURN(Shape out, shape(n.outputs[0]));
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, native(n.inputs[0], n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNative));
  auto dims = to_sizes(out);
  return xnn_check(xnn_define_static_reshape(sg_, dims.size(), dims.data(), x, y, 0), n, "the reshape");
}

Status Lowerer::lower_pad(const Node& n) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  std::vector<int64_t> pads;
  float value = 0;
  if (g_.opset("") >= 11) {
    pads = constant(n.inputs[1]).to_int64_vector();
    if (n.has_input(2)) {
      const Tensor& v = constant(n.inputs[2]);
      if (v.numel() != 1) return unsupported(n.describe() + ": pad value");
      value = static_cast<float>(v.get_as_double(0));
    }
    if (n.has_input(3)) return unsupported(n.describe() + ": axes input");
  } else {
    pads = n.attr_ints("pads");
    value = n.attr_float("value", 0.0f);
  }
  if (n.attr_string("mode", "constant") != "constant") return unsupported(n.describe() + ": non-constant mode");
  const size_t r = in.size();
  if (pads.size() != 2 * r) return unsupported(n.describe() + ": pads length");
  for (int64_t p : pads) {
    if (p < 0) return unsupported(n.describe() + ": negative pads");
  }
  std::vector<size_t> pre(r), post(r);
  const bool in_nhwc = r == 4 && stored_layout(n.inputs[0]) == Layout::kNhwc;
  for (size_t d = 0; d < r; ++d) {
    const size_t at = in_nhwc ? kFromNhwc[d] : d;
    pre[at] = static_cast<size_t>(pads[d]);
    post[at] = static_cast<size_t>(pads[d + r]);
  }
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, in_layout(n.inputs[0], in_nhwc ? Layout::kNhwc : Layout::kNative, n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], in_nhwc ? Layout::kNhwc : Layout::kNative));
  return xnn_check(xnn_define_static_constant_pad(sg_, pre.data(), post.data(), value, x, y, 0), n, "the pad");
}

Status Lowerer::lower_reduce(const Node& n, xnn_reduce_operator op) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  std::vector<int64_t> axes = n.attr_ints("axes");
  if (n.has_input(1)) axes = constant(n.inputs[1]).to_int64_vector();
  const bool keep = n.attr_int("keepdims", 1) != 0;
  if (axes.empty()) {
    if (n.attr_int("noop_with_empty_axes", 0) != 0) return unsupported(n.describe() + ": noop_with_empty_axes");
    axes.resize(in.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  std::set<int64_t> unique;
  for (int64_t a : axes) unique.insert(norm_axis(a, in.size()));
  // NHWC input: reduce the mapped axes; the result stays NHWC with keepdims, and
  // without it is in ONNX order whenever the kept axes keep their relative order.
  bool use_nhwc = in.size() == 4 && stored_layout(n.inputs[0]) == Layout::kNhwc;
  if (use_nhwc && !keep) {
    std::vector<size_t> kept;
    for (size_t pos = 0; pos < 4; ++pos) {
      if (!unique.count(static_cast<int64_t>(kToNhwc[pos]))) kept.push_back(kToNhwc[pos]);
    }
    use_nhwc = std::is_sorted(kept.begin(), kept.end());
  }
  std::vector<int64_t> xaxes;
  for (int64_t a : unique) xaxes.push_back(use_nhwc ? static_cast<int64_t>(kFromNhwc[a]) : a);
  std::sort(xaxes.begin(), xaxes.end());
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, in_layout(n.inputs[0], use_nhwc ? Layout::kNhwc : Layout::kNative, n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], use_nhwc && keep ? Layout::kNhwc : Layout::kNative));
  return xnn_check(xnn_define_static_reduce_v2(sg_, op, xaxes.size(), xaxes.data(), x, y, keep ? XNN_FLAG_KEEP_DIMS : 0),
                   n, "the reduction");
}

// LayerNormalization as XNNPACK ops: d = x - mean(x); y = d * rsqrt(mean(d*d) + eps) * scale + bias.
Status Lowerer::lower_layer_norm(const Node& n) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  const int64_t axis = norm_axis(n.attr_int("axis", -1), in.size());
  const float eps = n.attr_float("epsilon", 1e-5f);
  Shape reduced = in;
  std::vector<int64_t> axes;
  for (int64_t a = axis; a < static_cast<int64_t>(in.size()); ++a) {
    axes.push_back(a);
    reduced[static_cast<size_t>(a)] = 1;
  }
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, native(n.inputs[0], n));
  auto reduce_mean = [&](uint32_t src, uint32_t dst) {
    return xnn_check(xnn_define_static_reduce_v2(sg_, xnn_reduce_mean, axes.size(), axes.data(), src, dst,
                                                 XNN_FLAG_KEEP_DIMS),
                     n, "a mean");
  };
  auto binary = [&](xnn_binary_operator op, uint32_t a, uint32_t b, uint32_t out) {
    return xnn_check(xnn_define_binary(sg_, op, nullptr, a, b, out, 0), n, "an elementwise step");
  };
  const uint32_t mean = define_internal(reduced), d = define_internal(in), d2 = define_internal(in);
  const uint32_t var = define_internal(reduced), var_eps = define_internal(reduced), inv = define_internal(reduced);
  const uint32_t normed = define_internal(in);
  TANDEM_RETURN_IF_ERROR(reduce_mean(x, mean));
  TANDEM_RETURN_IF_ERROR(binary(xnn_binary_subtract, x, mean, d));
  TANDEM_RETURN_IF_ERROR(xnn_check(xnn_define_unary(sg_, xnn_unary_square, nullptr, d, d2, 0), n, "a square"));
  TANDEM_RETURN_IF_ERROR(reduce_mean(d2, var));
  TANDEM_ASSIGN_OR_RETURN(uint32_t eps_id, stored_constant("eps:" + std::to_string(eps), {}, [&] {
    return std::vector<float>{eps};
  }));
  TANDEM_RETURN_IF_ERROR(binary(xnn_binary_add, var, eps_id, var_eps));
  TANDEM_RETURN_IF_ERROR(
      xnn_check(xnn_define_unary(sg_, xnn_unary_reciprocal_square_root, nullptr, var_eps, inv, 0), n, "an rsqrt"));
  TANDEM_RETURN_IF_ERROR(binary(xnn_binary_multiply, d, inv, normed));
  TANDEM_ASSIGN_OR_RETURN(uint32_t scale, native(n.inputs[1], n));
  if (!n.has_input(2)) {
    TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNative));
    return binary(xnn_binary_multiply, normed, scale, y);
  }
  const uint32_t scaled = define_internal(in);
  TANDEM_RETURN_IF_ERROR(binary(xnn_binary_multiply, normed, scale, scaled));
  TANDEM_ASSIGN_OR_RETURN(uint32_t bias, native(n.inputs[2], n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNative));
  return binary(xnn_binary_add, scaled, bias, y);
}

// Inference BatchNormalization: y = x * s + t with s = scale / sqrt(var + eps), t = bias - mean * s.
Status Lowerer::lower_batch_norm(const Node& n) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  if (in.size() < 2) return unsupported(n.describe() + ": rank < 2");
  const int64_t C = in[1];
  const float eps = n.attr_float("epsilon", 1e-5f);
  const auto scale = constant(n.inputs[1]).to_float_vector(), bias = constant(n.inputs[2]).to_float_vector();
  const auto mean = constant(n.inputs[3]).to_float_vector(), var = constant(n.inputs[4]).to_float_vector();
  if (scale.size() != static_cast<size_t>(C) || bias.size() != scale.size() || mean.size() != scale.size() ||
      var.size() != scale.size()) {
    return unsupported(n.describe() + ": parameter sizes");
  }
  const bool use_nhwc = in.size() == 4;
  // Per-channel constants shaped to broadcast: [C] last in NHWC, [C, 1, ...] in ONNX layout.
  Shape cshape = {C};
  if (!use_nhwc) cshape.resize(in.size() - 1, 1);
  const std::string key = key_of(n.inputs[1], "bn") + ":" + std::to_string(C);
  TANDEM_ASSIGN_OR_RETURN(uint32_t s, stored_constant(key + ":s", cshape, [&] {
    std::vector<float> out(static_cast<size_t>(C));
    for (size_t c = 0; c < out.size(); ++c) out[c] = scale[c] / std::sqrt(var[c] + eps);
    return out;
  }));
  TANDEM_ASSIGN_OR_RETURN(uint32_t t, stored_constant(key + ":t", cshape, [&] {
    std::vector<float> out(static_cast<size_t>(C));
    for (size_t c = 0; c < out.size(); ++c) out[c] = bias[c] - mean[c] * scale[c] / std::sqrt(var[c] + eps);
    return out;
  }));
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, in_layout(n.inputs[0], use_nhwc ? Layout::kNhwc : Layout::kNative, n));
  const uint32_t scaled = define_internal(use_nhwc ? nhwc_dims(in) : in);
  TANDEM_RETURN_IF_ERROR(xnn_check(xnn_define_binary(sg_, xnn_binary_multiply, nullptr, x, s, scaled, 0), n, "a scale"));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], use_nhwc ? Layout::kNhwc : Layout::kNative));
  return xnn_check(xnn_define_binary(sg_, xnn_binary_add, nullptr, scaled, t, y, 0), n, "a shift");
}

// Bilinear 2-D Resize (half_pixel / pytorch_half_pixel / align_corners / asymmetric) on NHWC.
Status Lowerer::lower_resize(const Node& n) {
  TANDEM_ASSIGN_OR_RETURN(Shape in, shape(n.inputs[0]));
  TANDEM_ASSIGN_OR_RETURN(Shape out, shape(n.outputs[0]));
  if (in.size() != 4 || out[0] != in[0] || out[1] != in[1]) return unsupported(n.describe() + ": only H/W resizing");
  const std::string ct = n.attr_string("coordinate_transformation_mode", "half_pixel");
  uint32_t flags = 0;
  if (ct == "align_corners") {
    flags = XNN_FLAG_ALIGN_CORNERS;
  } else if (ct == "asymmetric") {
    flags = XNN_FLAG_TENSORFLOW_LEGACY_MODE;
  } else if (ct == "pytorch_half_pixel") {
    if (out[2] == 1 || out[3] == 1) return unsupported(n.describe() + ": pytorch_half_pixel to size 1");
  } else if (ct != "half_pixel") {
    return unsupported(n.describe() + ": coordinate mode " + ct);
  }
  TANDEM_ASSIGN_OR_RETURN(uint32_t x, nhwc(n.inputs[0], n));
  TANDEM_ASSIGN_OR_RETURN(uint32_t y, output(n.outputs[0], Layout::kNhwc));
  return xnn_check(xnn_define_static_resize_bilinear_2d(sg_, static_cast<size_t>(out[2]), static_cast<size_t>(out[3]),
                                                        x, y, flags),
                   n, "the resize");
}

// ---- dispatch ------------------------------------------------------------------------------

Status Lowerer::lower(const Node& n) {
  const std::string& op = n.op_type;
  const bool tandem = n.domain == "com.tandem";
  Status st = Status::ok();
  xnn_unary_params params{};
  auto unary = [&](xnn_unary_operator u, const xnn_unary_params* p = nullptr) { return lower_unary(n, u, p); };
  auto binary = [&](xnn_binary_operator b) { return lower_binary(n, b, n.inputs[0], n.inputs[1], n.outputs[0]); };
  if (tandem && op == "FusedConv") {
    TANDEM_ASSIGN_OR_RETURN(Activation act, activation_of(n));
    st = lower_conv(n, act);
  } else if (tandem && op == "FullyConnected") {
    TANDEM_ASSIGN_OR_RETURN(Activation act, activation_of(n));
    const ValueId b = n.has_input(2) ? n.inputs[2] : graph::kNoValue;
    st = lower_fully_connected(n, n.inputs[0], n.inputs[1], b, /*w_is_kn=*/true, 1.0f, 1.0f, act);
  } else if (tandem && op == "Gelu") {
    st = unary(xnn_unary_gelu);
  } else if (op == "Conv") {
    st = lower_conv(n, Activation{});
  } else if (op == "ConvTranspose") {
    st = lower_conv_transpose(n);
  } else if (op == "MaxPool" || op == "AveragePool") {
    st = lower_pool(n, op == "MaxPool");
  } else if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
    st = lower_global_pool(n, op == "GlobalMaxPool");
  } else if (op == "Gemm") {
    st = lower_gemm(n);
  } else if (op == "MatMul") {
    st = lower_matmul(n);
  } else if (op == "Add") {
    st = binary(xnn_binary_add);
  } else if (op == "Sub") {
    st = binary(xnn_binary_subtract);
  } else if (op == "Mul") {
    st = binary(xnn_binary_multiply);
  } else if (op == "Div") {
    st = binary(xnn_binary_divide);
  } else if (op == "Max") {
    st = binary(xnn_binary_maximum);
  } else if (op == "Min") {
    st = binary(xnn_binary_minimum);
  } else if (op == "PRelu") {
    st = binary(xnn_binary_prelu);
  } else if (op == "Relu") {
    params.clamp = {0.0f, kInf};
    st = unary(xnn_unary_clamp, &params);
  } else if (op == "Clip") {
    float lo = -kInf, hi = kInf;
    if (g_.opset("") >= 11) {
      if (n.has_input(1)) lo = static_cast<float>(constant(n.inputs[1]).get_as_double(0));
      if (n.has_input(2)) hi = static_cast<float>(constant(n.inputs[2]).get_as_double(0));
    } else {
      lo = n.attr_float("min", -kInf);
      hi = n.attr_float("max", kInf);
    }
    if (lo > hi) return unsupported(n.describe() + ": min > max");
    params.clamp = {lo, hi};
    st = unary(xnn_unary_clamp, &params);
  } else if (op == "LeakyRelu") {
    params.leaky_relu.negative_slope = n.attr_float("alpha", 0.01f);
    st = unary(xnn_unary_leaky_relu, &params);
  } else if (op == "Elu") {
    params.elu.alpha = n.attr_float("alpha", 1.0f);
    st = unary(xnn_unary_elu, &params);
  } else if (op == "Sigmoid") {
    st = unary(xnn_unary_sigmoid);
  } else if (op == "Tanh") {
    st = unary(xnn_unary_tanh);
  } else if (op == "HardSwish") {
    st = unary(xnn_unary_hardswish);
  } else if (op == "Abs") {
    st = unary(xnn_unary_abs);
  } else if (op == "Neg") {
    st = unary(xnn_unary_negate);
  } else if (op == "Exp") {
    st = unary(xnn_unary_exp);
  } else if (op == "Log") {
    st = unary(xnn_unary_log);
  } else if (op == "Sqrt") {
    st = unary(xnn_unary_square_root);
  } else if (op == "Ceil") {
    st = unary(xnn_unary_ceiling);
  } else if (op == "Floor") {
    st = unary(xnn_unary_floor);
  } else if (op == "Round") {
    st = unary(xnn_unary_bankers_rounding);
  } else if (op == "Identity" || op == "Dropout") {
    st = unary(xnn_unary_invalid);  // a copy
  } else if (op == "Softmax") {
    st = lower_softmax(n);
  } else if (op == "Concat") {
    st = lower_concat(n);
  } else if (op == "Split") {
    st = lower_split(n);
  } else if (op == "Slice") {
    st = lower_slice(n);
  } else if (op == "Transpose") {
    st = lower_transpose(n);
  } else if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze") {
    st = lower_reshape(n);
  } else if (op == "Pad") {
    st = lower_pad(n);
  } else if (op == "ReduceMean") {
    st = lower_reduce(n, xnn_reduce_mean);
  } else if (op == "ReduceSum") {
    st = lower_reduce(n, xnn_reduce_sum);
  } else if (op == "LayerNormalization") {
    st = lower_layer_norm(n);
  } else if (op == "BatchNormalization") {
    st = lower_batch_norm(n);
  } else if (op == "Resize") {
    st = lower_resize(n);
  } else {
    return unsupported(n.describe() + " has no XNNPACK lowering");
  }
  TANDEM_RETURN_IF_ERROR(st);
  return flush_outputs(n);
}

// ---- capability (symbolic graph) --------------------------------------------------------------

bool is_float(const Graph& g, ValueId v) {
  if (v == graph::kNoValue) return false;
  const graph::ValueEntry& e = g.values[static_cast<size_t>(v)];
  if (e.constant) return e.constant->dtype() == DType::kFloat32;
  return e.type.kind == graph::TypeInfo::Kind::kTensor && e.type.dtype == DType::kFloat32;
}

bool is_const(const Graph& g, ValueId v) { return v != graph::kNoValue && g.values[static_cast<size_t>(v)].constant; }

// Rank when every dimension is known (-1 otherwise): nodes are claimed on the
// shape-specialised graph, where only data-dependent shapes stay unknown.
int rank_of(const Graph& g, ValueId v) {
  const graph::ValueEntry& e = g.values[static_cast<size_t>(v)];
  if (e.constant) return static_cast<int>(e.constant->rank());
  return e.type.shape_known() ? static_cast<int>(e.type.dims.size()) : -1;
}

}  // namespace

bool can_lower(const Node& n, const Graph& g) {
  const std::string& op = n.op_type;
  if (!(n.domain.empty() || n.domain == "ai.onnx" || n.domain == "com.tandem")) return false;
  if (n.domain == "com.tandem" && op != "FusedConv" && op != "FullyConnected" && op != "Gelu") return false;
  if (!n.implicit_inputs.empty()) return false;
  // Every tensor the node produces, and its first input, are float32 with a known rank <= 6.
  if (n.inputs.empty() || !is_float(g, n.inputs[0])) return false;
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    if (!n.has_output(i)) continue;
    if (!is_float(g, n.outputs[i])) return false;
    const int r = rank_of(g, n.outputs[i]);
    if (r < 0 || r > XNN_MAX_TENSOR_DIMS) return false;
  }
  const int r0 = rank_of(g, n.inputs[0]);
  if (r0 < 0 || r0 > XNN_MAX_TENSOR_DIMS) return false;
  auto const_inputs_from = [&](size_t first) {
    for (size_t i = first; i < n.inputs.size(); ++i) {
      if (n.has_input(i) && !is_const(g, n.inputs[i])) return false;
    }
    return true;
  };
  auto float_inputs = [&](size_t count) {
    for (size_t i = 0; i < count; ++i) {
      if (!n.has_input(i) || !is_float(g, n.inputs[i])) return false;
      const int r = rank_of(g, n.inputs[i]);
      if (r < 0 || r > XNN_MAX_TENSOR_DIMS) return false;
    }
    return true;
  };
  static const std::set<std::string> unary = {"Relu",  "LeakyRelu", "Elu",  "Sigmoid", "Tanh",  "HardSwish",
                                              "Abs",   "Neg",       "Exp",  "Log",     "Sqrt",  "Ceil",
                                              "Floor", "Round",     "Identity", "Gelu"};
  static const std::set<std::string> binary = {"Add", "Sub", "Mul", "Div", "PRelu"};
  if (op == "Gelu" && n.attr_string("approximate", "none") != "none") return false;  // XNNPACK's GELU is the erf form
  if (unary.count(op)) return n.inputs.size() == 1 && n.outputs.size() == 1;
  if (binary.count(op)) return n.inputs.size() == 2 && float_inputs(2);
  if (op == "Max" || op == "Min") return n.inputs.size() == 2 && float_inputs(2);
  if (op == "Dropout") return n.outputs.size() == 1 && n.inputs.size() < 3;  // inference: a copy
  if (op == "Clip") return const_inputs_from(1) && n.outputs.size() == 1;
  if (op == "Conv" || op == "FusedConv" || op == "ConvTranspose") {
    if (r0 != 4 || !n.has_input(1) || !is_const(g, n.inputs[1]) || !is_float(g, n.inputs[1])) return false;
    if (n.has_input(2) && (!is_const(g, n.inputs[2]) || !is_float(g, n.inputs[2]))) return false;
    return op != "ConvTranspose" || n.attr("output_shape") == nullptr || n.attr_string("auto_pad", "NOTSET") == "NOTSET";
  }
  if (op == "MaxPool") return r0 == 4 && n.outputs.size() == 1 && n.attr_int("storage_order", 0) == 0;
  if (op == "AveragePool") return r0 == 4 && n.attr_int("ceil_mode", 0) == 0;
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool") return r0 == 4;
  if (op == "Gemm") {
    return r0 == 2 && n.attr_int("transA", 0) == 0 && is_const(g, n.inputs[1]) && is_float(g, n.inputs[1]) &&
           (!n.has_input(2) || (is_const(g, n.inputs[2]) && is_float(g, n.inputs[2])));
  }
  if (op == "FullyConnected") return r0 >= 1 && const_inputs_from(1) && is_float(g, n.inputs[1]);
  if (op == "MatMul") {
    if (!float_inputs(2) || r0 < 2 || rank_of(g, n.inputs[1]) < 2) return false;
    return is_const(g, n.inputs[1]) ? rank_of(g, n.inputs[1]) == 2 : true;
  }
  if (op == "Softmax") {
    const int64_t axis = norm_axis(n.attr_int("axis", g.opset("") >= 13 ? -1 : 1), static_cast<size_t>(r0));
    return g.opset("") < 13 || axis == r0 - 1;
  }
  if (op == "Concat") {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (!n.has_input(i) || !is_float(g, n.inputs[i])) return false;
    }
    return true;
  }
  if (op == "Split") return n.inputs.size() < 2 || is_const(g, n.inputs[1]);
  if (op == "Slice") return g.opset("") < 10 || (n.inputs.size() >= 3 && const_inputs_from(1));
  if (op == "Transpose") return true;
  if (op == "Reshape" || op == "Squeeze" || op == "Unsqueeze" || op == "Flatten") return true;  // shapes are concrete when lowered
  if (op == "Pad") return const_inputs_from(1) && n.attr_string("mode", "constant") == "constant" && n.inputs.size() < 4;
  if (op == "ReduceMean" || op == "ReduceSum") return const_inputs_from(1);
  if (op == "LayerNormalization") {
    return n.outputs.size() == 1 && const_inputs_from(1) && float_inputs(n.inputs.size() > 2 ? 3 : 2);
  }
  if (op == "BatchNormalization") {
    return n.outputs.size() == 1 && n.inputs.size() == 5 && const_inputs_from(1) &&
           n.attr_int("training_mode", 0) == 0;
  }
  if (op == "Resize") {
    return r0 == 4 && n.attr_string("mode", "nearest") == "linear" && const_inputs_from(1) &&
           n.attr_int("antialias", 0) == 0 && n.attr_int("exclude_outside", 0) == 0;
  }
  return false;
}

Status lower_partition(const Graph& g, const plan::Boundary& b, xnn_subgraph_t subgraph,
                       ConstantStore& store, std::vector<Tensor>& pinned) {
  Lowerer l(g, subgraph, store, pinned);
  uint32_t ext = 0;
  for (ValueId v : b.inputs) TANDEM_RETURN_IF_ERROR(l.add_external_input(v, ext++));
  for (ValueId v : b.outputs) l.add_external_output(v, ext++);
  for (size_t i : b.nodes) {
    const Node& n = g.nodes[i];
    TANDEM_RETURN_IF_ERROR(l.lower(n));
  }
  return l.check_outputs_defined();
}

std::string status_name(xnn_status s) {
  switch (s) {
    case xnn_status_success: return "success";
    case xnn_status_uninitialized: return "uninitialized";
    case xnn_status_invalid_parameter: return "invalid parameter";
    case xnn_status_invalid_state: return "invalid state";
    case xnn_status_unsupported_parameter: return "unsupported parameter";
    case xnn_status_unsupported_hardware: return "unsupported hardware";
    case xnn_status_out_of_memory: return "out of memory";
    case xnn_status_reallocation_required: return "reallocation required";
    case xnn_status_deprecated: return "deprecated";
  }
  return "status " + std::to_string(static_cast<int>(s));
}

}  // namespace tandem::xnnpack
