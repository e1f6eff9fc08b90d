// Reference kernels: recurrent family (RNN, GRU, LSTM).
//
// All three share one driver: inputs are brought to time-major layout, the
// input projections X·Wᵀ + bias for every timestep come from one matrix
// multiply, then the recurrence runs per direction and per batch row (rows
// have their own sequence length). Weights are transposed once so that the
// inner loops run over contiguous gate columns.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "backends/reference/kernels/common.h"

namespace tandem::reference {
namespace {

enum class Cell { kRnn, kGru, kLstm };

enum class ActKind {
  kSigmoid, kTanh, kRelu, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid, kElu, kSoftsign,
  kSoftplus
};

struct Activation {
  ActKind kind = ActKind::kSigmoid;
  float alpha = 0;
  float beta = 0;
};

// Parses one activation name; alpha/beta are taken in order from the lists by
// the functions that use them (ONNX: "consumed in the order of activation functions").
bool parse_activation(const std::string& name, const std::vector<float>& alphas, size_t* ai,
                      const std::vector<float>& betas, size_t* bi, Activation* out) {
  std::string n;
  for (char c : name) n.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  auto take = [](const std::vector<float>& v, size_t* i, float dflt) { return *i < v.size() ? v[(*i)++] : dflt; };
  Activation a;
  if (n == "sigmoid") a.kind = ActKind::kSigmoid;
  else if (n == "tanh") a.kind = ActKind::kTanh;
  else if (n == "relu") a.kind = ActKind::kRelu;
  else if (n == "softsign") a.kind = ActKind::kSoftsign;
  else if (n == "softplus") a.kind = ActKind::kSoftplus;
  else if (n == "affine") { a.kind = ActKind::kAffine; a.alpha = take(alphas, ai, 1.f); a.beta = take(betas, bi, 0.f); }
  else if (n == "leakyrelu") { a.kind = ActKind::kLeakyRelu; a.alpha = take(alphas, ai, 0.01f); }
  else if (n == "thresholdedrelu") { a.kind = ActKind::kThresholdedRelu; a.alpha = take(alphas, ai, 1.f); }
  else if (n == "scaledtanh") { a.kind = ActKind::kScaledTanh; a.alpha = take(alphas, ai, 1.f); a.beta = take(betas, bi, 1.f); }
  else if (n == "hardsigmoid") { a.kind = ActKind::kHardSigmoid; a.alpha = take(alphas, ai, 0.2f); a.beta = take(betas, bi, 0.5f); }
  else if (n == "elu") { a.kind = ActKind::kElu; a.alpha = take(alphas, ai, 1.f); }
  else return false;
  *out = a;
  return true;
}

// Applies an activation to n values in place (dispatch once per vector, not per element).
template <typename T>
void activate(const Activation& a, T* x, int64_t n) {
  const T alpha = static_cast<T>(a.alpha), beta = static_cast<T>(a.beta);
  switch (a.kind) {
    case ActKind::kSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = T(1) / (T(1) + std::exp(-x[i]));
      break;
    case ActKind::kTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      break;
    case ActKind::kRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], T(0));
      break;
    case ActKind::kAffine:
      for (int64_t i = 0; i < n; ++i) x[i] = alpha * x[i] + beta;
      break;
    case ActKind::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= 0 ? x[i] : alpha * x[i];
      break;
    case ActKind::kThresholdedRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > alpha ? x[i] : T(0);
      break;
    case ActKind::kScaledTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = alpha * std::tanh(beta * x[i]);
      break;
    case ActKind::kHardSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = std::clamp(alpha * x[i] + beta, T(0), T(1));
      break;
    case ActKind::kElu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= 0 ? x[i] : alpha * (std::exp(x[i]) - T(1));
      break;
    case ActKind::kSoftsign:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (T(1) + std::abs(x[i]));
      break;
    case ActKind::kSoftplus:
      for (int64_t i = 0; i < n; ++i) x[i] = std::log1p(std::exp(x[i]));
      break;
  }
}

template <typename T>
void clip_values(T* x, int64_t n, float clip) {
  const T c = static_cast<T>(clip);
  for (int64_t i = 0; i < n; ++i) x[i] = std::clamp(x[i], -c, c);
}

// Everything the recurrence needs, validated. Inputs are already converted to
// the compute dtype and to layout 0.
struct Spec {
  Cell cell = Cell::kRnn;
  int64_t gates = 1;  // 1 (RNN), 3 (GRU), 4 (LSTM)
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1;
  bool reverse = false;  // the single direction is "reverse"
  int64_t layout = 0;
  std::vector<Activation> acts;  // acts_per_dir * dirs
  size_t acts_per_dir = 1;
  bool has_clip = false;
  float clip = 0;
  bool linear_before_reset = false;
  bool input_forget = false;
  std::vector<int64_t> lens;  // per batch row
};

struct Inputs {
  Tensor x;       // [S, B, I]
  Tensor w, r;    // [D, G*H, I], [D, G*H, H]
  Tensor b;       // [D, 2*G*H] or undefined
  Tensor h0, c0;  // [D, B, H] or undefined
  Tensor p;       // [D, 3H] or undefined
};

// C[m][n] = sum_k A[m][k] * Bt[k][n]; C must be pre-initialised (accumulates).
template <typename T>
void gemm_acc(const T* a, const T* bt, T* c, int64_t m, int64_t k, int64_t n) {
  for (int64_t i = 0; i < m; ++i) {
    T* crow = c + i * n;
    const T* arow = a + i * k;
    for (int64_t kk = 0; kk < k; ++kk) {
      const T av = arow[kk];
      const T* brow = bt + kk * n;
      for (int64_t j = 0; j < n; ++j) crow[j] += av * brow[j];
    }
  }
}

// [rows, cols] -> [cols, rows]
template <typename T>
void transpose(const T* src, T* dst, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
  }
}

// Runs every direction; y is [S, D, B, H] (zeros where a row's sequence ended),
// yh and yc are [D, B, H].
template <typename T>
void run_recurrence(const Spec& s, const Inputs& in, T* y, T* yh, T* yc) {
  const int64_t S = s.seq, B = s.batch, I = s.input, H = s.hidden, D = s.dirs, G = s.gates;
  const int64_t GH = G * H;
  std::vector<T> wt(static_cast<size_t>(I * GH)), rt(static_cast<size_t>(H * GH));
  std::vector<T> xw(static_cast<size_t>(S * B * GH));
  std::vector<T> bias(static_cast<size_t>(GH)), rbh(static_cast<size_t>(H));
  std::vector<T> g(static_cast<size_t>(GH)), tmp(static_cast<size_t>(H));
  const T* x = in.x.data<T>();
  for (int64_t d = 0; d < D; ++d) {
    const bool reverse = s.reverse || d == 1;
    const Activation* acts = &s.acts[static_cast<size_t>(d) * s.acts_per_dir];
    transpose(in.w.data<T>() + d * GH * I, wt.data(), GH, I);
    transpose(in.r.data<T>() + d * GH * H, rt.data(), GH, H);
    // Bias folded into the projections: Wb + Rb, except GRU's Rbh under
    // linear_before_reset, which is multiplied by r inside the recurrence.
    std::fill(bias.begin(), bias.end(), T(0));
    std::fill(rbh.begin(), rbh.end(), T(0));
    if (in.b.defined()) {
      const T* wb = in.b.data<T>() + d * 2 * GH;
      const T* rb = wb + GH;
      for (int64_t n = 0; n < GH; ++n) bias[n] = wb[n] + rb[n];
      if (s.cell == Cell::kGru && s.linear_before_reset) {
        for (int64_t j = 0; j < H; ++j) {
          bias[2 * H + j] = wb[2 * H + j];
          rbh[j] = rb[2 * H + j];
        }
      }
    }
    for (int64_t m = 0; m < S * B; ++m) std::copy(bias.begin(), bias.end(), xw.begin() + m * GH);
    gemm_acc(x, wt.data(), xw.data(), S * B, I, GH);

    T* h = yh + d * B * H;
    T* c = yc + d * B * H;
    if (in.h0.defined()) std::copy_n(in.h0.data<T>() + d * B * H, B * H, h);
    else std::fill_n(h, B * H, T(0));
    if (in.c0.defined()) std::copy_n(in.c0.data<T>() + d * B * H, B * H, c);
    else std::fill_n(c, B * H, T(0));
    const T* p = in.p.defined() ? in.p.data<T>() + d * 3 * H : nullptr;

    for (int64_t step = 0; step < S; ++step) {
      const int64_t t = reverse ? S - 1 - step : step;
      for (int64_t bi = 0; bi < B; ++bi) {
        if (t >= s.lens[static_cast<size_t>(bi)]) continue;  // past this row's end: Y stays 0, state kept
        T* hb = h + bi * H;
        T* cb = c + bi * H;
        std::copy_n(xw.data() + (t * B + bi) * GH, GH, g.data());
        if (s.cell == Cell::kGru) {
          // z and r gates: all of R; the h gate needs r first.
          for (int64_t k = 0; k < H; ++k) {
            const T hv = hb[k];
            const T* rrow = rt.data() + k * GH;
            for (int64_t n = 0; n < 2 * H; ++n) g[n] += hv * rrow[n];
          }
          if (s.has_clip) clip_values(g.data(), 2 * H, s.clip);
          activate(acts[0], g.data(), 2 * H);
          T* z = g.data();
          T* rg = g.data() + H;
          T* hg = g.data() + 2 * H;
          if (s.linear_before_reset) {
            std::copy(rbh.begin(), rbh.end(), tmp.begin());
            for (int64_t k = 0; k < H; ++k) {
              const T hv = hb[k];
              const T* rrow = rt.data() + k * GH + 2 * H;
              for (int64_t j = 0; j < H; ++j) tmp[j] += hv * rrow[j];
            }
            for (int64_t j = 0; j < H; ++j) hg[j] += rg[j] * tmp[j];
          } else {
            for (int64_t k = 0; k < H; ++k) {
              const T hv = rg[k] * hb[k];
              const T* rrow = rt.data() + k * GH + 2 * H;
              for (int64_t j = 0; j < H; ++j) hg[j] += hv * rrow[j];
            }
          }
          if (s.has_clip) clip_values(hg, H, s.clip);
          activate(acts[1], hg, H);
          for (int64_t j = 0; j < H; ++j) hb[j] = (T(1) - z[j]) * hg[j] + z[j] * hb[j];
        } else {
          for (int64_t k = 0; k < H; ++k) {
            const T hv = hb[k];
            const T* rrow = rt.data() + k * GH;
            for (int64_t n = 0; n < GH; ++n) g[n] += hv * rrow[n];
          }
          if (s.cell == Cell::kRnn) {
            if (s.has_clip) clip_values(g.data(), H, s.clip);
            activate(acts[0], g.data(), H);
            std::copy_n(g.data(), H, hb);
          } else {
            // LSTM gate order i, o, f, c; peepholes P are i, o, f.
            T* ig = g.data();
            T* og = g.data() + H;
            T* fg = g.data() + 2 * H;
            T* cg = g.data() + 3 * H;
            if (p != nullptr) {
              for (int64_t j = 0; j < H; ++j) {
                ig[j] += p[j] * cb[j];
                fg[j] += p[2 * H + j] * cb[j];
              }
            }
            if (s.has_clip) {
              clip_values(ig, H, s.clip);
              clip_values(fg, H, s.clip);
              clip_values(cg, H, s.clip);
            }
            activate(acts[0], ig, H);
            if (s.input_forget) {
              for (int64_t j = 0; j < H; ++j) fg[j] = T(1) - ig[j];
            } else {
              activate(acts[0], fg, H);
            }
            activate(acts[1], cg, H);
            for (int64_t j = 0; j < H; ++j) cb[j] = fg[j] * cb[j] + ig[j] * cg[j];
            if (p != nullptr) {
              for (int64_t j = 0; j < H; ++j) og[j] += p[H + j] * cb[j];
            }
            if (s.has_clip) clip_values(og, H, s.clip);
            activate(acts[0], og, H);
            std::copy_n(cb, H, tmp.data());
            activate(acts[2], tmp.data(), H);
            for (int64_t j = 0; j < H; ++j) hb[j] = og[j] * tmp[j];
          }
        }
        if (y != nullptr) std::copy_n(hb, H, y + ((t * D + d) * B + bi) * H);
      }
    }
  }
}

// Swaps the first two axes of a rank-3 tensor ([A, B, C] -> [B, A, C]).
Result<Tensor> swap01(const Tensor& t) {
  const int64_t a = t.dim(0), b = t.dim(1), c = t.dim(2);
  TANDEM_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(t.dtype(), {b, a, c}));
  const size_t es = dtype_size(t.dtype());
  const auto* src = static_cast<const uint8_t*>(t.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  const size_t row = static_cast<size_t>(c) * es;
  for (int64_t i = 0; i < a; ++i) {
    for (int64_t j = 0; j < b; ++j) std::memcpy(dst + (j * a + i) * row, src + (i * b + j) * row, row);
  }
  return out;
}

std::string dims_str(const Tensor& t) { return shape_to_string(t.shape()); }

// Checks an optional input's shape and converts it to the compute dtype.
Status load_optional(const KernelContext& ctx, size_t index, const char* name, const Shape& expected, DType dtype,
                     Tensor* out) {
  if (!ctx.has_input(index)) return Status::ok();
  const Tensor& t = ctx.input(index);
  if (t.dtype() != dtype) {
    return ctx.error(std::string(name) + " has dtype " + dtype_name(t.dtype()) + ", expected " + dtype_name(dtype) +
                     " like X");
  }
  if (t.shape() != expected) {
    return ctx.error(std::string(name) + " has shape " + dims_str(t) + ", expected " + shape_to_string(expected));
  }
  TANDEM_ASSIGN_OR_RETURN(*out, to_float32(t));
  return Status::ok();
}

// Writes a layout-0 result (compute dtype) into output `index`, transposing
// for layout 1 and converting back to the model's dtype.
Status emit(KernelContext& ctx, size_t index, Tensor value, int64_t layout, DType dtype) {
  if (!ctx.has_output(index)) return Status::ok();
  if (layout == 1) {
    if (value.rank() == 4) {  // [S, D, B, H] -> [B, S, D, H]
      const int64_t S = value.dim(0), D = value.dim(1), B = value.dim(2), H = value.dim(3);
      TANDEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(value.dtype(), {B, S, D, H}));
      const size_t es = dtype_size(value.dtype());
      const size_t row = static_cast<size_t>(H) * es;
      const auto* src = static_cast<const uint8_t*>(value.raw_data());
      auto* dst = static_cast<uint8_t*>(t.raw_data());
      for (int64_t s = 0; s < S; ++s) {
        for (int64_t d = 0; d < D; ++d) {
          for (int64_t b = 0; b < B; ++b) {
            std::memcpy(dst + ((b * S + s) * D + d) * row, src + ((s * D + d) * B + b) * row, row);
          }
        }
      }
      value = t;
    } else {
      TANDEM_ASSIGN_OR_RETURN(value, swap01(value));
    }
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor converted, is_half(dtype) ? from_float32(value, dtype) : Result<Tensor>(value));
  TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(index, dtype, converted.shape()));
  if (out.byte_size() > 0) std::memcpy(out.raw_data(), converted.raw_data(), out.byte_size());
  return Status::ok();
}

Status run_rnn_family(KernelContext& ctx, Cell cell) {
  const graph::Node& node = ctx.node();
  Spec s;
  s.cell = cell;
  s.gates = cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4;
  s.acts_per_dir = cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 2 : 3;
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2)) return ctx.error("X, W and R are required");
  const Tensor& x_in = ctx.input(0);
  const Tensor& w_in = ctx.input(1);
  const Tensor& r_in = ctx.input(2);
  const DType dtype = x_in.dtype();
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64 && !is_half(dtype)) {
    return ctx.error(std::string("X has dtype ") + dtype_name(dtype) + "; expected a float type");
  }
  if (w_in.dtype() != dtype || r_in.dtype() != dtype) return ctx.error("W and R must have the dtype of X");
  if (x_in.rank() != 3 || w_in.rank() != 3 || r_in.rank() != 3) {
    return ctx.error("X, W and R must be rank 3; got X " + dims_str(x_in) + ", W " + dims_str(w_in) + ", R " +
                     dims_str(r_in));
  }
  s.layout = node.attr_int("layout", 0);
  if (s.layout != 0 && s.layout != 1) return ctx.error("layout must be 0 or 1, got " + std::to_string(s.layout));
  const std::string direction = node.attr_string("direction", "forward");
  if (direction == "forward") s.dirs = 1;
  else if (direction == "reverse") { s.dirs = 1; s.reverse = true; }
  else if (direction == "bidirectional") s.dirs = 2;
  else return ctx.error("direction must be forward, reverse or bidirectional, got '" + direction + "'");

  s.seq = s.layout == 0 ? x_in.dim(0) : x_in.dim(1);
  s.batch = s.layout == 0 ? x_in.dim(1) : x_in.dim(0);
  s.input = x_in.dim(2);
  s.hidden = node.attr_int("hidden_size", r_in.dim(2));
  if (s.hidden <= 0) return ctx.error("hidden_size must be positive");
  const int64_t GH = s.gates * s.hidden;
  if (w_in.shape() != Shape{s.dirs, GH, s.input}) {
    return ctx.error("W has shape " + dims_str(w_in) + ", expected " + shape_to_string(Shape{s.dirs, GH, s.input}));
  }
  if (r_in.shape() != Shape{s.dirs, GH, s.hidden}) {
    return ctx.error("R has shape " + dims_str(r_in) + ", expected " + shape_to_string(Shape{s.dirs, GH, s.hidden}));
  }

  // Activations: the defaults, or the attribute (one set per direction, or one set for all).
  std::vector<std::string> names = node.attr_strings("activations");
  if (names.empty()) {
    if (cell == Cell::kRnn) names = {"Tanh"};
    else if (cell == Cell::kGru) names = {"Sigmoid", "Tanh"};
    else names = {"Sigmoid", "Tanh", "Tanh"};
  }
  if (names.size() == s.acts_per_dir && s.dirs == 2) {
    std::vector<std::string> twice = names;
    twice.insert(twice.end(), names.begin(), names.end());
    names = twice;
  }
  if (names.size() != s.acts_per_dir * static_cast<size_t>(s.dirs)) {
    return ctx.error("activations lists " + std::to_string(names.size()) + " functions, expected " +
                     std::to_string(s.acts_per_dir * static_cast<size_t>(s.dirs)));
  }
  const std::vector<float> alphas = node.attr_floats("activation_alpha");
  const std::vector<float> betas = node.attr_floats("activation_beta");
  size_t ai = 0, bi = 0;
  for (const std::string& n : names) {
    Activation a;
    if (!parse_activation(n, alphas, &ai, betas, &bi, &a)) return ctx.error("unsupported activation '" + n + "'");
    s.acts.push_back(a);
  }
  if (const graph::Attribute* c = node.attr("clip")) {
    s.has_clip = true;
    s.clip = c->f;
    if (!(s.clip > 0)) return ctx.error("clip must be positive");
  }
  s.linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;
  s.input_forget = node.attr_int("input_forget", 0) != 0;

  Inputs in;
  TANDEM_ASSIGN_OR_RETURN(in.x, to_float32(x_in));
  if (s.layout == 1) { TANDEM_ASSIGN_OR_RETURN(in.x, swap01(in.x)); }
  TANDEM_ASSIGN_OR_RETURN(in.w, to_float32(w_in));
  TANDEM_ASSIGN_OR_RETURN(in.r, to_float32(r_in));
  TANDEM_RETURN_IF_ERROR(load_optional(ctx, 3, "B", {s.dirs, 2 * GH}, dtype, &in.b));
  s.lens.assign(static_cast<size_t>(s.batch), s.seq);
  if (ctx.has_input(4)) {
    const Tensor& sl = ctx.input(4);
    if (sl.dtype() != DType::kInt32 && sl.dtype() != DType::kInt64) return ctx.error("sequence_lens must be int32");
    if (sl.shape() != Shape{s.batch}) {
      return ctx.error("sequence_lens has shape " + dims_str(sl) + ", expected [" + std::to_string(s.batch) + "]");
    }
    for (int64_t b = 0; b < s.batch; ++b) {
      const int64_t len = sl.get_as_int64(b);
      if (len < 0 || len > s.seq) {
        return ctx.error("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(len) +
                         " is outside [0, " + std::to_string(s.seq) + "]");
      }
      s.lens[static_cast<size_t>(b)] = len;
    }
  }
  const Shape state_shape = s.layout == 0 ? Shape{s.dirs, s.batch, s.hidden} : Shape{s.batch, s.dirs, s.hidden};
  TANDEM_RETURN_IF_ERROR(load_optional(ctx, 5, "initial_h", state_shape, dtype, &in.h0));
  if (cell == Cell::kLstm) {
    TANDEM_RETURN_IF_ERROR(load_optional(ctx, 6, "initial_c", state_shape, dtype, &in.c0));
    TANDEM_RETURN_IF_ERROR(load_optional(ctx, 7, "P", {s.dirs, 3 * s.hidden}, dtype, &in.p));
  }
  if (s.layout == 1) {
    if (in.h0.defined()) { TANDEM_ASSIGN_OR_RETURN(in.h0, swap01(in.h0)); }
    if (in.c0.defined()) { TANDEM_ASSIGN_OR_RETURN(in.c0, swap01(in.c0)); }
  }

  const DType compute = in.x.dtype();
  TANDEM_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(compute, {ctx.has_output(0) ? s.seq : 0, s.dirs, s.batch,
                                                               s.hidden}));
  TANDEM_ASSIGN_OR_RETURN(Tensor yh, Tensor::allocate(compute, {s.dirs, s.batch, s.hidden}));
  TANDEM_ASSIGN_OR_RETURN(Tensor yc, Tensor::allocate(compute, {s.dirs, s.batch, s.hidden}));
  TANDEM_RETURN_IF_ERROR(visit_float(compute, [&](auto tag) -> Status {
    using T = decltype(tag);
    run_recurrence<T>(s, in, ctx.has_output(0) ? y.data<T>() : nullptr, yh.data<T>(), yc.data<T>());
    return Status::ok();
  }));
  TANDEM_RETURN_IF_ERROR(emit(ctx, 0, y, s.layout, dtype));
  TANDEM_RETURN_IF_ERROR(emit(ctx, 1, yh, s.layout, dtype));
  if (cell == Cell::kLstm) TANDEM_RETURN_IF_ERROR(emit(ctx, 2, yc, s.layout, dtype));
  return Status::ok();
}

Status rnn(KernelContext& ctx) { return run_rnn_family(ctx, Cell::kRnn); }
Status gru(KernelContext& ctx) { return run_rnn_family(ctx, Cell::kGru); }
Status lstm(KernelContext& ctx) { return run_rnn_family(ctx, Cell::kLstm); }

}  // namespace

void register_recurrent_kernels() {
  register_kernel("", "RNN", rnn);
  register_kernel("", "GRU", gru);
  register_kernel("", "LSTM", lstm);
}

}  // namespace tandem::reference
