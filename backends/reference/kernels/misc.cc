// Reference kernels: misc family -- NonMaxSuppression, TfIdfVectorizer,
// StringNormalizer, random generators, and the ai.onnx.preview.training
// optimizers. Signal-processing ops live in misc_signal.cc.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/reference/kernels/common.h"
#include "backends/reference/kernels/quantization_util.h"

namespace tandem::reference {

void register_misc_signal_kernels();  // misc_signal.cc

namespace {

using quant::float_values;
using quant::store_number;

// ---- NonMaxSuppression ----------------------------------------------------

struct Box {
  float y1, x1, y2, x2;
};

bool suppressed_by_iou(const Box& a, const Box& b, float threshold) {
  const float iy1 = std::max(a.y1, b.y1), ix1 = std::max(a.x1, b.x1);
  const float iy2 = std::min(a.y2, b.y2), ix2 = std::min(a.x2, b.x2);
  if (iy2 <= iy1 || ix2 <= ix1) return false;
  const float area_a = (a.y2 - a.y1) * (a.x2 - a.x1), area_b = (b.y2 - b.y1) * (b.x2 - b.x1);
  if (area_a <= 0 || area_b <= 0) return false;
  const float inter = (iy2 - iy1) * (ix2 - ix1);
  return inter / (area_a + area_b - inter) > threshold;
}

Status non_max_suppression(KernelContext& ctx) {
  const Tensor& boxes = ctx.input(0);
  const Tensor& scores = ctx.input(1);
  if (boxes.rank() != 3 || boxes.dim(2) != 4) return ctx.error("boxes must have shape [batch, boxes, 4]");
  if (scores.rank() != 3 || scores.dim(0) != boxes.dim(0) || scores.dim(2) != boxes.dim(1)) {
    return ctx.error("scores must have shape [batch, classes, boxes] matching boxes " +
                     shape_to_string(boxes.shape()) + ", got " + shape_to_string(scores.shape()));
  }
  int64_t max_out = 0;
  if (ctx.has_input(2)) {
    const Tensor& t = ctx.input(2);
    if (!dtype_is_integer(t.dtype()) || t.numel() != 1) return ctx.error("max_output_boxes_per_class must be one integer");
    max_out = std::max<int64_t>(0, t.get_as_int64(0));
  }
  float iou_threshold = 0;
  if (ctx.has_input(3)) {
    if (ctx.input(3).numel() != 1) return ctx.error("iou_threshold must be a scalar");
    TANDEM_ASSIGN_OR_RETURN(std::vector<float> v, float_values(ctx, ctx.input(3)));
    iou_threshold = v[0];
    if (!(iou_threshold >= 0 && iou_threshold <= 1)) return ctx.error("iou_threshold must be in [0, 1]");
  }
  bool has_score_threshold = false;
  float score_threshold = 0;
  if (ctx.has_input(4)) {
    if (ctx.input(4).numel() != 1) return ctx.error("score_threshold must be a scalar");
    TANDEM_ASSIGN_OR_RETURN(std::vector<float> v, float_values(ctx, ctx.input(4)));
    has_score_threshold = true;
    score_threshold = v[0];
  }
  const int64_t center = ctx.node().attr_int("center_point_box", 0);
  if (center != 0 && center != 1) return ctx.error("center_point_box must be 0 or 1");
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> bv, float_values(ctx, boxes));
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> sv, float_values(ctx, scores));
  const int64_t nb = boxes.dim(0), nbox = boxes.dim(1), ncls = scores.dim(1);
  // Corner form with min/max ordered coordinates (inputs may be flipped).
  std::vector<Box> corners(static_cast<size_t>(nb * nbox));
  for (size_t i = 0; i < corners.size(); ++i) {
    const float* p = bv.data() + i * 4;
    Box b;
    if (center) {
      b = {p[1] - p[3] / 2, p[0] - p[2] / 2, p[1] + p[3] / 2, p[0] + p[2] / 2};
    } else {
      b = {std::min(p[0], p[2]), std::min(p[1], p[3]), std::max(p[0], p[2]), std::max(p[1], p[3])};
    }
    corners[i] = b;
  }
  std::vector<int64_t> selected;  // triples
  std::vector<int64_t> order;
  std::vector<int64_t> kept;
  for (int64_t b = 0; b < nb && max_out > 0; ++b) {
    const Box* bx = corners.data() + b * nbox;
    for (int64_t c = 0; c < ncls; ++c) {
      const float* sc = sv.data() + (b * ncls + c) * nbox;
      order.clear();
      for (int64_t i = 0; i < nbox; ++i) {
        if (!has_score_threshold || sc[i] > score_threshold) order.push_back(i);
      }
      // Highest score first; equal scores keep the lower box index first.
      std::stable_sort(order.begin(), order.end(), [&](int64_t l, int64_t r) { return sc[l] > sc[r]; });
      kept.clear();
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        bool keep = true;
        for (int64_t k : kept) {
          if (suppressed_by_iou(bx[i], bx[k], iou_threshold)) { keep = false; break; }
        }
        if (!keep) continue;
        kept.push_back(i);
        selected.insert(selected.end(), {b, c, i});
      }
    }
  }
  const auto count = static_cast<int64_t>(selected.size() / 3);
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kInt64, {count, 3}));
  std::copy(selected.begin(), selected.end(), y.data<int64_t>());
  return Status::ok();
}

// ---- TfIdfVectorizer ------------------------------------------------------

// Trie over pool n-grams; node.id is the n-gram's index in the pool (or -1).
struct TrieNode {
  std::unordered_map<int64_t, int32_t> next;
  int32_t id = -1;
};

Status tfidf_vectorizer(KernelContext& ctx) {
  const graph::Node& node = ctx.node();
  const Tensor& x = ctx.input(0);
  const std::string mode = node.attr_string("mode", "TF");
  const int64_t min_n = node.attr_int("min_gram_length", 1), max_n = node.attr_int("max_gram_length", 1);
  const int64_t max_skip = node.attr_int("max_skip_count", 0);
  const std::vector<int64_t> counts = node.attr_ints("ngram_counts");
  const std::vector<int64_t> indexes = node.attr_ints("ngram_indexes");
  const std::vector<int64_t> pool_ints = node.attr_ints("pool_int64s");
  const std::vector<std::string> pool_strs = node.attr_strings("pool_strings");
  const std::vector<float> weights = node.attr_floats("weights");
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF") return ctx.error("mode must be TF, IDF or TFIDF");
  if (min_n < 1 || max_n < min_n || max_skip < 0) {
    return ctx.error("need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0");
  }
  const bool strings = !pool_strs.empty();
  if (strings == !pool_ints.empty() && !(pool_strs.empty() && pool_ints.empty())) {
    return ctx.error("exactly one of pool_strings and pool_int64s must be set");
  }
  if (strings != (x.dtype() == DType::kString)) return ctx.error("input dtype must match the pool (strings or integers)");
  if (!strings && x.dtype() != DType::kInt32 && x.dtype() != DType::kInt64) {
    return ctx.error("input must be int32, int64 or string");
  }
  if (x.rank() != 1 && x.rank() != 2) return ctx.error("input must be [C] or [N, C]");
  if (indexes.empty()) return ctx.error("ngram_indexes must not be empty");
  if (!weights.empty() && weights.size() != indexes.size()) return ctx.error("weights must have one value per n-gram");

  // Tokens as int64 keys; strings get dense ids (unknown input strings -> -1, never in the trie).
  std::unordered_map<std::string, int64_t> str_ids;
  const int64_t pool_size = strings ? static_cast<int64_t>(pool_strs.size()) : static_cast<int64_t>(pool_ints.size());
  auto pool_key = [&](int64_t i) -> int64_t {
    if (!strings) return pool_ints[static_cast<size_t>(i)];
    return str_ids.emplace(pool_strs[static_cast<size_t>(i)], static_cast<int64_t>(str_ids.size())).first->second;
  };
  std::vector<TrieNode> trie(1);
  int32_t ngram_id = 0;
  for (size_t li = 0; li < counts.size(); ++li) {
    const auto len = static_cast<int64_t>(li + 1);
    const int64_t begin = counts[li], end = li + 1 < counts.size() ? counts[li + 1] : pool_size;
    if (begin < 0 || begin > end || end > pool_size || (end - begin) % len != 0) {
      return ctx.error("ngram_counts do not partition the pool into n-grams");
    }
    for (int64_t s = begin; s < end; s += len) {
      int32_t cur = 0;
      for (int64_t k = 0; k < len; ++k) {
        const int64_t key = pool_key(s + k);
        auto it = trie[static_cast<size_t>(cur)].next.find(key);
        if (it == trie[static_cast<size_t>(cur)].next.end()) {
          trie.emplace_back();
          const auto nid = static_cast<int32_t>(trie.size() - 1);
          trie[static_cast<size_t>(cur)].next.emplace(key, nid);
          cur = nid;
        } else {
          cur = it->second;
        }
      }
      trie[static_cast<size_t>(cur)].id = ngram_id++;
    }
  }
  if (static_cast<size_t>(ngram_id) != indexes.size()) {
    return ctx.error("ngram_indexes has " + std::to_string(indexes.size()) + " entries but the pool holds " +
                     std::to_string(ngram_id) + " n-grams");
  }
  int64_t out_size = 0;
  for (int64_t v : indexes) {
    if (v < 0) return ctx.error("ngram_indexes must be non-negative");
    out_size = std::max(out_size, v + 1);
  }
  if (out_size > (int64_t{1} << 28)) return ctx.error("ngram_indexes are too large");

  const int64_t rows = x.rank() == 2 ? x.dim(0) : 1;
  const int64_t cols = x.dim(x.rank() - 1);
  std::vector<int64_t> tokens(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (strings) {
      auto it = str_ids.find(x.strings()[i]);
      tokens[i] = it == str_ids.end() ? -1 : it->second;
    } else {
      tokens[i] = x.get_as_int64(static_cast<int64_t>(i));
    }
  }
  Shape out_shape = x.rank() == 2 ? Shape{rows, out_size} : Shape{out_size};
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kFloat32, out_shape));
  float* yd = y.data<float>();
  std::fill(yd, yd + rows * out_size, 0.0f);
  std::vector<int64_t> freq(indexes.size());
  for (int64_t r = 0; r < rows; ++r) {
    std::fill(freq.begin(), freq.end(), 0);
    const int64_t* row = tokens.data() + r * cols;
    int64_t start_n = min_n;
    for (int64_t skip = 1; skip <= max_skip + 1; ++skip) {
      for (int64_t s = 0; s < cols; ++s) {
        if (s + skip * (start_n - 1) >= cols) break;
        int32_t cur = 0;
        int64_t item = s;
        for (int64_t n = 1; n <= max_n && item < cols; ++n, item += skip) {
          const auto& next = trie[static_cast<size_t>(cur)].next;
          auto it = next.find(row[item]);
          if (it == next.end()) break;
          cur = it->second;
          const int32_t id = trie[static_cast<size_t>(cur)].id;
          if (n >= start_n && id >= 0) ++freq[static_cast<size_t>(id)];
        }
      }
      // Unigrams do not depend on the skip distance: count them only once.
      if (start_n == 1 && ++start_n > max_n) break;
    }
    float* out = yd + r * out_size;
    for (size_t i = 0; i < freq.size(); ++i) {
      if (freq[i] == 0) continue;
      const float w = weights.empty() ? 1.0f : weights[i];
      float v = static_cast<float>(freq[i]);
      if (mode == "IDF") v = w;
      else if (mode == "TFIDF") v *= w;
      out[indexes[i]] += v;
    }
  }
  return Status::ok();
}

// ---- StringNormalizer -----------------------------------------------------

std::string change_case(std::string s, bool upper) {
  for (char& c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) c = static_cast<char>(upper ? std::toupper(u) : std::tolower(u));
  }
  return s;
}

Status string_normalizer(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kString) return ctx.error("input must be a string tensor");
  if (!(x.rank() == 1 || (x.rank() == 2 && x.dim(0) == 1))) {
    return ctx.error("input must have shape [C] or [1, C], got " + shape_to_string(x.shape()));
  }
  const graph::Node& node = ctx.node();
  const std::string action = node.attr_string("case_change_action", "NONE");
  if (action != "NONE" && action != "LOWER" && action != "UPPER") {
    return ctx.error("case_change_action must be NONE, LOWER or UPPER");
  }
  const bool case_sensitive = node.attr_int("is_case_sensitive", 0) != 0;
  std::vector<std::string> stop = node.attr_strings("stopwords");
  if (!case_sensitive) {
    for (std::string& s : stop) s = change_case(s, false);
  }
  std::vector<std::string> kept;
  for (const std::string& s : x.strings()) {
    const std::string key = case_sensitive ? s : change_case(s, false);
    if (std::find(stop.begin(), stop.end(), key) != stop.end()) continue;
    kept.push_back(action == "NONE" ? s : change_case(s, action == "UPPER"));
  }
  if (kept.empty()) kept.emplace_back();  // all dropped: a single empty string
  const auto c = static_cast<int64_t>(kept.size());
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, DType::kString, x.rank() == 2 ? Shape{1, c} : Shape{c}));
  for (size_t i = 0; i < kept.size(); ++i) y.strings()[i] = std::move(kept[i]);
  return Status::ok();
}

// ---- random generators ----------------------------------------------------

// Seeded from the `seed` attribute when given, else from the clock and a counter.
std::mt19937_64 make_engine(const graph::Node& node) {
  if (const graph::Attribute* a = node.attr("seed")) {
    return std::mt19937_64(static_cast<uint64_t>(static_cast<int64_t>(a->f)));
  }
  static std::atomic<uint64_t> counter{0};
  const auto now = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return std::mt19937_64(now ^ (0x9e3779b97f4a7c15ULL * ++counter));
}

Result<DType> random_dtype(const KernelContext& ctx, DType fallback) {
  const int64_t v = ctx.node().attr_int("dtype", static_cast<int64_t>(fallback));
  if (v < 0 || v > INT32_MAX || !dtype_is_valid(static_cast<int32_t>(v))) {
    return ctx.error("dtype " + std::to_string(v) + " is not a valid type");
  }
  const auto t = static_cast<DType>(v);
  if (t == DType::kString || t == DType::kUndefined) return ctx.error("dtype must be numeric");
  return t;
}

template <typename Dist>
Status fill_random(KernelContext& ctx, DType dt, const Shape& shape, Dist dist) {
  for (int64_t d : shape) {
    if (d < 0) return ctx.error("shape must not have negative dimensions");
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dt, shape));
  std::mt19937_64 eng = make_engine(ctx.node());
  const int64_t n = y.numel();
  for (int64_t i = 0; i < n; ++i) store_number(y, i, dist(eng));
  return Status::ok();
}

Status random_uniform_impl(KernelContext& ctx, DType dt, const Shape& shape) {
  const double lo = ctx.node().attr_float("low", 0.0f), hi = ctx.node().attr_float("high", 1.0f);
  if (!(lo <= hi)) return ctx.error("low must not exceed high");
  if (!dtype_is_float(dt)) return ctx.error("dtype must be a float type");
  return fill_random(ctx, dt, shape, std::uniform_real_distribution<double>(lo, hi));
}

Status random_normal_impl(KernelContext& ctx, DType dt, const Shape& shape) {
  const double mean = ctx.node().attr_float("mean", 0.0f), scale = ctx.node().attr_float("scale", 1.0f);
  if (!(scale >= 0)) return ctx.error("scale must be non-negative");
  if (!dtype_is_float(dt)) return ctx.error("dtype must be a float type");
  return fill_random(ctx, dt, shape, std::normal_distribution<double>(mean, scale));
}

Status random_uniform(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(DType dt, random_dtype(ctx, DType::kFloat32));
  return random_uniform_impl(ctx, dt, ctx.node().attr_ints("shape"));
}
Status random_normal(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(DType dt, random_dtype(ctx, DType::kFloat32));
  return random_normal_impl(ctx, dt, ctx.node().attr_ints("shape"));
}
Status random_uniform_like(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(DType dt, random_dtype(ctx, ctx.input(0).dtype()));
  return random_uniform_impl(ctx, dt, ctx.input(0).shape());
}
Status random_normal_like(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(DType dt, random_dtype(ctx, ctx.input(0).dtype()));
  return random_normal_impl(ctx, dt, ctx.input(0).shape());
}

Status bernoulli(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!dtype_is_float(x.dtype())) return ctx.error("input probabilities must be float");
  TANDEM_ASSIGN_OR_RETURN(DType dt, random_dtype(ctx, x.dtype()));
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> p, float_values(ctx, x));
  for (float v : p) {
    if (!(v >= 0 && v <= 1)) return ctx.error("probabilities must be in [0, 1]");
  }
  size_t i = 0;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  return fill_random(ctx, dt, x.shape(), [&](std::mt19937_64& eng) { return u(eng) < p[i++] ? 1.0 : 0.0; });
}

Status multinomial(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!dtype_is_float(x.dtype()) || x.rank() != 2) return ctx.error("input must be float [batch, classes] log-probabilities");
  const int64_t samples = ctx.node().attr_int("sample_size", 1);
  if (samples < 0) return ctx.error("sample_size must be non-negative");
  TANDEM_ASSIGN_OR_RETURN(DType dt, random_dtype(ctx, DType::kInt32));
  if (dt != DType::kInt32 && dt != DType::kInt64) return ctx.error("dtype must be int32 or int64");
  const int64_t batch = x.dim(0), classes = x.dim(1);
  if (classes == 0 && samples > 0) return ctx.error("cannot sample from zero classes");
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> lp, float_values(ctx, x));
  std::vector<std::vector<double>> cdf(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    if (classes == 0) break;
    const float* row = lp.data() + b * classes;
    const float mx = *std::max_element(row, row + classes);
    double acc = 0;
    for (int64_t c = 0; c < classes; ++c) {
      acc += std::exp(static_cast<double>(row[c]) - mx);
      cdf[static_cast<size_t>(b)].push_back(acc);
    }
  }
  int64_t i = 0;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  return fill_random(ctx, dt, {batch, samples}, [&](std::mt19937_64& eng) {
    const std::vector<double>& c = cdf[static_cast<size_t>(i++ / std::max<int64_t>(samples, 1))];
    const double r = u(eng) * c.back();
    const auto pos = std::upper_bound(c.begin(), c.end(), r) - c.begin();
    return static_cast<double>(std::min<int64_t>(pos, classes - 1));
  });
}

// ---- ai.onnx.preview.training optimizers ----------------------------------

struct Optim {
  double r = 0;
  int64_t t = 0;
  size_t n = 0;  // number of optimized tensors
};

// Reads R and T and checks that inputs 2.. form `groups` lists of n same-shape float tensors.
Result<Optim> optim_inputs(const KernelContext& ctx, size_t groups) {
  if (ctx.num_inputs() < 2 + groups || (ctx.num_inputs() - 2) % groups != 0) {
    return ctx.error("expected R, T and " + std::to_string(groups) + " equally long lists of tensors");
  }
  Optim o;
  o.n = (ctx.num_inputs() - 2) / groups;
  if (ctx.num_outputs() > o.n * (groups - 1)) return ctx.error("too many outputs");
  if (ctx.input(0).numel() != 1 || ctx.input(1).numel() != 1) return ctx.error("R and T must be scalars");
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> r, float_values(ctx, ctx.input(0)));
  o.r = r[0];
  if (!dtype_is_integer(ctx.input(1).dtype())) return ctx.error("T must be an integer");
  o.t = ctx.input(1).get_as_int64(0);
  for (size_t g = 0; g < groups; ++g) {
    for (size_t i = 0; i < o.n; ++i) {
      const Tensor& t = ctx.input(2 + g * o.n + i);
      const Tensor& x = ctx.input(2 + i);
      if (t.dtype() != DType::kFloat32 && t.dtype() != DType::kFloat64) return ctx.error("tensors must be float or double");
      if (t.shape() != x.shape()) return ctx.error("every tensor of an optimized variable must have the shape of X");
    }
  }
  return o;
}

// Reads element-wise inputs of variable i as doubles, calls fn(k, in..., out...) per element.
Status optim_apply(KernelContext& ctx, const Optim& o, size_t groups,
                   const std::function<void(const double* in, double* out)>& fn) {
  const size_t n_out = groups - 1;  // outputs: X_new plus every state except G
  for (size_t i = 0; i < o.n; ++i) {
    const Tensor& x = ctx.input(2 + i);
    std::vector<const Tensor*> ins(groups);
    for (size_t g = 0; g < groups; ++g) ins[g] = &ctx.input(2 + g * o.n + i);
    std::vector<Tensor> outs(n_out);
    for (size_t k = 0; k < n_out; ++k) {
      // Output k: X_new (k = 0) or the state matching input group k + 1.
      const DType dt = ins[k == 0 ? 0 : k + 1]->dtype();
      TANDEM_ASSIGN_OR_RETURN(outs[k], ctx.allocate_output(k * o.n + i, dt, x.shape()));
    }
    std::vector<double> in(groups), out(n_out);
    const int64_t numel = x.numel();
    for (int64_t e = 0; e < numel; ++e) {
      for (size_t g = 0; g < groups; ++g) in[g] = ins[g]->get_as_double(e);
      fn(in.data(), out.data());
      for (size_t k = 0; k < n_out; ++k) store_number(outs[k], e, out[k]);
    }
  }
  return Status::ok();
}

Status adagrad(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(Optim o, optim_inputs(ctx, 3));  // X, G, H
  const graph::Node& node = ctx.node();
  const double norm = node.attr_float("norm_coefficient", 0.0f), eps = node.attr_float("epsilon", 1e-6f);
  const double decay = node.attr_float("decay_factor", 0.0f);
  const double r = o.r / (1.0 + static_cast<double>(o.t) * decay);
  return optim_apply(ctx, o, 3, [&](const double* in, double* out) {
    const double g = norm * in[0] + in[1];
    const double h = in[2] + g * g;
    out[0] = in[0] - r * g / (std::sqrt(h) + eps);
    out[1] = h;
  });
}

Status adam(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(Optim o, optim_inputs(ctx, 4));  // X, G, V, H
  const graph::Node& node = ctx.node();
  const double norm = node.attr_float("norm_coefficient", 0.0f);
  const double norm_post = node.attr_float("norm_coefficient_post", 0.0f);
  const double alpha = node.attr_float("alpha", 0.9f), beta = node.attr_float("beta", 0.999f);
  const double eps = node.attr_float("epsilon", 1e-6f);
  const double t = static_cast<double>(o.t);
  const double r = o.t > 0 ? o.r * std::sqrt(1.0 - std::pow(beta, t)) / (1.0 - std::pow(alpha, t)) : o.r;
  return optim_apply(ctx, o, 4, [&](const double* in, double* out) {
    const double g = norm * in[0] + in[1];
    const double v = alpha * in[2] + (1.0 - alpha) * g;
    const double h = beta * in[3] + (1.0 - beta) * g * g;
    out[0] = (1.0 - norm_post) * (in[0] - r * v / (std::sqrt(h) + eps));
    out[1] = v;
    out[2] = h;
  });
}

Status momentum(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(Optim o, optim_inputs(ctx, 3));  // X, G, V
  const graph::Node& node = ctx.node();
  if (!node.attr("alpha") || !node.attr("beta") || !node.attr("norm_coefficient") || !node.attr("mode")) {
    return ctx.error("alpha, beta, norm_coefficient and mode are required");
  }
  const double norm = node.attr_float("norm_coefficient", 0.0f);
  const double alpha = node.attr_float("alpha", 0.0f), beta = node.attr_float("beta", 0.0f);
  const std::string mode = node.attr_string("mode", "");
  if (mode != "standard" && mode != "nesterov") return ctx.error("mode must be 'standard' or 'nesterov'");
  const bool nesterov = mode == "nesterov";
  const double beta_adj = o.t > 0 ? beta : 1.0;
  return optim_apply(ctx, o, 3, [&](const double* in, double* out) {
    const double g = norm * in[0] + in[1];
    const double v = alpha * in[2] + beta_adj * g;
    out[0] = in[0] - o.r * (nesterov ? g + alpha * v : v);
    out[1] = v;
  });
}

}  // namespace

void register_misc_kernels() {
  register_kernel("", "NonMaxSuppression", non_max_suppression);
  register_kernel("", "TfIdfVectorizer", tfidf_vectorizer);
  register_kernel("", "StringNormalizer", string_normalizer);
  register_kernel("", "RandomUniform", random_uniform);
  register_kernel("", "RandomNormal", random_normal);
  register_kernel("", "RandomUniformLike", random_uniform_like);
  register_kernel("", "RandomNormalLike", random_normal_like);
  register_kernel("", "Bernoulli", bernoulli);
  register_kernel("", "Multinomial", multinomial);
  register_kernel("ai.onnx.preview.training", "Adagrad", adagrad);
  register_kernel("ai.onnx.preview.training", "Adam", adam);
  register_kernel("ai.onnx.preview.training", "Momentum", momentum);
  register_misc_signal_kernels();
}

}  // namespace tandem::reference
