#version 450
// Softmax / LogSoftmax along one axis of [outer, L, inner]: one workgroup per (outer, inner)
// row, a max and a sum reduced in shared memory.
#include "common.glsl"
layout(local_size_x = 128) in;
layout(std430, binding = 0) readonly buffer X { ftype x[]; };
layout(std430, binding = 1) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P { uint rows, L, inner, is_log; } p;

shared float red[128];

void main() {
  uint row = flat_group();
  if (row >= p.rows) return;  // uniform across the workgroup
  uint o = row / p.inner, in_ = row % p.inner;
  uint base = o * p.L * p.inner + in_;
  uint t = gl_LocalInvocationID.x;
  float m = -3.402823466e38;
  for (uint l = t; l < p.L; l += 128u) m = max(m, float(x[base + l * p.inner]));
  red[t] = m;
  barrier();
  for (uint s = 64u; s > 0u; s >>= 1u) {
    if (t < s) red[t] = max(red[t], red[t + s]);
    barrier();
  }
  m = red[0];
  barrier();
  float sum = 0.0;
  for (uint l = t; l < p.L; l += 128u) sum += exp(float(x[base + l * p.inner]) - m);
  red[t] = sum;
  barrier();
  for (uint s = 64u; s > 0u; s >>= 1u) {
    if (t < s) red[t] += red[t + s];
    barrier();
  }
  sum = red[0];
  for (uint l = t; l < p.L; l += 128u) {
    float v = float(x[base + l * p.inner]) - m;
    y[base + l * p.inner] = ftype(p.is_log != 0u ? v - log(sum) : exp(v) / sum);
  }
}
