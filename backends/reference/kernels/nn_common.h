// Helpers shared by the nn kernel files (nn.cc, nn_conv.cc, nn_pool.cc,
// nn_resize.cc): sliding-window geometry, half-precision staging, GEMM.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "backends/reference/kernels/common.h"

namespace tandem::reference::nn {

// Geometry of a sliding window over the spatial dims (Conv, pools, Col2Im).
struct Window {
  std::vector<int64_t> in, kernel, stride, dilation, pad_begin, pad_end, out;
  size_t rank() const { return in.size(); }
  int64_t effective_kernel(size_t d) const { return (kernel[d] - 1) * dilation[d] + 1; }
};

// Reads strides/dilations/pads/auto_pad (and ceil_mode when `allow_ceil`) for
// spatial input sizes `in` and kernel `kernel`, and computes the output sizes.
Result<Window> make_window(const KernelContext& ctx, const std::vector<int64_t>& in,
                           const std::vector<int64_t>& kernel, bool allow_ceil);

// Validates that input i is a present tensor.
Result<const Tensor*> tensor_input(const KernelContext& ctx, size_t i);

// Ranks/dtypes: float32, float64, or float16/bfloat16 (computed in float32).
bool is_float_like(DType t);

// Output i computed in `compute` precision: the output itself, or a float32
// scratch tensor when the output dtype is half (copied by finish_output).
Result<Tensor> output_buffer(KernelContext& ctx, size_t i, DType out_dtype, const Shape& shape);
Status finish_output(KernelContext& ctx, size_t i, DType out_dtype, const Tensor& buffer);

// A float tensor's values as doubles (any float dtype incl. half), for small
// parameter vectors (scale, bias, mean, ...).
std::vector<double> as_doubles(const Tensor& t);

// C[M,N] += A[M,K] * B[K,N]; row-major with leading dims (float32: gemm_f32).
void gemm_acc(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
              int64_t ldc);
void gemm_acc(int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B, int64_t ldb,
              double* C, int64_t ldc);

// Scatter-adds columns back into an image (ConvTranspose, Col2Im):
// col [channels * prod(kernel), prod(w.out)] where w.out is the grid of
// window positions and w.in the image size.
template <typename T>
void col2im_add(const T* col, int64_t channels, const Window& w, T* image);

// Odometer over a multi-dim index; returns false after the last index.
inline bool next_index(std::vector<int64_t>& idx, const std::vector<int64_t>& dims, size_t ndims) {
  for (size_t d = ndims; d-- > 0;) {
    if (++idx[d] < dims[d]) return true;
    idx[d] = 0;
  }
  return false;
}

template <typename T>
void col2im_add(const T* col, int64_t channels, const Window& w, T* image) {
  const size_t r = w.rank();
  int64_t kprod = 1, grid = 1, img = 1;
  for (size_t d = 0; d < r; ++d) {
    kprod *= w.kernel[d];
    grid *= w.out[d];
    img *= w.in[d];
  }
  if (grid == 0 || img == 0) return;
  const std::vector<int64_t> img_strides = strides_of(w.in);
  const int64_t last_out = w.out[r - 1];
  std::vector<int64_t> k(r, 0), o(r, 0);
  for (int64_t c = 0; c < channels; ++c) {
    T* plane = image + c * img;
    std::fill(k.begin(), k.end(), 0);
    for (int64_t kk = 0; kk < kprod; ++kk, next_index(k, w.kernel, r)) {
      const T* row = col + (c * kprod + kk) * grid;
      std::fill(o.begin(), o.end(), 0);
      // Outer grid dims by odometer, the last dim as a plain loop.
      do {
        int64_t base = 0;
        bool inside = true;
        for (size_t d = 0; d + 1 < r; ++d) {
          const int64_t p = o[d] * w.stride[d] - w.pad_begin[d] + k[d] * w.dilation[d];
          if (p < 0 || p >= w.in[d]) { inside = false; break; }
          base += p * img_strides[d];
        }
        if (inside) {
          const size_t d = r - 1;
          const int64_t off = k[d] * w.dilation[d] - w.pad_begin[d];
          for (int64_t x = 0; x < last_out; ++x) {
            const int64_t p = x * w.stride[d] + off;
            if (p >= 0 && p < w.in[d]) plane[base + p] += row[x];
          }
        }
        row += last_out;
      } while (next_index(o, w.out, r - 1));
    }
  }
}

}  // namespace tandem::reference::nn

namespace tandem::reference {
void register_nn_conv_kernels();
void register_nn_pool_kernels();
void register_nn_norm_kernels();
void register_nn_resize_kernels();
void register_nn_sample_kernels();
}  // namespace tandem::reference
