#version 450
// Reductions over the middle axis of [outer, R, inner] (contiguous reduced axes merged): one
// invocation per output element.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { ftype x[]; };
layout(std430, binding = 1) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P { uint outer, R, inner, op; } p;

const uint OP_SUM = 0u, OP_MEAN = 1u, OP_MAX = 2u, OP_MIN = 3u, OP_PROD = 4u, OP_SUM_SQUARE = 5u, OP_L2 = 6u,
           OP_L1 = 7u, OP_LOG_SUM_EXP = 8u;

void main() {
  uint i = flat_index(256u);
  if (i >= p.outer * p.inner) return;
  uint o = i / p.inner, in_ = i % p.inner;
  uint base = o * p.R * p.inner + in_;
  float acc = p.op == OP_MAX ? -3.402823466e38 : p.op == OP_MIN ? 3.402823466e38 : p.op == OP_PROD ? 1.0 : 0.0;
  float m = -3.402823466e38;
  if (p.op == OP_LOG_SUM_EXP)
    for (uint r = 0u; r < p.R; ++r) m = max(m, float(x[base + r * p.inner]));
  for (uint r = 0u; r < p.R; ++r) {
    float v = float(x[base + r * p.inner]);
    switch (p.op) {
      case OP_MAX: acc = max(acc, v); break;
      case OP_MIN: acc = min(acc, v); break;
      case OP_PROD: acc *= v; break;
      case OP_SUM_SQUARE: case OP_L2: acc += v * v; break;
      case OP_L1: acc += abs(v); break;
      case OP_LOG_SUM_EXP: acc += exp(v - m); break;
      default: acc += v; break;
    }
  }
  if (p.op == OP_MEAN) acc /= float(p.R);
  if (p.op == OP_L2) acc = sqrt(acc);
  if (p.op == OP_LOG_SUM_EXP) acc = m + log(acc);
  y[i] = ftype(acc);
}
