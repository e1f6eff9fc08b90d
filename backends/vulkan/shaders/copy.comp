#version 450
// A strided copy over a shape of rank <= 6: y[out_offset + sum(c_d * out_stride_d)] =
// x[in_offset + sum(c_d * in_stride_d)]. Transpose, Slice (negative strides for negative
// steps), Concat (one copy per input into its place), Expand (stride 0) and Tile-free copies.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { ftype x[]; };
layout(std430, binding = 1) buffer Y { ftype y[]; };
layout(push_constant) uniform P {
  uint n, rank; int in_offset, out_offset;
  uint shape[6]; int in_stride[6]; int out_stride[6];
} p;

void main() {
  uint i = flat_index(256u);
  if (i >= p.n) return;
  uint rest = i;
  int src = p.in_offset, dst = p.out_offset;
  for (int d = int(p.rank) - 1; d >= 0; --d) {
    int c = int(rest % p.shape[d]);
    rest /= p.shape[d];
    src += c * p.in_stride[d];
    dst += c * p.out_stride[d];
  }
  y[dst] = x[src];
}
