// Small helpers shared by the math and reduction kernel files.
#pragma once

#include <cstdint>
#include <string>

#include "backends/reference/kernels/common.h"

namespace tandem::reference::mathk {

// Product of shape[begin:end] (1 for an empty range).
inline int64_t span_numel(const Shape& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t d = begin; d < end && d < shape.size(); ++d) n *= shape[d];
  return n;
}

// Allocates output i with `dtype` and fills it from a float32 tensor of the same
// shape (how float16/bfloat16 kernels hand back a result computed in float32).
inline Status emit_from_float32(KernelContext& ctx, size_t i, const Tensor& f32, DType dtype) {
  TANDEM_ASSIGN_OR_RETURN(Tensor out, ctx.allocate_output(i, dtype, f32.shape()));
  const float* src = f32.data<float>();
  const int64_t n = f32.numel();
  switch (dtype) {
    case DType::kFloat16:
      for (int64_t k = 0; k < n; ++k) out.data<uint16_t>()[k] = float_to_half(src[k]);
      return Status::ok();
    case DType::kBFloat16:
      for (int64_t k = 0; k < n; ++k) out.data<uint16_t>()[k] = float_to_bfloat16(src[k]);
      return Status::ok();
    case DType::kFloat32:
      for (int64_t k = 0; k < n; ++k) out.data<float>()[k] = src[k];
      return Status::ok();
    default:
      return ctx.error(std::string("cannot produce ") + dtype_name(dtype) + " output from float32");
  }
}

inline std::string shape_str(const Shape& s) { return shape_to_string(s); }

}  // namespace tandem::reference::mathk
