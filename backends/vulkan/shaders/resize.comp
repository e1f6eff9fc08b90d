#version 450
// One axis of a separable Resize: x viewed as [outer, in_len, inner] -> y [outer, out_len, inner],
// y[b, o, i] = sum_t w(o, t) * x[b, idx(o, t), i]. The host computes the taps
// (core/graph/resize_taps): pairs (index, float bits of the weight) per output index and tap; an
// index < 0 (tf_crop_and_resize outside the roi) gives the extrapolation value.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { ftype x[]; };
layout(std430, binding = 1) readonly buffer T { int taps[]; };
layout(std430, binding = 2) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P { uint outer, in_len, out_len, inner, ntaps; float extrapolation; } p;

void main() {
  uint i = flat_index(256u);
  if (i >= p.outer * p.out_len * p.inner) return;
  uint in_ = i % p.inner, t = i / p.inner;
  uint o = t % p.out_len, b = t / p.out_len;
  uint base = b * p.in_len * p.inner + in_;
  float acc = 0.0;
  for (uint k = 0u; k < p.ntaps; ++k) {
    uint e = (o * p.ntaps + k) * 2u;
    int j = taps[e];
    if (j < 0) {
      acc = p.extrapolation;
      break;
    }
    acc += intBitsToFloat(taps[e + 1u]) * float(x[base + uint(j) * p.inner]);
  }
  y[i] = ftype(acc);
}
