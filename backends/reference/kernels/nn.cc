// Reference kernels: nn family. The kernels live in nn_conv.cc (Conv,
// ConvTranspose, Col2Im), nn_pool.cc (pools, MaxUnpool), nn_norm.cc
// (normalizations, LRN), nn_resize.cc (Resize, Upsample) and nn_sample.cc
// (GridSample, RoiAlign); this file holds their shared helpers, Dropout and
// the family's registration.
#include <random>

#include "backends/reference/kernels/math_gemm.h"
#include "backends/reference/kernels/nn_common.h"

namespace tandem::reference {
namespace nn {

namespace {

std::string ints_to_string(const std::vector<int64_t>& v) { return shape_to_string(v); }

}  // namespace

Result<Window> make_window(const KernelContext& ctx, const std::vector<int64_t>& in,
                           const std::vector<int64_t>& kernel, bool allow_ceil) {
  const graph::Node& node = ctx.node();
  const size_t r = in.size();
  Window w;
  w.in = in;
  w.kernel = kernel;
  if (kernel.size() != r) {
    return ctx.error("kernel has " + std::to_string(kernel.size()) + " dims but the input has " + std::to_string(r) +
                     " spatial dims");
  }
  w.stride = node.attr_ints("strides", std::vector<int64_t>(r, 1));
  w.dilation = node.attr_ints("dilations", std::vector<int64_t>(r, 1));
  std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * r, 0));
  if (w.stride.size() != r) return ctx.error("strides " + ints_to_string(w.stride) + " must have " + std::to_string(r) + " values");
  if (w.dilation.size() != r) {
    return ctx.error("dilations " + ints_to_string(w.dilation) + " must have " + std::to_string(r) + " values");
  }
  if (pads.size() != 2 * r) return ctx.error("pads " + ints_to_string(pads) + " must have " + std::to_string(2 * r) + " values");
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  const bool ceil_mode = allow_ceil && node.attr_int("ceil_mode", 0) != 0;
  w.pad_begin.resize(r);
  w.pad_end.resize(r);
  w.out.resize(r);
  for (size_t d = 0; d < r; ++d) {
    if (w.kernel[d] <= 0) return ctx.error("kernel sizes must be positive, got " + ints_to_string(w.kernel));
    if (w.stride[d] <= 0) return ctx.error("strides must be positive, got " + ints_to_string(w.stride));
    if (w.dilation[d] <= 0) return ctx.error("dilations must be positive, got " + ints_to_string(w.dilation));
    if (in[d] < 0) return ctx.error("negative input size");
    const int64_t ek = w.effective_kernel(d);
    const int64_t s = w.stride[d];
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      w.out[d] = (in[d] + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (w.out[d] - 1) * s + ek - in[d]);
      w.pad_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pad_end[d] = total - w.pad_begin[d];
      continue;
    }
    if (auto_pad == "VALID") {
      w.pad_begin[d] = w.pad_end[d] = 0;
    } else if (auto_pad == "NOTSET" || auto_pad.empty()) {
      w.pad_begin[d] = pads[d];
      w.pad_end[d] = pads[d + r];
      if (pads[d] < 0 || pads[d + r] < 0) return ctx.error("pads must be non-negative, got " + ints_to_string(pads));
    } else {
      return ctx.error("unknown auto_pad '" + auto_pad + "'");
    }
    const int64_t span = in[d] + w.pad_begin[d] + w.pad_end[d] - ek;
    if (span < 0) {
      return ctx.error("the window (effective size " + std::to_string(ek) + ") is larger than the padded input (" +
                       std::to_string(in[d] + w.pad_begin[d] + w.pad_end[d]) + ") in spatial dim " + std::to_string(d));
    }
    w.out[d] = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    // A window that would start inside the end padding is dropped (PyTorch/ONNX rule).
    if (ceil_mode && w.out[d] > 1 && (w.out[d] - 1) * s >= in[d] + w.pad_begin[d]) --w.out[d];
  }
  return w;
}

Result<const Tensor*> tensor_input(const KernelContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is required");
  const Value& v = ctx.input_value(i);
  if (!v.is_tensor() || !v.tensor().defined()) return ctx.error("input " + std::to_string(i) + " must be a tensor");
  return &v.tensor();
}

bool is_float_like(DType t) { return t == DType::kFloat32 || t == DType::kFloat64 || is_half(t); }

Result<Tensor> output_buffer(KernelContext& ctx, size_t i, DType out_dtype, const Shape& shape) {
  if (is_half(out_dtype)) return Tensor::allocate(DType::kFloat32, shape);
  return ctx.allocate_output(i, out_dtype, shape);
}

Status finish_output(KernelContext& ctx, size_t i, DType out_dtype, const Tensor& buffer) {
  if (!is_half(out_dtype)) return Status::ok();
  TANDEM_ASSIGN_OR_RETURN(Tensor converted, from_float32(buffer, out_dtype));
  TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(i, out_dtype, buffer.shape()));
  if (converted.byte_size() > 0) std::memcpy(out.raw_data(), converted.raw_data(), converted.byte_size());
  return Status::ok();
}

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(std::max<int64_t>(t.numel(), 0)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.get_as_double(static_cast<int64_t>(i));
  return v;
}

namespace {

// float64 path. Rows of C in blocks of 4 share each loaded row of B; B is walked
// in kKc x kNc panels that stay in cache while every row block passes over them.
template <typename T>
void gemm_acc_impl(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
                   int64_t ldc) {
  constexpr int64_t kKc = 128;
  constexpr int64_t kNc = 512;
  for (int64_t n0 = 0; n0 < N; n0 += kNc) {
    const int64_t nb = std::min(kNc, N - n0);
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
      const int64_t kb = std::min(kKc, K - k0);
      int64_t i = 0;
      for (; i + 4 <= M; i += 4) {
        T* __restrict c0 = C + i * ldc + n0;
        T* __restrict c1 = c0 + ldc;
        T* __restrict c2 = c1 + ldc;
        T* __restrict c3 = c2 + ldc;
        const T* a = A + i * lda + k0;
        for (int64_t k = 0; k < kb; ++k) {
          const T* __restrict b = B + (k0 + k) * ldb + n0;
          const T v0 = a[k], v1 = a[lda + k], v2 = a[2 * lda + k], v3 = a[3 * lda + k];
          for (int64_t j = 0; j < nb; ++j) {
            const T bj = b[j];
            c0[j] += v0 * bj;
            c1[j] += v1 * bj;
            c2[j] += v2 * bj;
            c3[j] += v3 * bj;
          }
        }
      }
      for (; i < M; ++i) {
        T* __restrict c0 = C + i * ldc + n0;
        const T* a = A + i * lda + k0;
        for (int64_t k = 0; k < kb; ++k) {
          const T* __restrict b = B + (k0 + k) * ldb + n0;
          const T v0 = a[k];
          if (v0 == T(0)) continue;
          for (int64_t j = 0; j < nb; ++j) c0[j] += v0 * b[j];
        }
      }
    }
  }
}

}  // namespace

void gemm_acc(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
              int64_t ldc) {
  // float32 goes through the one register-tiled GEMM that MatMul and Gemm use.
  gemm_f32(false, false, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C, ldc);
}
void gemm_acc(int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B, int64_t ldb,
              double* C, int64_t ldc) {
  gemm_acc_impl(M, N, K, A, lda, B, ldb, C, ldc);
}

}  // namespace nn

namespace {

using nn::tensor_input;

// Dropout: identity at inference. In training mode (opset 12+ input 2) with a
// positive ratio, elements are dropped with a seeded generator and the rest
// scaled by 1/(1-ratio).
Status dropout(KernelContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(const Tensor* xp, tensor_input(ctx, 0));
  const Tensor& x = *xp;
  const int64_t opset = ctx.opset();
  double ratio = ctx.node().attr_float("ratio", 0.5f);
  bool training = false;
  if (opset >= 12) {
    ratio = 0.5;
    if (ctx.has_input(1)) {
      const Tensor& r = ctx.input(1);
      if (r.numel() != 1) return ctx.error("ratio must be a scalar");
      ratio = r.get_as_double(0);
    }
    if (ctx.has_input(2)) {
      const Tensor& t = ctx.input(2);
      if (t.numel() != 1) return ctx.error("training_mode must be a scalar");
      training = t.get_as_double(0) != 0.0;
    }
  }
  if (!(ratio >= 0.0 && ratio < 1.0)) return ctx.error("ratio must be in [0, 1), got " + std::to_string(ratio));
  const bool drop = training && ratio > 0.0;
  const int64_t n = x.numel();
  const DType mask_dtype = opset >= 10 ? DType::kBool : x.dtype();

  std::vector<uint8_t> keep;
  if (drop) {
    if (!nn::is_float_like(x.dtype())) return ctx.error("training-mode Dropout needs a float input");
    keep.resize(static_cast<size_t>(n));
    // numpy's legacy RandomState stream (MT19937, 53-bit doubles), so a given seed
    // reproduces onnx's reference outputs.
    std::mt19937 gen(static_cast<uint32_t>(ctx.node().attr_int("seed", 0)));
    for (auto& k : keep) {
      const uint32_t a = gen() >> 5, b = gen() >> 6;
      const double u = (a * 67108864.0 + b) / 9007199254740992.0;
      k = u >= ratio ? 1 : 0;
    }
    TANDEM_ASSIGN_OR_RETURN(Tensor xf, to_float32(x));
    TANDEM_ASSIGN_OR_RETURN(Tensor buf, nn::output_buffer(ctx, 0, x.dtype(), x.shape()));
    const double scale = 1.0 / (1.0 - ratio);
    TANDEM_RETURN_IF_ERROR(visit_float(buf.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* src = xf.data<T>();
      T* dst = buf.data<T>();
      for (int64_t i = 0; i < n; ++i) dst[i] = keep[i] ? static_cast<T>(src[i] * scale) : T(0);
      return Status::ok();
    }));
    TANDEM_RETURN_IF_ERROR(nn::finish_output(ctx, 0, x.dtype(), buf));
  } else {
    TANDEM_ASSIGN_OR_RETURN(Tensor y, ctx.allocate_output(0, x.dtype(), x.shape()));
    if (x.dtype() == DType::kString) {
      y.strings() = x.strings();
    } else if (x.byte_size() > 0 && y.raw_data() != x.raw_data()) {
      std::memmove(y.raw_data(), x.raw_data(), x.byte_size());
    }
  }
  if (ctx.has_output(1)) {
    TANDEM_ASSIGN_OR_RETURN(Tensor mask, ctx.allocate_output(1, mask_dtype, x.shape()));
    if (mask_dtype == DType::kBool) {
      bool* m = mask.data<bool>();
      for (int64_t i = 0; i < n; ++i) m[i] = drop ? keep[i] != 0 : true;
    } else {
      TANDEM_ASSIGN_OR_RETURN(Tensor ones, Tensor::allocate(DType::kFloat32, x.shape()));
      for (int64_t i = 0; i < n; ++i) ones.data<float>()[i] = drop && !keep[i] ? 0.0f : 1.0f;
      if (mask_dtype == DType::kFloat32) {
        if (n > 0) std::memcpy(mask.raw_data(), ones.raw_data(), ones.byte_size());
      } else {
        TANDEM_ASSIGN_OR_RETURN(Tensor conv, from_float32(ones, mask_dtype));
        if (n > 0) std::memcpy(mask.raw_data(), conv.raw_data(), conv.byte_size());
      }
    }
  }
  return Status::ok();
}

}  // namespace

void register_nn_kernels() {
  register_kernel("", "Dropout", dropout);
  register_nn_conv_kernels();
  register_nn_pool_kernels();
  register_nn_norm_kernels();
  register_nn_resize_kernels();
  register_nn_sample_kernels();
}

}  // namespace tandem::reference
