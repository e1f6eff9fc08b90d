#version 450
// Pad (constant, edge, reflect) of a tensor of rank <= 6: each output element finds its source
// element per dimension, or takes the constant.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { ftype x[]; };
layout(std430, binding = 1) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P {
  uint n, rank, mode; float value;
  uint out_shape[6]; uint in_shape[6]; int begin[6];
} p;

const uint MODE_CONSTANT = 0u, MODE_EDGE = 1u, MODE_REFLECT = 2u;

void main() {
  uint i = flat_index(256u);
  if (i >= p.n) return;
  uint rest = i, src = 0u, stride = 1u;
  bool outside = false;
  for (int d = int(p.rank) - 1; d >= 0; --d) {
    int c = int(rest % p.out_shape[d]) - p.begin[d];
    rest /= p.out_shape[d];
    int len = int(p.in_shape[d]);
    if (c < 0 || c >= len) {
      if (p.mode == MODE_CONSTANT) { outside = true; c = 0; }
      else if (p.mode == MODE_EDGE) c = clamp(c, 0, len - 1);
      else {  // reflect, without repeating the edge: period 2 * (len - 1)
        int period = max(2 * (len - 1), 1);
        c = abs(c) % period;
        if (c >= len) c = period - c;
      }
    }
    src += uint(c) * stride;
    stride *= p.in_shape[d];
  }
  y[i] = ftype(outside ? p.value : float(x[src]));  // no fp16 values: storage only
}
