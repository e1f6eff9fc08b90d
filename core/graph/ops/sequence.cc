// Shape inference: sequence family and optionals.
//
// A sequence's TypeInfo carries its element dtype, and element dims where
// every element is known to share them.
#include "core/graph/ops/rules.h"

namespace tandem::graph {
namespace {

TypeInfo sequence_of(DType dtype) {
  TypeInfo t;
  t.kind = TypeInfo::Kind::kSequence;
  t.dtype = dtype;
  return t;
}

// Element dims two sources agree on (unknown where they differ).
void merge_element_shape(TypeInfo* seq, const TypeInfo& elem, bool first) {
  if (first) {
    seq->has_shape = elem.has_shape;
    seq->dims = elem.dims;
    return;
  }
  if (!seq->has_shape || !elem.has_shape || seq->dims.size() != elem.dims.size()) {
    seq->has_shape = false;
    seq->dims.clear();
    return;
  }
  for (size_t d = 0; d < seq->dims.size(); ++d) {
    const Dim& a = seq->dims[d];
    const Dim& b = elem.dims[d];
    const bool same = a.known() ? (b.known() && a.value == b.value) : (!b.known() && !a.symbol.empty() &&
                                                                         a.symbol == b.symbol);
    if (!same) seq->dims[d] = Dim{};
  }
}

bool is_tensor(const TypeInfo& t) { return t.kind == TypeInfo::Kind::kTensor && t.dtype != DType::kUndefined; }
bool is_sequence(const TypeInfo& t) { return t.kind == TypeInfo::Kind::kSequence && t.dtype != DType::kUndefined; }

Status infer_sequence_empty(InferContext& ctx) {
  const int64_t dt = ctx.node().attr_int("dtype", static_cast<int64_t>(DType::kFloat32));
  if (ctx.has_output(0)) ctx.output_type(0) = sequence_of(static_cast<DType>(dt));
  return Status::ok();
}

Status infer_sequence_construct(InferContext& ctx) {
  if (ctx.num_inputs() == 0 || !is_tensor(ctx.input_type(0)) || !ctx.has_output(0)) return Status::ok();
  TypeInfo seq = sequence_of(ctx.input_type(0).dtype);
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const TypeInfo& t = ctx.input_type(i);
    if (!is_tensor(t)) return Status::ok();
    if (t.dtype != seq.dtype) return invalid_argument("SequenceConstruct inputs have different dtypes");
    merge_element_shape(&seq, t, i == 0);
  }
  ctx.output_type(0) = seq;
  return Status::ok();
}

// SequenceInsert: element shape merged with the inserted tensor's.
Status infer_sequence_insert(InferContext& ctx) {
  const TypeInfo& s = ctx.input_type(0);
  const TypeInfo& t = ctx.input_type(1);
  if (!is_sequence(s) || !ctx.has_output(0)) return Status::ok();
  TypeInfo out = sequence_of(s.dtype);
  if (is_tensor(t)) {
    out.has_shape = s.has_shape;
    out.dims = s.dims;
    merge_element_shape(&out, t, false);
  }
  ctx.output_type(0) = out;
  return Status::ok();
}

Status infer_sequence_erase(InferContext& ctx) {
  if (is_sequence(ctx.input_type(0))) ctx.propagate(0, 0);
  return Status::ok();
}

Status infer_sequence_at(InferContext& ctx) {
  const TypeInfo& s = ctx.input_type(0);
  if (!is_sequence(s)) return Status::ok();
  if (s.has_shape) ctx.set_output(0, s.dtype, s.dims);
  else ctx.set_output_rank_unknown(0, s.dtype);
  return Status::ok();
}

Status infer_sequence_length(InferContext& ctx) {
  ctx.set_output(0, DType::kInt64, Shape{});
  return Status::ok();
}

Status infer_split_to_sequence(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (is_tensor(x) && ctx.has_output(0)) ctx.output_type(0) = sequence_of(x.dtype);
  return Status::ok();
}

Status infer_concat_from_sequence(InferContext& ctx) {
  const TypeInfo& s = ctx.input_type(0);
  if (is_sequence(s)) ctx.set_output_rank_unknown(0, s.dtype);
  return Status::ok();
}

Status infer_sequence_map(InferContext& ctx) {
  const Graph* body = ctx.node().attr_graph("body");
  if (body == nullptr) return Status::ok();
  for (size_t i = 0; i < ctx.num_outputs() && i < body->outputs.size(); ++i) {
    const TypeInfo& t = body->values[static_cast<size_t>(body->outputs[i])].type;
    if (is_tensor(t) && ctx.has_output(i)) ctx.output_type(i) = sequence_of(t.dtype);
  }
  return Status::ok();
}

Status infer_optional(InferContext& ctx) {
  const TypeInfo& t = ctx.input_type(0);
  if (!ctx.has_output(0) || (!is_tensor(t) && !is_sequence(t))) return Status::ok();
  TypeInfo out = t;
  out.optional_of = t.kind;
  out.kind = TypeInfo::Kind::kOptional;
  ctx.output_type(0) = out;
  return Status::ok();
}

Status infer_optional_has_element(InferContext& ctx) {
  ctx.set_output(0, DType::kBool, Shape{});
  return Status::ok();
}

Status infer_optional_get_element(InferContext& ctx) {
  const TypeInfo& t = ctx.input_type(0);
  if (!ctx.has_output(0) || t.dtype == DType::kUndefined) return Status::ok();
  if (t.kind == TypeInfo::Kind::kOptional) {
    TypeInfo out = t;
    out.kind = t.optional_of;
    ctx.output_type(0) = out;
  } else if (t.kind != TypeInfo::Kind::kUnknown) {
    ctx.propagate(0, 0);
  }
  return Status::ok();
}

}  // namespace

void register_sequence_rules() {
  register_infer("", "SequenceEmpty", infer_sequence_empty);
  register_infer("", "SequenceConstruct", infer_sequence_construct);
  register_infer("", "SequenceInsert", infer_sequence_insert);
  register_infer("", "SequenceErase", infer_sequence_erase);
  register_infer("", "SequenceAt", infer_sequence_at);
  register_infer("", "SequenceLength", infer_sequence_length);
  register_infer("", "SplitToSequence", infer_split_to_sequence);
  register_infer("", "ConcatFromSequence", infer_concat_from_sequence);
  register_infer("", "SequenceMap", infer_sequence_map);
  register_infer("", "Optional", infer_optional);
  register_infer("", "OptionalHasElement", infer_optional_has_element);
  register_infer("", "OptionalGetElement", infer_optional_get_element);
}

}  // namespace tandem::graph
