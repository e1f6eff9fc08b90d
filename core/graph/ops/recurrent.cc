// Shape inference: recurrent family (RNN, GRU, LSTM).
#include "core/graph/ops/rules.h"

namespace tandem::graph {
namespace {

// Y: [S, D, B, H] (layout 0) or [B, S, D, H]; Y_h and Y_c: [D, B, H] or [B, D, H].
Status infer_recurrent(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const TypeInfo& w = ctx.input_type(1);
  const TypeInfo& r = ctx.input_type(2);
  if (x.kind != TypeInfo::Kind::kTensor || x.dtype == DType::kUndefined) return Status::ok();
  const DType dtype = x.dtype;
  if (!x.has_shape) {
    for (size_t i = 0; i < ctx.num_outputs(); ++i) ctx.set_output_rank_unknown(i, dtype);
    return Status::ok();
  }
  if (x.dims.size() != 3) return invalid_argument("X must be rank 3, got " + x.to_string());
  const int64_t layout = ctx.node().attr_int("layout", 0);
  const std::string direction = ctx.node().attr_string("direction", "forward");
  Dim dirs = Dim::of(direction == "bidirectional" ? 2 : 1);
  if (w.has_shape && w.dims.size() == 3 && w.dims[0].known() && w.dims[0].value != dirs.value) {
    return invalid_argument("W has " + std::to_string(w.dims[0].value) + " directions, direction '" + direction +
                            "' needs " + std::to_string(dirs.value));
  }
  Dim hidden;
  const int64_t hs = ctx.node().attr_int("hidden_size", -1);
  if (hs > 0) {
    hidden = Dim::of(hs);
  } else if (r.has_shape && r.dims.size() == 3) {
    hidden = r.dims[2];
  }
  const Dim seq = layout == 0 ? x.dims[0] : x.dims[1];
  const Dim batch = layout == 0 ? x.dims[1] : x.dims[0];
  if (layout == 0) {
    ctx.set_output(0, dtype, std::vector<Dim>{seq, dirs, batch, hidden});
  } else {
    ctx.set_output(0, dtype, std::vector<Dim>{batch, seq, dirs, hidden});
  }
  const std::vector<Dim> state = layout == 0 ? std::vector<Dim>{dirs, batch, hidden}
                                             : std::vector<Dim>{batch, dirs, hidden};
  for (size_t i = 1; i < ctx.num_outputs() && i < 3; ++i) ctx.set_output(i, dtype, state);
  return Status::ok();
}

}  // namespace

void register_recurrent_rules() {
  register_infer("", "RNN", infer_recurrent);
  register_infer("", "GRU", infer_recurrent);
  register_infer("", "LSTM", infer_recurrent);
}

}  // namespace tandem::graph
