// Shape inference: quantization family. Quantize/Dequantize keep the input's
// dims; the integer MatMul/Conv variants follow MatMul/Conv shape rules.
#include <string>

#include "core/graph/ops/rules.h"

namespace tandem::graph {
namespace {

bool is_tensor(const TypeInfo& t) { return t.kind == TypeInfo::Kind::kTensor; }

// Output o gets dtype and input i's dims (or an unknown rank).
void same_dims(InferContext& ctx, size_t i, size_t o, DType dtype) {
  const TypeInfo& in = ctx.input_type(i);
  if (!is_tensor(in) || dtype == DType::kUndefined || !ctx.has_output(o)) return;
  if (in.has_shape) {
    ctx.set_output(o, dtype, in.dims);
  } else {
    ctx.set_output_rank_unknown(o, dtype);
  }
}

Status quantize_linear(InferContext& ctx) {
  const DType dt = ctx.has_input(2) ? ctx.input_type(2).dtype : DType::kUInt8;
  same_dims(ctx, 0, 0, dt);
  return Status::ok();
}

Status dequantize_linear(InferContext& ctx) {
  same_dims(ctx, 0, 0, ctx.input_type(1).dtype);
  return Status::ok();
}

Status dynamic_quantize_linear(InferContext& ctx) {
  same_dims(ctx, 0, 0, DType::kUInt8);
  if (ctx.has_output(1)) ctx.set_output(1, DType::kFloat32, Shape{});
  if (ctx.has_output(2)) ctx.set_output(2, DType::kUInt8, Shape{});
  return Status::ok();
}

// MatMul output dims of inputs a and b (numpy matmul rules).
Status matmul_dims(InferContext& ctx, size_t ai, size_t bi, DType dtype) {
  const TypeInfo& a = ctx.input_type(ai);
  const TypeInfo& b = ctx.input_type(bi);
  if (!is_tensor(a) || !is_tensor(b) || dtype == DType::kUndefined) return Status::ok();
  if (!a.has_shape || !b.has_shape || a.dims.empty() || b.dims.empty()) {
    ctx.set_output_rank_unknown(0, dtype);
    return Status::ok();
  }
  std::vector<Dim> ad = a.dims, bd = b.dims;
  if (ad.size() == 1) ad.insert(ad.begin(), Dim::of(1));
  if (bd.size() == 1) bd.push_back(Dim::of(1));
  const Dim& k1 = ad[ad.size() - 1];
  const Dim& k2 = bd[bd.size() - 2];
  if (k1.known() && k2.known() && k1.value != k2.value) {
    return invalid_model(ctx.node().describe() + ": inner dimensions differ (" + std::to_string(k1.value) + " vs " +
                         std::to_string(k2.value) + ")");
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<Dim> out, broadcast_dims(std::vector<Dim>(ad.begin(), ad.end() - 2),
                                                               std::vector<Dim>(bd.begin(), bd.end() - 2)));
  if (a.dims.size() > 1) out.push_back(ad[ad.size() - 2]);
  if (b.dims.size() > 1) out.push_back(bd[bd.size() - 1]);
  ctx.set_output(0, dtype, out);
  return Status::ok();
}

Status matmul_integer(InferContext& ctx) { return matmul_dims(ctx, 0, 1, DType::kInt32); }
Status qlinear_matmul(InferContext& ctx) { return matmul_dims(ctx, 0, 3, ctx.input_type(7).dtype); }

// Conv output dims [N, M, out...] from x (input xi) and w (input wi).
Status conv_dims(InferContext& ctx, size_t xi, size_t wi, DType dtype) {
  const TypeInfo& x = ctx.input_type(xi);
  const TypeInfo& w = ctx.input_type(wi);
  if (!is_tensor(x) || dtype == DType::kUndefined) return Status::ok();
  if (!x.has_shape || x.dims.size() < 3) {
    ctx.set_output_rank_unknown(0, dtype);
    return Status::ok();
  }
  const size_t nd = x.dims.size() - 2;
  const Node& node = ctx.node();
  std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  if (kernel.empty() && is_tensor(w) && w.has_shape && w.dims.size() == x.dims.size()) {
    for (size_t d = 0; d < nd; ++d) kernel.push_back(w.dims[d + 2].value);  // -1 when unknown
  }
  const std::vector<int64_t> strides = node.attr_ints("strides", std::vector<int64_t>(nd, 1));
  const std::vector<int64_t> dilations = node.attr_ints("dilations", std::vector<int64_t>(nd, 1));
  const std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * nd, 0));
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  std::vector<Dim> out = {x.dims[0], Dim{}};
  if (is_tensor(w) && w.has_shape && !w.dims.empty()) out[1] = w.dims[0];
  const bool attrs_ok = strides.size() == nd && dilations.size() == nd && pads.size() == 2 * nd;
  for (size_t d = 0; d < nd; ++d) {
    Dim o;
    const Dim& in = x.dims[d + 2];
    if (attrs_ok && in.known() && strides[d] > 0) {
      if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        o = Dim::of((in.value + strides[d] - 1) / strides[d]);
      } else if (kernel.size() == nd && kernel[d] >= 0 && dilations[d] > 0) {
        const int64_t ext = (kernel[d] - 1) * dilations[d] + 1;
        const int64_t pad = auto_pad == "VALID" ? 0 : pads[d] + pads[d + nd];
        const int64_t span = in.value + pad - ext;
        if (span >= 0) o = Dim::of(span / strides[d] + 1);
      }
    }
    out.push_back(o);
  }
  ctx.set_output(0, dtype, out);
  return Status::ok();
}

Status conv_integer(InferContext& ctx) { return conv_dims(ctx, 0, 1, DType::kInt32); }
Status qlinear_conv(InferContext& ctx) { return conv_dims(ctx, 0, 3, ctx.input_type(7).dtype); }

}  // namespace

void register_quantization_rules() {
  register_infer("", "QuantizeLinear", quantize_linear);
  register_infer("", "DequantizeLinear", dequantize_linear);
  register_infer("", "DynamicQuantizeLinear", dynamic_quantize_linear);
  register_infer("", "MatMulInteger", matmul_integer);
  register_infer("", "QLinearMatMul", qlinear_matmul);
  register_infer("", "ConvInteger", conv_integer);
  register_infer("", "QLinearConv", qlinear_conv);
}

}  // namespace tandem::graph
