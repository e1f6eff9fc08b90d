#version 450
// Gather along one axis of data [outer, axis_len, inner] with int32 indices (checked and made
// non-negative on the host): y[o, j, i] = data[o, idx[j], i].
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer D { ftype data[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P { uint outer, axis_len, inner, count; } p;

void main() {
  uint i = flat_index(256u);
  if (i >= p.outer * p.count * p.inner) return;
  uint in_ = i % p.inner, t = i / p.inner;
  uint j = t % p.count, o = t / p.count;
  y[i] = data[(o * p.axis_len + uint(idx[j])) * p.inner + in_];
}
