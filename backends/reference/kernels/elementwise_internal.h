// Helpers shared by the elementwise kernel files (elementwise*.cc): input
// checks, a broadcasting loop that runs the innermost dimension as a tight
// loop, and dtype dispatch that includes bool.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "backends/reference/kernels/common.h"

namespace tandem::reference {

void register_elementwise_unary_kernels();
void register_elementwise_binary_kernels();
void register_elementwise_cast_kernels();

// Input i as a tensor, or an error naming the node when absent or not a tensor.
Result<const Tensor*> ew_tensor_input(const KernelContext& ctx, size_t i);

// Broadcast iteration plan: the output shape, with dims of size 1 dropped and
// neighbouring dims merged where every input broadcasts them the same way, so
// that same-shape, scalar, row and per-channel operands become one or two
// plain loops.
struct EwPlan {
  Shape out_shape;                            // numpy broadcast of the inputs
  int64_t numel = 0;
  std::vector<int64_t> dims;                  // merged dims, innermost last (at least one)
  std::vector<std::vector<int64_t>> strides;  // per input, per merged dim (elements; 0 = broadcast)
};

Result<EwPlan> ew_make_plan(const std::vector<Shape>& input_shapes);

// Calls fn(out_offset, in_offsets, n, in_inner_strides) once per innermost row:
// out[out_offset + j] pairs with input k at in_offsets[k] + j * in_inner_strides[k].
template <size_t N, typename Fn>
void ew_for_each_row(const EwPlan& plan, Fn&& fn) {
  if (plan.numel <= 0) return;
  const size_t rank = plan.dims.size();
  const int64_t inner = plan.dims[rank - 1];
  std::array<int64_t, N> inner_stride{};
  for (size_t k = 0; k < N; ++k) inner_stride[k] = plan.strides[k][rank - 1];
  std::array<int64_t, N> off{};
  std::vector<int64_t> index(rank, 0);
  for (int64_t out = 0; out < plan.numel; out += inner) {
    fn(out, off.data(), inner, inner_stride.data());
    for (size_t d = rank - 1; d-- > 0;) {
      ++index[d];
      for (size_t k = 0; k < N; ++k) off[k] += plan.strides[k][d];
      if (index[d] < plan.dims[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= plan.strides[k][d] * plan.dims[d];
      index[d] = 0;
    }
  }
}

// Applies out[i] = f(a[i], b[i]) over a broadcast plan, with the common
// stride patterns of the inner row as separate plain loops.
// TANDEM_REFERENCE_COMPACT (the WebAssembly builds) trades that for size: one strided loop per
// instantiation, since every (op, dtype) pair instantiates it and the .wasm ships to browsers.
template <typename TA, typename TB, typename TO, typename F>
void ew_binary_loop(const EwPlan& plan, const TA* a, const TB* b, TO* o, F f) {
#if defined(TANDEM_REFERENCE_COMPACT)
  ew_for_each_row<2>(plan, [&](int64_t out, const int64_t* off, int64_t n, const int64_t* st) {
    const TA* pa = a + off[0];
    const TB* pb = b + off[1];
    TO* po = o + out;
    for (int64_t j = 0; j < n; ++j) po[j] = f(pa[j * st[0]], pb[j * st[1]]);
  });
#else
  ew_for_each_row<2>(plan, [&](int64_t out, const int64_t* off, int64_t n, const int64_t* st) {
    const TA* pa = a + off[0];
    const TB* pb = b + off[1];
    TO* po = o + out;
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t j = 0; j < n; ++j) po[j] = f(pa[j], pb[j]);
    } else if (st[0] == 1) {
      const TB bv = pb[0];
      for (int64_t j = 0; j < n; ++j) po[j] = f(pa[j], bv);
    } else if (st[1] == 1) {
      const TA av = pa[0];
      for (int64_t j = 0; j < n; ++j) po[j] = f(av, pb[j]);
    } else {
      const TO v = f(pa[0], pb[0]);
      for (int64_t j = 0; j < n; ++j) po[j] = v;
    }
  });
#endif
}

// Like visit_numeric, plus bool.
template <typename Fn>
Status ew_visit_numeric_bool(DType dtype, Fn&& fn) {
  if (dtype == DType::kBool) return fn(bool{});
  return visit_numeric(dtype, fn);
}

template <typename T>
inline constexpr bool ew_is_float_v = std::is_floating_point_v<T>;

// Copies a computed tensor into output storage of the same dtype and shape
// (used after computing float16/bfloat16 results in float32).
Status ew_store_output(KernelContext& ctx, size_t i, const Tensor& computed);

}  // namespace tandem::reference
