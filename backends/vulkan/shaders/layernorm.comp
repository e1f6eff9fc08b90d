#version 450
// LayerNormalization over the last L elements of each row: (x - mean) / sqrt(var + eps) * gamma
// + beta, mean and variance reduced in shared memory (two passes over the row: stable).
#include "common.glsl"
layout(local_size_x = 128) in;
layout(std430, binding = 0) readonly buffer X { ftype x[]; };
layout(std430, binding = 1) readonly buffer G { ftype gamma[]; };
layout(std430, binding = 2) readonly buffer Bt { ftype beta[]; };
layout(std430, binding = 3) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P { uint rows, L, has_beta; float eps; } p;

shared float red[128];

float reduce_sum(float v, uint t) {
  red[t] = v;
  barrier();
  for (uint s = 64u; s > 0u; s >>= 1u) {
    if (t < s) red[t] += red[t + s];
    barrier();
  }
  float r = red[0];
  barrier();
  return r;
}

void main() {
  uint row = flat_group();
  if (row >= p.rows) return;
  uint base = row * p.L, t = gl_LocalInvocationID.x;
  float s = 0.0;
  for (uint l = t; l < p.L; l += 128u) s += float(x[base + l]);
  float mean = reduce_sum(s, t) / float(p.L);
  float q = 0.0;
  for (uint l = t; l < p.L; l += 128u) { float d = float(x[base + l]) - mean; q += d * d; }
  float inv = inversesqrt(reduce_sum(q, t) / float(p.L) + p.eps);
  for (uint l = t; l < p.L; l += 128u) {
    float v = (float(x[base + l]) - mean) * inv * float(gamma[l]);
    y[base + l] = ftype(p.has_beta != 0u ? v + float(beta[l]) : v);
  }
}
