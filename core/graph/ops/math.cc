// Shape inference: math family (MatMul, Gemm, Einsum, Softmax-like, CumSum,
// TopK, Det, losses). Unknown ranks stay unknown; dims follow symbolic inputs.
#include <string>

#include "core/graph/ops/math_einsum.h"
#include "core/graph/ops/rules.h"

namespace tandem::graph {
namespace {

bool is_tensor(const TypeInfo& t) { return t.kind == TypeInfo::Kind::kTensor && t.dtype != DType::kUndefined; }

// Two dims that must agree: a conflict only when both are known and differ.
bool dims_conflict(const Dim& a, const Dim& b) { return a.known() && b.known() && a.value != b.value; }

std::string dims_str(const TypeInfo& t) { return t.to_string(); }

Status matmul(InferContext& ctx) {
  const TypeInfo& a = ctx.input_type(0);
  const TypeInfo& b = ctx.input_type(1);
  if (!is_tensor(a)) return Status::ok();
  if (!a.has_shape || !is_tensor(b) || !b.has_shape) {
    ctx.set_output_rank_unknown(0, a.dtype);
    return Status::ok();
  }
  if (a.dims.empty() || b.dims.empty()) return invalid_argument("MatMul inputs must have rank >= 1");
  std::vector<Dim> ad = a.dims, bd = b.dims;
  const bool a_vec = ad.size() == 1, b_vec = bd.size() == 1;
  if (a_vec) ad.insert(ad.begin(), Dim::of(1));
  if (b_vec) bd.push_back(Dim::of(1));
  if (dims_conflict(ad.back(), bd[bd.size() - 2])) {
    return invalid_argument("MatMul inner dimensions differ: " + dims_str(a) + " and " + dims_str(b));
  }
  const std::vector<Dim> a_batch(ad.begin(), ad.end() - 2), b_batch(bd.begin(), bd.end() - 2);
  TANDEM_ASSIGN_OR_RETURN(std::vector<Dim> out, broadcast_dims(a_batch, b_batch));
  if (!a_vec) out.push_back(ad[ad.size() - 2]);
  if (!b_vec) out.push_back(bd.back());
  ctx.set_output(0, a.dtype, out);
  return Status::ok();
}

Status gemm(InferContext& ctx) {
  const TypeInfo& a = ctx.input_type(0);
  const TypeInfo& b = ctx.input_type(1);
  if (!is_tensor(a)) return Status::ok();
  if (!a.has_shape || !is_tensor(b) || !b.has_shape || a.dims.size() != 2 || b.dims.size() != 2) {
    ctx.set_output_rank_unknown(0, a.dtype);  // wrong ranks are for the kernel to report
    return Status::ok();
  }
  const bool ta = ctx.node().attr_int("transA", 0) != 0;
  const bool tb = ctx.node().attr_int("transB", 0) != 0;
  const Dim& ka = ta ? a.dims[0] : a.dims[1];
  const Dim& kb = tb ? b.dims[1] : b.dims[0];
  if (dims_conflict(ka, kb)) {
    return invalid_argument("Gemm inner dimensions differ: " + dims_str(a) + " and " + dims_str(b));
  }
  ctx.set_output(0, a.dtype, std::vector<Dim>{ta ? a.dims[1] : a.dims[0], tb ? b.dims[0] : b.dims[1]});
  return Status::ok();
}

// com.tandem.FullyConnected (core/passes): Y[..., N] = X[..., K] @ W[K, N] (+ B[N]).
Status fully_connected(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const TypeInfo& w = ctx.input_type(1);
  if (!is_tensor(x)) return Status::ok();
  if (!x.has_shape || x.dims.empty() || !is_tensor(w) || !w.has_shape || w.dims.size() != 2) {
    ctx.set_output_rank_unknown(0, x.dtype);
    return Status::ok();
  }
  if (dims_conflict(x.dims.back(), w.dims[0])) {
    return invalid_argument("FullyConnected inner dimensions differ: " + dims_str(x) + " and " + dims_str(w));
  }
  std::vector<Dim> out(x.dims.begin(), x.dims.end() - 1);
  out.push_back(w.dims[1]);
  ctx.set_output(0, x.dtype, out);
  return Status::ok();
}

Status same_as_input0(InferContext& ctx) {
  if (is_tensor(ctx.input_type(0))) ctx.propagate(0, 0);
  return Status::ok();
}

Status topk(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  if (!x.has_shape) {
    ctx.set_output_rank_unknown(0, x.dtype);
    ctx.set_output_rank_unknown(1, DType::kInt64);
    return Status::ok();
  }
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = ctx.node().attr_int("axis", -1);
  if (axis < -rank || axis >= rank) {
    return invalid_argument("TopK axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  if (axis < 0) axis += rank;
  Dim k;
  if (ctx.opset() < 10 || !ctx.has_input(1)) {
    const Attribute* ka = ctx.node().attr("k");
    if (ka != nullptr && ka->i >= 0) k = Dim::of(ka->i);
  } else if (const Tensor* kt = ctx.input_constant(1); kt != nullptr && kt->numel() == 1 &&
                                                       dtype_is_integer(kt->dtype())) {
    if (kt->get_as_int64(0) >= 0) k = Dim::of(kt->get_as_int64(0));
  }
  std::vector<Dim> dims = x.dims;
  dims[static_cast<size_t>(axis)] = k;
  ctx.set_output(0, x.dtype, dims);
  ctx.set_output(1, DType::kInt64, dims);
  return Status::ok();
}

Status det(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  if (!x.has_shape || x.dims.size() < 2) {
    ctx.set_output_rank_unknown(0, x.dtype);
    return Status::ok();
  }
  ctx.set_output(0, x.dtype, std::vector<Dim>(x.dims.begin(), x.dims.end() - 2));
  return Status::ok();
}

Status einsum(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    Shape s;
    if (!ctx.input_shape(i, &s)) {
      ctx.set_output_rank_unknown(0, x.dtype);
      return Status::ok();
    }
    shapes.push_back(std::move(s));
  }
  TANDEM_ASSIGN_OR_RETURN(EinsumPlan plan, plan_einsum(ctx.node().attr_string("equation", ""), shapes));
  ctx.set_output(0, x.dtype, plan.output_shape);
  return Status::ok();
}

// NegativeLogLikelihoodLoss / SoftmaxCrossEntropyLoss: the loss has the
// target's shape with reduction "none", else it is a scalar.
Status loss(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  const std::string reduction = ctx.node().attr_string("reduction", "mean");
  if (reduction == "none") {
    const TypeInfo& t = ctx.input_type(1);
    if (is_tensor(t) && t.has_shape) {
      ctx.set_output(0, x.dtype, t.dims);
    } else {
      ctx.set_output_rank_unknown(0, x.dtype);
    }
  } else {
    ctx.set_output(0, x.dtype, std::vector<Dim>{});
  }
  if (ctx.num_outputs() > 1) ctx.propagate(0, 1);  // SoftmaxCrossEntropyLoss log_prob
  return Status::ok();
}

}  // namespace

void register_math_rules() {
  register_infer("", "MatMul", matmul);
  register_infer("", "Gemm", gemm);
  register_infer("com.tandem", "FullyConnected", fully_connected);
  register_infer("", "Einsum", einsum);
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax", "CumSum"}) register_infer("", op, same_as_input0);
  register_infer("", "TopK", topk);
  register_infer("", "Det", det);
  register_infer("", "NegativeLogLikelihoodLoss", loss);
  register_infer("", "SoftmaxCrossEntropyLoss", loss);
}

}  // namespace tandem::graph
