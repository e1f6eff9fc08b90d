// Reference kernels: sequence family (Sequence*, SplitToSequence,
// ConcatFromSequence, SequenceMap) and optionals (Optional, OptionalHasElement,
// OptionalGetElement).
//
// A sequence is a Value holding tensors. Tensors stored in a sequence must own
// their storage (they outlive the arena slot of the value they came from).
// An empty optional is Value::none(); a present one is the value itself.
#include <algorithm>

#include "backends/reference/kernels/common.h"
#include "backends/reference/kernels/control_flow_util.h"

namespace tandem::reference {
namespace {

Result<const std::vector<Tensor>*> sequence_input(const KernelContext& ctx, size_t i) {
  const Value& v = ctx.input_value(i);
  if (!v.is_sequence()) return ctx.error("input " + std::to_string(i) + " must be a sequence");
  return &v.items();
}

// A position input: int32/int64 scalar (or one-element tensor).
Result<int64_t> position_input(const KernelContext& ctx, size_t i) {
  const Tensor& t = ctx.input(i);
  if ((t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32) || t.numel() != 1) {
    return ctx.error("position must be an int32/int64 scalar, got " + std::string(dtype_name(t.dtype())) +
                     shape_to_string(t.shape()));
  }
  return t.get_as_int64(0);
}

// Normalises a position into [0, n) (or [0, n] when `allow_end`).
Result<size_t> resolve_position(const KernelContext& ctx, int64_t pos, size_t n, bool allow_end) {
  const auto size = static_cast<int64_t>(n);
  const int64_t hi = allow_end ? size : size - 1;
  if (pos < -size || pos > hi) {
    return ctx.error("position " + std::to_string(pos) + " is out of range for a sequence of length " +
                     std::to_string(n));
  }
  return static_cast<size_t>(pos < 0 ? pos + size : pos);
}

Status sequence_empty(KernelContext& ctx) {
  ctx.set_output(0, Value::sequence({}));
  return Status::ok();
}

Status sequence_construct(KernelContext& ctx) {
  std::vector<Tensor> items;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i) || !ctx.input_value(i).is_tensor()) return ctx.error("every input must be a tensor");
    const Tensor& t = ctx.input(i);
    if (!items.empty() && t.dtype() != items[0].dtype()) {
      return ctx.error(std::string("inputs must share one dtype: ") + dtype_name(items[0].dtype()) + " and " +
                       dtype_name(t.dtype()));
    }
    TANDEM_ASSIGN_OR_RETURN(Tensor o, owned(t));
    items.push_back(std::move(o));
  }
  ctx.set_output(0, Value::sequence(std::move(items)));
  return Status::ok();
}

Status sequence_insert(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const std::vector<Tensor>* seq, sequence_input(ctx, 0));
  if (!ctx.has_input(1) || !ctx.input_value(1).is_tensor()) return ctx.error("input 1 must be a tensor");
  const Tensor& t = ctx.input(1);
  if (!seq->empty() && seq->front().dtype() != t.dtype()) {
    return ctx.error(std::string("cannot insert a ") + dtype_name(t.dtype()) + " tensor into a sequence of " +
                     dtype_name(seq->front().dtype()));
  }
  size_t pos = seq->size();
  if (ctx.has_input(2)) {
    TANDEM_ASSIGN_OR_RETURN(int64_t p, position_input(ctx, 2));
    TANDEM_ASSIGN_OR_RETURN(pos, resolve_position(ctx, p, seq->size(), true));
  }
  std::vector<Tensor> items = *seq;
  TANDEM_ASSIGN_OR_RETURN(Tensor o, owned(t));
  items.insert(items.begin() + static_cast<std::ptrdiff_t>(pos), std::move(o));
  ctx.set_output(0, Value::sequence(std::move(items)));
  return Status::ok();
}

Status sequence_at(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const std::vector<Tensor>* seq, sequence_input(ctx, 0));
  if (!ctx.has_input(1)) return ctx.error("position is required");
  TANDEM_ASSIGN_OR_RETURN(int64_t p, position_input(ctx, 1));
  TANDEM_ASSIGN_OR_RETURN(size_t pos, resolve_position(ctx, p, seq->size(), false));
  ctx.set_output(0, Value((*seq)[pos]));
  return Status::ok();
}

Status sequence_erase(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const std::vector<Tensor>* seq, sequence_input(ctx, 0));
  if (seq->empty()) return ctx.error("cannot erase from an empty sequence");
  size_t pos = seq->size() - 1;
  if (ctx.has_input(1)) {
    TANDEM_ASSIGN_OR_RETURN(int64_t p, position_input(ctx, 1));
    TANDEM_ASSIGN_OR_RETURN(pos, resolve_position(ctx, p, seq->size(), false));
  }
  std::vector<Tensor> items = *seq;
  items.erase(items.begin() + static_cast<std::ptrdiff_t>(pos));
  ctx.set_output(0, Value::sequence(std::move(items)));
  return Status::ok();
}

Status sequence_length(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const std::vector<Tensor>* seq, sequence_input(ctx, 0));
  TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(0, DType::kInt64, {}));
  out.data<int64_t>()[0] = static_cast<int64_t>(seq->size());
  return Status::ok();
}

Status split_to_sequence(KernelContext& ctx) {
  if (!ctx.has_input(0)) return ctx.error("input is required");
  const Tensor& x = ctx.input(0);
  const auto rank = static_cast<int64_t>(x.rank());
  if (rank == 0) return ctx.error("cannot split a scalar");
  Result<int64_t> axis_r = normalize_axis(ctx.node().attr_int("axis", 0), rank);
  if (!axis_r.is_ok()) return ctx.error(axis_r.status().message());
  const int64_t axis = *axis_r;
  const int64_t dim = x.dim(static_cast<size_t>(axis));
  const bool keepdims = ctx.node().attr_int("keepdims", 1) != 0;
  std::vector<int64_t> sizes;
  bool squeeze = false;
  if (!ctx.has_input(1)) {
    sizes.assign(static_cast<size_t>(dim), 1);
    squeeze = !keepdims;
  } else {
    const Tensor& split = ctx.input(1);
    if (split.dtype() != DType::kInt64 && split.dtype() != DType::kInt32) {
      return ctx.error("split must be int32 or int64");
    }
    if (split.rank() == 0) {
      const int64_t chunk = split.get_as_int64(0);
      if (chunk <= 0) return ctx.error("split must be positive, got " + std::to_string(chunk));
      for (int64_t done = 0; done < dim; done += chunk) sizes.push_back(std::min(chunk, dim - done));
    } else if (split.rank() == 1) {
      int64_t total = 0;
      for (int64_t v : split.to_int64_vector()) {
        if (v < 0) return ctx.error("split sizes must be non-negative");
        sizes.push_back(v);
        total += v;
      }
      if (total != dim) {
        return ctx.error("split sizes sum to " + std::to_string(total) + ", but the axis has " + std::to_string(dim));
      }
    } else {
      return ctx.error("split must be a scalar or a 1-D tensor");
    }
  }
  const int64_t outer = dims_product(x.shape(), 0, static_cast<size_t>(axis));
  const int64_t inner = dims_product(x.shape(), static_cast<size_t>(axis) + 1, x.rank());
  std::vector<Tensor> items;
  items.reserve(sizes.size());
  int64_t start = 0;
  for (int64_t len : sizes) {
    Shape shape = x.shape();
    shape[static_cast<size_t>(axis)] = len;
    TANDEM_ASSIGN_OR_RETURN(Tensor part, Tensor::allocate(x.dtype(), shape));
    for (int64_t o = 0; o < outer; ++o) {
      copy_elements(x, (o * dim + start) * inner, part, o * len * inner, len * inner);
    }
    if (squeeze) {
      shape.erase(shape.begin() + axis);
      TANDEM_ASSIGN_OR_RETURN(part, part.reshaped(shape));
    }
    items.push_back(std::move(part));
    start += len;
  }
  ctx.set_output(0, Value::sequence(std::move(items)));
  return Status::ok();
}

Status concat_from_sequence(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const std::vector<Tensor>* seq, sequence_input(ctx, 0));
  if (seq->empty()) return ctx.error("cannot concatenate an empty sequence");
  const Tensor& first = seq->front();
  const bool new_axis = ctx.node().attr_int("new_axis", 0) != 0;
  const auto rank = static_cast<int64_t>(first.rank());
  const int64_t out_rank = new_axis ? rank + 1 : rank;
  if (!ctx.node().attr("axis")) return ctx.error("the axis attribute is required");
  Result<int64_t> axis_r = normalize_axis(ctx.node().attr_int("axis", 0), out_rank);
  if (!axis_r.is_ok() || out_rank == 0) {
    return ctx.error("axis " + std::to_string(ctx.node().attr_int("axis", 0)) + " is out of range for rank " +
                     std::to_string(out_rank));
  }
  const int64_t axis = *axis_r;
  if (new_axis) {
    Result<Tensor> stacked = stack_along(*seq, axis, false, "sequence items");
    if (!stacked.is_ok()) return ctx.error(stacked.status().message());
    TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(0, first.dtype(), stacked->shape()));
    copy_elements(*stacked, 0, out, 0, out.numel());
    return Status::ok();
  }
  Shape out_shape = first.shape();
  int64_t total = 0;
  for (const Tensor& t : *seq) {
    bool ok = t.dtype() == first.dtype() && t.rank() == first.rank();
    for (size_t d = 0; ok && d < t.rank(); ++d) {
      if (static_cast<int64_t>(d) != axis && t.dim(d) != first.dim(d)) ok = false;
    }
    if (!ok) {
      return ctx.error("sequence items " + shape_to_string(first.shape()) + " and " + shape_to_string(t.shape()) +
                       " cannot be concatenated along axis " + std::to_string(axis));
    }
    total += t.dim(static_cast<size_t>(axis));
  }
  out_shape[static_cast<size_t>(axis)] = total;
  TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(0, first.dtype(), out_shape));
  const int64_t outer = dims_product(out_shape, 0, static_cast<size_t>(axis));
  const int64_t inner = dims_product(out_shape, static_cast<size_t>(axis) + 1, out_shape.size());
  int64_t offset = 0;
  for (const Tensor& t : *seq) {
    const int64_t len = t.dim(static_cast<size_t>(axis));
    for (int64_t o = 0; o < outer; ++o) {
      copy_elements(t, o * len * inner, out, (o * total + offset) * inner, len * inner);
    }
    offset += len;
  }
  return Status::ok();
}

// SequenceMap: runs the body once per element of the first sequence; sequence
// inputs contribute their i-th element, tensor inputs are passed whole.
Status sequence_map(KernelContext& ctx) {
  const graph::Graph* body = ctx.node().attr_graph("body");
  if (body == nullptr) return ctx.error("missing graph attribute body");
  TANDEM_ASSIGN_OR_RETURN(const std::vector<Tensor>* seq, sequence_input(ctx, 0));
  const size_t n = seq->size();
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    const Value& v = ctx.input_value(i);
    if (v.is_sequence() && v.items().size() != n) {
      return ctx.error("input sequences differ in length: " + std::to_string(n) + " and " +
                       std::to_string(v.items().size()));
    }
    if (!v.is_sequence() && !v.is_tensor()) return ctx.error("input " + std::to_string(i) + " is missing");
  }
  if (body->outputs.size() < ctx.num_outputs()) return ctx.error("the body has fewer outputs than the node");
  std::vector<std::vector<Tensor>> results(ctx.num_outputs());
  std::vector<Value> inputs(ctx.num_inputs()), outs;
  for (size_t e = 0; e < n; ++e) {
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Value& v = ctx.input_value(i);
      inputs[i] = v.is_sequence() ? Value(v.items()[e]) : v;
    }
    TANDEM_RETURN_IF_ERROR(ctx.run_subgraph(*body, inputs, &outs));
    for (size_t k = 0; k < ctx.num_outputs(); ++k) {
      if (!outs[k].is_tensor()) return ctx.error("body output " + std::to_string(k) + " must be a tensor");
      TANDEM_ASSIGN_OR_RETURN(Tensor o, owned(outs[k].tensor()));
      results[k].push_back(std::move(o));
    }
  }
  for (size_t k = 0; k < ctx.num_outputs(); ++k) ctx.set_output(k, Value::sequence(std::move(results[k])));
  return Status::ok();
}

Status optional_op(KernelContext& ctx) {
  const Value& v = ctx.input_value(0);
  if (v.empty() || v.is_none()) {  // no input: the empty optional of the `type` attribute
    ctx.set_output(0, Value::none());
    return Status::ok();
  }
  TANDEM_ASSIGN_OR_RETURN(Value d, detach(v));
  ctx.set_output(0, std::move(d));
  return Status::ok();
}

Status optional_has_element(KernelContext& ctx) {
  const Value& v = ctx.input_value(0);
  TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(0, DType::kBool, {}));
  out.data<bool>()[0] = !v.empty() && !v.is_none();
  return Status::ok();
}

Status optional_get_element(KernelContext& ctx) {
  const Value& v = ctx.input_value(0);
  if (v.empty() || v.is_none()) return ctx.error("the optional input is empty");
  TANDEM_ASSIGN_OR_RETURN(Value d, detach(v));
  ctx.set_output(0, std::move(d));
  return Status::ok();
}

}  // namespace

void register_sequence_kernels() {
  register_kernel("", "SequenceEmpty", sequence_empty);
  register_kernel("", "SequenceConstruct", sequence_construct);
  register_kernel("", "SequenceInsert", sequence_insert);
  register_kernel("", "SequenceAt", sequence_at);
  register_kernel("", "SequenceErase", sequence_erase);
  register_kernel("", "SequenceLength", sequence_length);
  register_kernel("", "SplitToSequence", split_to_sequence);
  register_kernel("", "ConcatFromSequence", concat_from_sequence);
  register_kernel("", "SequenceMap", sequence_map);
  register_kernel("", "Optional", optional_op);
  register_kernel("", "OptionalHasElement", optional_has_element);
  register_kernel("", "OptionalGetElement", optional_get_element);
}

}  // namespace tandem::reference
