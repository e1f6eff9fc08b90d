#version 450
// y[i] = f(x[i]) over n contiguous elements: the activations and math functions.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { ftype x[]; };
layout(std430, binding = 1) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P { uint n; uint op; float p0; float p1; } p;

// Codes below 16 are activations (common.glsl); the rest are math functions.
const uint OP_EXP = 16u, OP_LOG = 17u, OP_SQRT = 18u, OP_NEG = 19u, OP_ABS = 20u, OP_RECIPROCAL = 21u,
           OP_ERF = 22u, OP_FLOOR = 23u, OP_CEIL = 24u, OP_COPY = 26u, OP_SIN = 27u,
           OP_COS = 28u, OP_SOFTPLUS = 29u, OP_MUL_ADD = 30u;

void main() {
  uint i = flat_index(256u);
  if (i >= p.n) return;
  float v = float(x[i]);
  float r;
  switch (p.op) {
    case OP_EXP: r = exp(v); break;
    case OP_LOG: r = log(v); break;
    case OP_SQRT: r = sqrt(v); break;
    case OP_NEG: r = -v; break;
    case OP_ABS: r = abs(v); break;
    case OP_RECIPROCAL: r = 1.0 / v; break;
    case OP_ERF: r = tandem_erf(v); break;
    case OP_FLOOR: r = floor(v); break;
    case OP_CEIL: r = ceil(v); break;
    case OP_COPY: r = v; break;
    case OP_SIN: r = sin(v); break;
    case OP_COS: r = cos(v); break;
    case OP_SOFTPLUS: r = v > 20.0 ? v : log(1.0 + exp(v)); break;
    case OP_MUL_ADD: r = v * p.p0 + p.p1; break;
    default: r = activate(v, p.op, p.p0, p.p1); break;
  }
  y[i] = ftype(r);
}
