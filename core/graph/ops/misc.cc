// Shape inference: misc family (NonMaxSuppression, TfIdfVectorizer,
// StringNormalizer, random generators, signal processing, training optimizers).
// Sizes that depend on data (NMS count, stopword removal) stay unknown.
#include <algorithm>
#include <string>

#include "core/graph/ops/rules.h"

namespace tandem::graph {
namespace {

bool is_tensor(const TypeInfo& t) { return t.kind == TypeInfo::Kind::kTensor; }

// A dtype attribute (ONNX numbering), or `fallback` when absent or invalid.
DType dtype_attr(const Node& node, const char* name, DType fallback) {
  const Attribute* a = node.attr(name);
  if (a == nullptr) return fallback;
  if (a->i <= 0 || a->i > 1000 || !dtype_is_valid(static_cast<int32_t>(a->i))) return DType::kUndefined;
  return static_cast<DType>(a->i);
}

// A scalar integer constant input, if known.
bool const_int(const InferContext& ctx, size_t i, int64_t* v) {
  if (!ctx.has_input(i)) return false;
  const Tensor* t = ctx.input_constant(i);
  if (t == nullptr || t->numel() != 1 || !dtype_is_integer(t->dtype())) return false;
  *v = t->get_as_int64(0);
  return true;
}

void like_input(InferContext& ctx, size_t i, DType dtype) {
  const TypeInfo& in = ctx.input_type(i);
  if (!is_tensor(in) || dtype == DType::kUndefined) return;
  if (in.has_shape) {
    ctx.set_output(0, dtype, in.dims);
  } else {
    ctx.set_output_rank_unknown(0, dtype);
  }
}

Status non_max_suppression(InferContext& ctx) {
  ctx.set_output(0, DType::kInt64, std::vector<Dim>{Dim{}, Dim::of(3)});
  return Status::ok();
}

Status tfidf_vectorizer(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const std::vector<int64_t> idx = ctx.node().attr_ints("ngram_indexes");
  if (!is_tensor(x) || !x.has_shape || idx.empty()) {
    ctx.set_output_rank_unknown(0, DType::kFloat32);
    return Status::ok();
  }
  const Dim o = Dim::of(std::max<int64_t>(0, *std::max_element(idx.begin(), idx.end()) + 1));
  if (x.dims.size() == 1) {
    ctx.set_output(0, DType::kFloat32, std::vector<Dim>{o});
  } else if (x.dims.size() == 2) {
    ctx.set_output(0, DType::kFloat32, std::vector<Dim>{x.dims[0], o});
  }
  return Status::ok();
}

Status string_normalizer(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (is_tensor(x) && x.has_shape && x.dims.size() == 1) {
    ctx.set_output(0, DType::kString, std::vector<Dim>{Dim{}});
  } else if (is_tensor(x) && x.has_shape && x.dims.size() == 2) {
    ctx.set_output(0, DType::kString, std::vector<Dim>{Dim::of(1), Dim{}});
  } else {
    ctx.set_output_rank_unknown(0, DType::kString);
  }
  return Status::ok();
}

Status random_from_attrs(InferContext& ctx) {
  const DType dt = dtype_attr(ctx.node(), "dtype", DType::kFloat32);
  const std::vector<int64_t> shape = ctx.node().attr_ints("shape");
  if (dt == DType::kUndefined || std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) {
    return Status::ok();
  }
  ctx.set_output(0, dt, Shape(shape));
  return Status::ok();
}

Status random_like(InferContext& ctx) {
  like_input(ctx, 0, dtype_attr(ctx.node(), "dtype", ctx.input_type(0).dtype));
  return Status::ok();
}

Status multinomial(InferContext& ctx) {
  const DType dt = dtype_attr(ctx.node(), "dtype", DType::kInt32);
  const int64_t samples = ctx.node().attr_int("sample_size", 1);
  const TypeInfo& x = ctx.input_type(0);
  if (dt == DType::kUndefined) return Status::ok();
  Dim batch;
  if (is_tensor(x) && x.has_shape && x.dims.size() == 2) batch = x.dims[0];
  ctx.set_output(0, dt, std::vector<Dim>{batch, samples >= 0 ? Dim::of(samples) : Dim{}});
  return Status::ok();
}

Status window(InferContext& ctx) {
  const DType dt = dtype_attr(ctx.node(), "output_datatype", DType::kFloat32);
  if (dt == DType::kUndefined) return Status::ok();
  int64_t size = 0;
  ctx.set_output(0, dt, std::vector<Dim>{const_int(ctx, 0, &size) && size >= 0 ? Dim::of(size) : Dim{}});
  return Status::ok();
}

Status mel_weight_matrix(InferContext& ctx) {
  const DType dt = dtype_attr(ctx.node(), "output_datatype", DType::kFloat32);
  if (dt == DType::kUndefined) return Status::ok();
  int64_t mel = 0, dft_length = 0;
  const Dim rows = const_int(ctx, 1, &dft_length) && dft_length > 0 ? Dim::of(dft_length / 2 + 1) : Dim{};
  const Dim cols = const_int(ctx, 0, &mel) && mel > 0 ? Dim::of(mel) : Dim{};
  ctx.set_output(0, dt, std::vector<Dim>{rows, cols});
  return Status::ok();
}

Status dft(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  if (!x.has_shape || x.dims.size() < 2) {
    ctx.set_output_rank_unknown(0, x.dtype);
    return Status::ok();
  }
  const auto rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = ctx.node().attr_int("axis", ctx.opset() >= 20 ? -2 : 1);
  if (ctx.opset() >= 20 && ctx.has_input(2) && !const_int(ctx, 2, &axis)) {
    ctx.set_output_rank_unknown(0, x.dtype);
    return Status::ok();
  }
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank - 1) return Status::ok();  // the kernel reports it
  std::vector<Dim> out = x.dims;
  out.back() = Dim::of(2);
  Dim len = x.dims[static_cast<size_t>(axis)];
  int64_t l = 0;
  if (ctx.has_input(1)) len = const_int(ctx, 1, &l) && l > 0 ? Dim::of(l) : Dim{};
  if (ctx.node().attr_int("onesided", 0) != 0) len = len.known() ? Dim::of(len.value / 2 + 1) : Dim{};
  out[static_cast<size_t>(axis)] = len;
  ctx.set_output(0, x.dtype, out);
  return Status::ok();
}

Status stft(InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!is_tensor(x)) return Status::ok();
  int64_t frame_length = -1, step = -1;
  if (!const_int(ctx, 3, &frame_length)) {
    const TypeInfo& w = ctx.input_type(2);
    if (ctx.has_input(2) && is_tensor(w) && w.has_shape && w.dims.size() == 1 && w.dims[0].known()) {
      frame_length = w.dims[0].value;
    }
  }
  const bool have_step = const_int(ctx, 1, &step) && step > 0;
  Dim batch, frames, bins;
  if (x.has_shape && x.dims.size() == 3) {
    batch = x.dims[0];
    if (have_step && frame_length > 0 && x.dims[1].known() && x.dims[1].value >= frame_length) {
      frames = Dim::of((x.dims[1].value - frame_length) / step + 1);
    }
  }
  if (frame_length > 0) {
    bins = Dim::of(ctx.node().attr_int("onesided", 1) != 0 ? frame_length / 2 + 1 : frame_length);
  }
  ctx.set_output(0, x.dtype, std::vector<Dim>{batch, frames, bins, Dim::of(2)});
  return Status::ok();
}

// Optimizers: inputs R, T, then `groups` lists of n tensors; output list k
// copies the type of input list `src[k]`.
template <size_t Groups>
Status optimizer(InferContext& ctx, const size_t (&src)[Groups - 1]) {
  if (ctx.num_inputs() < 2 + Groups || (ctx.num_inputs() - 2) % Groups != 0) return Status::ok();
  const size_t n = (ctx.num_inputs() - 2) / Groups;
  for (size_t k = 0; k + 1 < Groups; ++k) {
    for (size_t i = 0; i < n; ++i) {
      const size_t o = k * n + i;
      if (o < ctx.num_outputs() && ctx.has_output(o)) ctx.propagate(2 + src[k] * n + i, o);
    }
  }
  return Status::ok();
}

Status adagrad(InferContext& ctx) {
  static const size_t src[] = {0, 2};  // X, G, H -> X_new, H_new
  return optimizer<3>(ctx, src);
}
Status adam(InferContext& ctx) {
  static const size_t src[] = {0, 2, 3};  // X, G, V, H -> X_new, V_new, H_new
  return optimizer<4>(ctx, src);
}
Status momentum(InferContext& ctx) {
  static const size_t src[] = {0, 2};  // X, G, V -> X_new, V_new
  return optimizer<3>(ctx, src);
}

}  // namespace

void register_misc_rules() {
  register_infer("", "NonMaxSuppression", non_max_suppression);
  register_infer("", "TfIdfVectorizer", tfidf_vectorizer);
  register_infer("", "StringNormalizer", string_normalizer);
  register_infer("", "RandomUniform", random_from_attrs);
  register_infer("", "RandomNormal", random_from_attrs);
  register_infer("", "RandomUniformLike", random_like);
  register_infer("", "RandomNormalLike", random_like);
  register_infer("", "Bernoulli", random_like);
  register_infer("", "Multinomial", multinomial);
  register_infer("", "HannWindow", window);
  register_infer("", "HammingWindow", window);
  register_infer("", "BlackmanWindow", window);
  register_infer("", "MelWeightMatrix", mel_weight_matrix);
  register_infer("", "DFT", dft);
  register_infer("", "STFT", stft);
  register_infer("ai.onnx.preview.training", "Adagrad", adagrad);
  register_infer("ai.onnx.preview.training", "Adam", adam);
  register_infer("ai.onnx.preview.training", "Momentum", momentum);
}

}  // namespace tandem::graph
