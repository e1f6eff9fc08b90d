// Reference kernels: signal processing (DFT, STFT, Hann/Hamming/Blackman
// windows, MelWeightMatrix). Transforms run in double: radix-2 FFT for
// power-of-two lengths, a direct sum over a twiddle table otherwise.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "backends/reference/kernels/common.h"
#include "backends/reference/kernels/quantization_util.h"

namespace tandem::reference {
namespace {

using quant::store_float;
using quant::store_number;

Result<std::vector<double>> double_values(const KernelContext& ctx, const Tensor& t) {
  const auto n = static_cast<size_t>(t.numel());
  std::vector<double> out(n);
  if (t.dtype() == DType::kFloat64) {
    std::copy(t.data<double>(), t.data<double>() + n, out.begin());
    return out;
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<float> f, quant::float_values(ctx, t));
  for (size_t i = 0; i < n; ++i) out[i] = f[i];
  return out;
}

// A scalar (or one-element) integer input.
Result<int64_t> scalar_int(const KernelContext& ctx, size_t input, const char* what) {
  const Tensor& t = ctx.input(input);
  if (!dtype_is_integer(t.dtype()) || t.numel() != 1) {
    return ctx.error(std::string(what) + " must be an integer scalar");
  }
  return t.get_as_int64(0);
}

Result<double> scalar_double(const KernelContext& ctx, size_t input, const char* what) {
  const Tensor& t = ctx.input(input);
  if (t.numel() != 1 || t.dtype() == DType::kString) return ctx.error(std::string(what) + " must be a numeric scalar");
  if (is_half(t.dtype())) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<float> f, quant::float_values(ctx, t));
    return static_cast<double>(f[0]);
  }
  return t.get_as_double(0);
}

Result<DType> output_datatype(const KernelContext& ctx) {
  const int64_t v = ctx.node().attr_int("output_datatype", 1);
  if (v > INT32_MAX || v < 0 || !dtype_is_valid(static_cast<int32_t>(v))) {
    return ctx.error("output_datatype " + std::to_string(v) + " is not a valid type");
  }
  const auto t = static_cast<DType>(v);
  if (t == DType::kString || t == DType::kBool || t == DType::kUndefined) {
    return ctx.error(std::string("output_datatype ") + dtype_name(t) + " is not numeric");
  }
  return t;
}

// Transforms complex lines of length `len` (zero padded or truncated input)
// into their first `out_len` bins: out[k] = sum_t in[t] * exp(-+2*pi*i*k*t/len),
// divided by len when inverse. Radix-2 FFT for powers of two, else a direct
// sum over a twiddle table.
class LineDft {
 public:
  LineDft(int64_t len, int64_t out_len, bool inverse) : len_(len), out_len_(out_len), inverse_(inverse) {
    cos_.resize(static_cast<size_t>(len));
    sin_.resize(static_cast<size_t>(len));
    for (int64_t j = 0; j < len; ++j) {
      const double a = 2.0 * std::numbers::pi * static_cast<double>(j) / static_cast<double>(len);
      cos_[static_cast<size_t>(j)] = std::cos(a);
      sin_[static_cast<size_t>(j)] = (inverse ? 1.0 : -1.0) * std::sin(a);
    }
    pow2_ = (len & (len - 1)) == 0;
    if (pow2_) {
      wr_.resize(static_cast<size_t>(len));
      wi_.resize(static_cast<size_t>(len));
    }
  }

  // re/im hold `avail` input samples; writes out_len bins.
  void run(const double* re, const double* im, int64_t avail, double* out_re, double* out_im) {
    const int64_t n = std::min(avail, len_);
    const double norm = inverse_ ? 1.0 / static_cast<double>(len_) : 1.0;
    if (pow2_) {
      fft(re, im, n);
      for (int64_t k = 0; k < out_len_; ++k) {
        out_re[k] = wr_[static_cast<size_t>(k)] * norm;
        out_im[k] = wi_[static_cast<size_t>(k)] * norm;
      }
      return;
    }
    for (int64_t k = 0; k < out_len_; ++k) {
      double sr = 0, si = 0;
      int64_t idx = 0;  // (k * t) mod len, advanced incrementally to avoid overflow
      for (int64_t t = 0; t < n; ++t) {
        const double c = cos_[static_cast<size_t>(idx)], s = sin_[static_cast<size_t>(idx)];
        sr += re[t] * c - im[t] * s;
        si += re[t] * s + im[t] * c;
        idx += k;
        if (idx >= len_) idx %= len_;
      }
      out_re[k] = sr * norm;
      out_im[k] = si * norm;
    }
  }

 private:
  // Iterative radix-2 FFT of the zero-padded input into wr_/wi_.
  void fft(const double* re, const double* im, int64_t n) {
    int bits = 0;
    while ((int64_t{1} << bits) < len_) ++bits;
    for (int64_t i = 0; i < len_; ++i) {
      int64_t r = 0;
      for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
      wr_[static_cast<size_t>(r)] = i < n ? re[i] : 0.0;
      wi_[static_cast<size_t>(r)] = i < n ? im[i] : 0.0;
    }
    for (int64_t size = 2; size <= len_; size *= 2) {
      const int64_t half = size / 2, step = len_ / size;
      for (int64_t i = 0; i < len_; i += size) {
        for (int64_t j = 0; j < half; ++j) {
          const double c = cos_[static_cast<size_t>(j * step)], s = sin_[static_cast<size_t>(j * step)];
          const auto a = static_cast<size_t>(i + j), b = static_cast<size_t>(i + j + half);
          const double tr = wr_[b] * c - wi_[b] * s, ti = wr_[b] * s + wi_[b] * c;
          wr_[b] = wr_[a] - tr;
          wi_[b] = wi_[a] - ti;
          wr_[a] += tr;
          wi_[a] += ti;
        }
      }
    }
  }

  int64_t len_, out_len_;
  bool inverse_, pow2_ = false;
  std::vector<double> cos_, sin_, wr_, wi_;
};

Status dft(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!dtype_is_float(x.dtype())) return ctx.error("input must be a float tensor");
  const auto rank = static_cast<int64_t>(x.rank());
  if (rank < 2) return ctx.error("input must have rank >= 2 ([batch, ..., 1 or 2])");
  const int64_t comps = x.dim(x.rank() - 1);
  if (comps != 1 && comps != 2) return ctx.error("last dimension must be 1 (real) or 2 (complex)");
  int64_t axis = ctx.node().attr_int("axis", ctx.opset() >= 20 ? -2 : 1);
  if (ctx.opset() >= 20 && ctx.has_input(2)) { TANDEM_ASSIGN_OR_RETURN(axis, scalar_int(ctx, 2, "axis")); }
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank - 1) return ctx.error("axis is out of range; the last dimension holds real/imaginary parts");
  const bool inverse = ctx.node().attr_int("inverse", 0) != 0;
  const bool onesided = ctx.node().attr_int("onesided", 0) != 0;
  if (inverse && onesided) return unsupported(ctx.node().describe() + ": onesided inverse DFT is not supported");
  const int64_t n = x.dim(static_cast<size_t>(axis));
  int64_t len = n;
  if (ctx.has_input(1)) {
    TANDEM_ASSIGN_OR_RETURN(len, scalar_int(ctx, 1, "dft_length"));
    if (len <= 0) return ctx.error("dft_length must be positive");
  }
  if (len == 0) return ctx.error("cannot transform an empty axis");
  const int64_t out_len = onesided ? len / 2 + 1 : len;
  Shape out_shape = x.shape();
  out_shape[static_cast<size_t>(axis)] = out_len;
  out_shape.back() = 2;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(static_cast<size_t>(d));
  for (int64_t d = axis + 1; d < rank - 1; ++d) inner *= x.dim(static_cast<size_t>(d));
  if (len > (int64_t{1} << 24)) return ctx.error("dft_length is too large");
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> xs, double_values(ctx, x));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), out_shape));
  LineDft line(len, out_len, inverse);
  std::vector<double> re(static_cast<size_t>(n)), im(static_cast<size_t>(n)), ore(static_cast<size_t>(out_len)),
      oim(static_cast<size_t>(out_len));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      for (int64_t t = 0; t < n; ++t) {
        const size_t src = static_cast<size_t>(((o * n + t) * inner + i) * comps);
        re[static_cast<size_t>(t)] = xs[src];
        im[static_cast<size_t>(t)] = comps == 2 ? xs[src + 1] : 0.0;
      }
      line.run(re.data(), im.data(), n, ore.data(), oim.data());
      for (int64_t k = 0; k < out_len; ++k) {
        const int64_t dst = ((o * out_len + k) * inner + i) * 2;
        store_float(y, dst, ore[static_cast<size_t>(k)]);
        store_float(y, dst + 1, oim[static_cast<size_t>(k)]);
      }
    }
  }
  return Status::ok();
}

Status stft(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!dtype_is_float(x.dtype())) return ctx.error("signal must be a float tensor");
  if (x.rank() != 3 || (x.dim(2) != 1 && x.dim(2) != 2)) {
    return ctx.error("signal must have shape [batch, length, 1 or 2], got " + shape_to_string(x.shape()));
  }
  TANDEM_ASSIGN_OR_RETURN(int64_t step, scalar_int(ctx, 1, "frame_step"));
  if (step <= 0) return ctx.error("frame_step must be positive");
  std::vector<double> window;
  if (ctx.has_input(2)) {
    if (ctx.input(2).rank() != 1) return ctx.error("window must be 1-D");
    TANDEM_ASSIGN_OR_RETURN(window, double_values(ctx, ctx.input(2)));
  }
  int64_t frame_length = static_cast<int64_t>(window.size());
  if (ctx.has_input(3)) {
    TANDEM_ASSIGN_OR_RETURN(frame_length, scalar_int(ctx, 3, "frame_length"));
    if (!window.empty() && frame_length != static_cast<int64_t>(window.size())) {
      return ctx.error("frame_length " + std::to_string(frame_length) + " differs from the window length " +
                       std::to_string(window.size()));
    }
  } else if (!ctx.has_input(2)) {
    return ctx.error("either window or frame_length must be given");
  }
  const int64_t length = x.dim(1), comps = x.dim(2), batch = x.dim(0);
  if (frame_length <= 0 || frame_length > length) {
    return ctx.error("frame_length " + std::to_string(frame_length) + " must be in [1, signal length " +
                     std::to_string(length) + "]");
  }
  const bool onesided = ctx.node().attr_int("onesided", 1) != 0;
  const int64_t frames = (length - frame_length) / step + 1;
  const int64_t bins = onesided ? frame_length / 2 + 1 : frame_length;
  TANDEM_ASSIGN_OR_RETURN(std::vector<double> xs, double_values(ctx, x));
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), {batch, frames, bins, 2}));
  LineDft line(frame_length, bins, false);
  const auto fl = static_cast<size_t>(frame_length);
  std::vector<double> re(fl), im(fl), ore(static_cast<size_t>(bins)), oim(static_cast<size_t>(bins));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t f = 0; f < frames; ++f) {
      for (size_t t = 0; t < fl; ++t) {
        const size_t src = static_cast<size_t>((b * length + f * step + static_cast<int64_t>(t)) * comps);
        const double w = window.empty() ? 1.0 : window[t];
        re[t] = xs[src] * w;
        im[t] = comps == 2 ? xs[src + 1] * w : 0.0;
      }
      line.run(re.data(), im.data(), frame_length, ore.data(), oim.data());
      for (int64_t k = 0; k < bins; ++k) {
        const int64_t dst = ((b * frames + f) * bins + k) * 2;
        store_float(y, dst, ore[static_cast<size_t>(k)]);
        store_float(y, dst + 1, oim[static_cast<size_t>(k)]);
      }
    }
  }
  return Status::ok();
}

// Generalised cosine window: a0 - a1 cos(2 pi n / D) + a2 cos(4 pi n / D).
Status cosine_window(KernelContext& ctx, double a0, double a1, double a2) {
  TANDEM_ASSIGN_OR_RETURN(int64_t size, scalar_int(ctx, 0, "size"));
  if (size < 0) return ctx.error("window size must be non-negative");
  TANDEM_ASSIGN_OR_RETURN(DType dt, output_datatype(ctx));
  const bool periodic = ctx.node().attr_int("periodic", 1) != 0;
  const double denom = static_cast<double>(periodic ? size : size - 1);
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dt, {size}));
  for (int64_t i = 0; i < size; ++i) {
    const double a = denom > 0 ? 2.0 * std::numbers::pi * static_cast<double>(i) / denom : 0.0;
    store_number(y, i, a0 - a1 * std::cos(a) + a2 * std::cos(2.0 * a));
  }
  return Status::ok();
}

Status hann_window(KernelContext& ctx) { return cosine_window(ctx, 0.5, 0.5, 0.0); }
Status hamming_window(KernelContext& ctx) { return cosine_window(ctx, 25.0 / 46.0, 21.0 / 46.0, 0.0); }
Status blackman_window(KernelContext& ctx) { return cosine_window(ctx, 0.42, 0.5, 0.08); }

Status mel_weight_matrix(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t num_mel_bins, scalar_int(ctx, 0, "num_mel_bins"));
  TANDEM_ASSIGN_OR_RETURN(int64_t dft_length, scalar_int(ctx, 1, "dft_length"));
  TANDEM_ASSIGN_OR_RETURN(int64_t sample_rate, scalar_int(ctx, 2, "sample_rate"));
  TANDEM_ASSIGN_OR_RETURN(double lower, scalar_double(ctx, 3, "lower_edge_hertz"));
  TANDEM_ASSIGN_OR_RETURN(double upper, scalar_double(ctx, 4, "upper_edge_hertz"));
  TANDEM_ASSIGN_OR_RETURN(DType dt, output_datatype(ctx));
  if (num_mel_bins <= 0 || dft_length <= 0 || sample_rate <= 0) {
    return ctx.error("num_mel_bins, dft_length and sample_rate must be positive");
  }
  if (!(lower >= 0 && lower <= upper)) return ctx.error("need 0 <= lower_edge_hertz <= upper_edge_hertz");
  if (num_mel_bins > (int64_t{1} << 20) || dft_length > (int64_t{1} << 24)) return ctx.error("sizes are too large");
  const int64_t spec_bins = dft_length / 2 + 1;
  // Mel edges in float32 like the reference; bin positions in double.
  const float low_mel = 2595.0f * std::log10(1.0f + static_cast<float>(lower) / 700.0f);
  const float high_mel = 2595.0f * std::log10(1.0f + static_cast<float>(upper) / 700.0f);
  const float mel_step = (high_mel - low_mel) / static_cast<float>(num_mel_bins + 2);
  std::vector<int64_t> bins(static_cast<size_t>(num_mel_bins + 2));
  for (int64_t i = 0; i < num_mel_bins + 2; ++i) {
    const double mel = static_cast<double>(i) * static_cast<double>(mel_step) + static_cast<double>(low_mel);
    const double hz = 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
    bins[static_cast<size_t>(i)] =
        static_cast<int64_t>(std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(sample_rate)));
  }
  TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, dt, {spec_bins, num_mel_bins}));
  std::vector<double> w(static_cast<size_t>(spec_bins * num_mel_bins), 0.0);
  auto set = [&](int64_t j, int64_t i, double v) {
    if (j >= 0 && j < spec_bins) w[static_cast<size_t>(j * num_mel_bins + i)] = v;
  };
  for (int64_t i = 0; i < num_mel_bins; ++i) {
    const int64_t lo = bins[static_cast<size_t>(i)], center = bins[static_cast<size_t>(i + 1)],
                  hi = bins[static_cast<size_t>(i + 2)];
    if (center == lo) {
      set(center, i, 1.0);
    } else {
      for (int64_t j = lo; j <= center; ++j) set(j, i, static_cast<double>(j - lo) / static_cast<double>(center - lo));
    }
    for (int64_t j = center; j < hi; ++j) set(j, i, static_cast<double>(hi - j) / static_cast<double>(hi - center));
  }
  for (size_t k = 0; k < w.size(); ++k) store_number(y, static_cast<int64_t>(k), w[k]);
  return Status::ok();
}

}  // namespace

void register_misc_signal_kernels() {
  register_kernel("", "DFT", dft);
  register_kernel("", "STFT", stft);
  register_kernel("", "HannWindow", hann_window);
  register_kernel("", "HammingWindow", hamming_window);
  register_kernel("", "BlackmanWindow", blackman_window);
  register_kernel("", "MelWeightMatrix", mel_weight_matrix);
}

}  // namespace tandem::reference
