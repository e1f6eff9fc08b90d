// Shape inference: elementwise family. Outputs keep (or broadcast) the input
// dims; when an input's rank is unknown the output's rank is unknown too.
#include <string>

#include "core/graph/ops/rules.h"

namespace tandem::graph {
namespace {

bool is_tensor(const TypeInfo& t) { return t.kind == TypeInfo::Kind::kTensor; }

// Output 0 gets dtype and input 0's dims.
Status same_shape_as_input0(InferContext& ctx, DType dtype) {
  const TypeInfo& in = ctx.input_type(0);
  if (!is_tensor(in) || dtype == DType::kUndefined) return Status::ok();
  if (in.has_shape) {
    ctx.set_output(0, dtype, in.dims);
  } else {
    ctx.set_output_rank_unknown(0, dtype);
  }
  return Status::ok();
}

Status unary(InferContext& ctx) { return same_shape_as_input0(ctx, ctx.input_type(0).dtype); }
Status unary_to_bool(InferContext& ctx) { return same_shape_as_input0(ctx, DType::kBool); }

// Numpy broadcast of the given inputs (all present ones) into output 0.
Status broadcast_inputs(InferContext& ctx, size_t first, DType dtype) {
  if (dtype == DType::kUndefined) return Status::ok();
  std::vector<Dim> dims;
  bool rank_known = true;
  for (size_t i = first; i < ctx.num_inputs(); ++i) {
    const TypeInfo& t = ctx.input_type(i);
    if (!ctx.has_input(i)) continue;
    if (!is_tensor(t)) return Status::ok();  // a sequence or unknown value: say nothing
    if (!t.has_shape) {
      rank_known = false;
      continue;
    }
    TANDEM_ASSIGN_OR_RETURN(dims, broadcast_dims(dims, t.dims));
  }
  if (rank_known) {
    ctx.set_output(0, dtype, dims);
  } else {
    ctx.set_output_rank_unknown(0, dtype);
  }
  return Status::ok();
}

Status binary_same_type(InferContext& ctx) { return broadcast_inputs(ctx, 0, ctx.input_type(0).dtype); }
Status binary_to_bool(InferContext& ctx) { return broadcast_inputs(ctx, 0, DType::kBool); }
Status where(InferContext& ctx) { return broadcast_inputs(ctx, 0, ctx.input_type(1).dtype); }

// PRelu: slope broadcasts to X, so the output is X.
Status prelu(InferContext& ctx) { return unary(ctx); }

Status cast(InferContext& ctx) {
  const Attribute* to = ctx.node().attr("to");
  if (to == nullptr || to->i <= 0 || to->i > 1000 || !dtype_is_valid(static_cast<int32_t>(to->i))) {
    return Status::ok();  // the kernel reports it
  }
  return same_shape_as_input0(ctx, static_cast<DType>(to->i));
}

Status cast_like(InferContext& ctx) {
  const TypeInfo& target = ctx.input_type(1);
  if (!is_tensor(target)) return Status::ok();
  return same_shape_as_input0(ctx, target.dtype);
}

}  // namespace

void register_elementwise_rules() {
  for (const char* op : {"Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Sin", "Cos", "Tan", "Asin", "Acos",
                         "Atan", "Sinh", "Cosh", "Tanh", "Asinh", "Acosh", "Atanh", "Ceil", "Floor", "Round",
                         "Sign", "Erf", "Not", "BitwiseNot", "Relu", "LeakyRelu", "Elu", "Selu", "Celu",
                         "Sigmoid", "HardSigmoid", "HardSwish", "Softplus", "Softsign", "ThresholdedRelu",
                         "Shrink", "Gelu", "Mish", "Clip"}) {
    register_infer("", op, unary);
  }
  register_infer("com.tandem", "Gelu", unary);  // fused by core/passes: ONNX Gelu's semantics
  register_infer("", "IsNaN", unary_to_bool);
  register_infer("", "IsInf", unary_to_bool);
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr",
                         "BitwiseXor", "Min", "Max", "Sum", "Mean"}) {
    register_infer("", op, binary_same_type);
  }
  for (const char* op : {"And", "Or", "Xor", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"}) {
    register_infer("", op, binary_to_bool);
  }
  register_infer("", "PRelu", prelu);
  register_infer("", "Where", where);
  register_infer("", "Cast", cast);
  register_infer("", "CastLike", cast_like);
}

}  // namespace tandem::graph
