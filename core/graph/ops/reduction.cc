// Shape inference: reduction family (Reduce*, ArgMax, ArgMin).
#include <string>

#include "core/graph/ops/rules.h"

namespace tandem::graph {
namespace {

bool is_tensor(const TypeInfo& t) { return t.kind == TypeInfo::Kind::kTensor && t.dtype != DType::kUndefined; }

Status reduce(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  const bool keepdims = ctx.node().attr_int("keepdims", 1) != 0;
  // Axes: the optional input (ReduceSum from opset 13, the others from 18) or the attribute.
  bool axes_known = true;
  std::vector<int64_t> axes;
  if (ctx.has_input(1)) {
    if (const Tensor* t = ctx.input_constant(1); t != nullptr && dtype_is_integer(t->dtype())) {
      axes = t->to_int64_vector();
    } else {
      axes_known = false;
    }
  } else {
    axes = ctx.node().attr_ints("axes");
  }
  if (!x.has_shape) {
    ctx.set_output_rank_unknown(0, x.dtype);
    return Status::ok();
  }
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  if (!axes_known) {
    if (!keepdims) {
      ctx.set_output_rank_unknown(0, x.dtype);
      return Status::ok();
    }
    // Same rank; only size-1 dims are certain (reduced or not they stay 1).
    std::vector<Dim> dims(x.dims.size());
    for (size_t d = 0; d < dims.size(); ++d) {
      if (x.dims[d].known() && x.dims[d].value == 1) dims[d] = Dim::of(1);
    }
    ctx.set_output(0, x.dtype, dims);
    return Status::ok();
  }
  if (axes.empty() && ctx.node().attr_int("noop_with_empty_axes", 0) != 0) {
    ctx.propagate(0, 0);
    return Status::ok();
  }
  std::vector<bool> mask(x.dims.size(), axes.empty());
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) {
      return invalid_argument("reduction axis " + std::to_string(a) + " is out of range for rank " +
                              std::to_string(rank));
    }
    mask[static_cast<size_t>(a < 0 ? a + rank : a)] = true;
  }
  std::vector<Dim> dims;
  for (size_t d = 0; d < x.dims.size(); ++d) {
    if (!mask[d]) {
      dims.push_back(x.dims[d]);
    } else if (keepdims) {
      dims.push_back(Dim::of(1));
    }
  }
  ctx.set_output(0, x.dtype, dims);
  return Status::ok();
}

Status arg_reduce(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  if (!x.has_shape) {
    ctx.set_output_rank_unknown(0, DType::kInt64);
    return Status::ok();
  }
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = ctx.node().attr_int("axis", 0);
  if (axis < -rank || axis >= rank) {
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  if (axis < 0) axis += rank;
  std::vector<Dim> dims = x.dims;
  if (ctx.node().attr_int("keepdims", 1) != 0) {
    dims[static_cast<size_t>(axis)] = Dim::of(1);
  } else {
    dims.erase(dims.begin() + axis);
  }
  ctx.set_output(0, DType::kInt64, dims);
  return Status::ok();
}

}  // namespace

void register_reduction_rules() {
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                         "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}) {
    register_infer("", op, reduce);
  }
  register_infer("", "ArgMax", arg_reduce);
  register_infer("", "ArgMin", arg_reduce);
}

}  // namespace tandem::graph
