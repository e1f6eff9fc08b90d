#version 450
// Cast of an index tensor (int64 on the host, int32 on the device) to float: y[i] = float(x[i]).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { int x[]; };
layout(std430, binding = 1) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P { uint n; } p;

void main() {
  uint i = flat_index(256u);
  if (i >= p.n) return;
  y[i] = ftype(float(x[i]));
}
