// Helpers of the quantization and misc kernel families: dtype-converting reads
// and writes, and convolution geometry for the integer convolutions.
#pragma once

#include <cstdint>
#include <vector>

#include "backends/reference/kernels/common.h"

namespace tandem::reference::quant {

// Every element of a numeric (or float16/bfloat16) tensor as float.
Result<std::vector<float>> float_values(const KernelContext& ctx, const Tensor& t);
// Every element of an integer tensor (8/16/32-bit, or int64 within int32 range) as int32.
Result<std::vector<int32_t>> int32_values(const KernelContext& ctx, const Tensor& t);
// Writes v into element i of a float32/float64/float16/bfloat16 tensor.
void store_float(Tensor& t, int64_t i, double v);
// Writes v into element i of any numeric, bool or half tensor (rounds toward zero for integers).
void store_number(Tensor& t, int64_t i, double v);

// Geometry of an N-D convolution (x: [N, C, D1..Dn], w: [M, C/group, k1..kn]).
struct ConvGeom {
  int64_t N = 0, C = 0, M = 0, group = 1;
  std::vector<int64_t> in, kernel, out, strides, dilations, pads;  // pads: begin side per spatial dim
};

// Validates shapes and reads kernel_shape/strides/dilations/pads/auto_pad/group.
Result<ConvGeom> conv_geom(const KernelContext& ctx, const Shape& x, const Shape& w);

}  // namespace tandem::reference::quant
