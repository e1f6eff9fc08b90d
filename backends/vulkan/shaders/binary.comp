#version 450
// out[i] = a[ia] op b[ib], numpy broadcasting: the output's shape (rank <= 6, innermost last)
// and each input's element strides (0 along broadcast dimensions).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer A { ftype a[]; };
layout(std430, binding = 1) readonly buffer B { ftype b[]; };
layout(std430, binding = 2) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P {
  uint n; uint rank; uint op; uint pad;
  uint shape[6]; uint astride[6]; uint bstride[6];
} p;

const uint OP_ADD = 0u, OP_SUB = 1u, OP_MUL = 2u, OP_DIV = 3u, OP_POW = 4u, OP_MAX = 5u, OP_MIN = 6u, OP_PRELU = 7u;

void main() {
  uint i = flat_index(256u);
  if (i >= p.n) return;
  uint rest = i, ia = 0u, ib = 0u;
  for (int d = int(p.rank) - 1; d >= 0; --d) {
    uint c = rest % p.shape[d];
    rest /= p.shape[d];
    ia += c * p.astride[d];
    ib += c * p.bstride[d];
  }
  float u = float(a[ia]), v = float(b[ib]), r;
  switch (p.op) {
    case OP_ADD: r = u + v; break;
    case OP_SUB: r = u - v; break;
    case OP_MUL: r = u * v; break;
    case OP_DIV: r = u / v; break;
    // pow() is undefined for u < 0 (and 0^0) in GLSL: as C, integral exponents keep the sign.
    case OP_POW:
      if (v == 0.0) r = 1.0;
      else if (u < 0.0 && v == floor(v)) r = mod(v, 2.0) == 1.0 ? -pow(-u, v) : pow(-u, v);
      else r = pow(u, v);
      break;
    case OP_MAX: r = max(u, v); break;
    case OP_MIN: r = min(u, v); break;
    case OP_PRELU: r = u >= 0.0 ? u : u * v; break;
    default: r = 0.0; break;
  }
  y[i] = ftype(r);
}
