#version 450
// C[b] = act(alpha * A[b] @ B[b] + beta * bias), batched, for MatMul, Gemm and FullyConnected.
// A is M x K and B is K x N through (row, column) element strides, so transposed operands
// need no copy; a batch stride of 0 broadcasts an operand. The bias is read through its own
// (row, column) strides: [N] (0, 1), [M, 1] (1, 0), one value (0, 0), [M, N] (N, 1).
//
// Tiling: a 16 x 16 workgroup computes a 64 x 64 tile of C, 4 x 4 outputs per invocation in
// registers, over K in steps of 16 staged in shared memory. Edges are bounds-checked.
#include "common.glsl"
#include "gemm_tile.glsl"
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, binding = 0) readonly buffer A { ftype a[]; };
layout(std430, binding = 1) readonly buffer B { ftype b[]; };
layout(std430, binding = 2) readonly buffer Bias { ftype bias[]; };
layout(std430, binding = 3) writeonly buffer C { ftype c[]; };
layout(push_constant) uniform P {
  uint M, N, K, has_bias;
  uint a_batch, a_row, a_col;  // element strides of A: batch, row (m), column (k)
  uint b_batch, b_row, b_col;  // of B: batch, row (k), column (n)
  uint bias_batch, bias_row, bias_col;
  uint act;
  float alpha, beta, p0, p1;
} p;


void main() {
  const uint batch = gl_WorkGroupID.z;
  const uint m0 = gl_WorkGroupID.y * TM, n0 = gl_WorkGroupID.x * TN;
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * 16u + tx;
  const uint abase = batch * p.a_batch, bbase = batch * p.b_batch;
  float acc[4][4];
  for (uint i = 0u; i < 4u; ++i)
    for (uint j = 0u; j < 4u; ++j) acc[i][j] = 0.0;

  for (uint k0 = 0u; k0 < p.K; k0 += TK) {
    // 256 invocations load 64 x 16 of A and 16 x 64 of B: 4 elements each.
    for (uint e = tid; e < TM * TK; e += 256u) {
      uint mm = e / TK, kk = e % TK;
      uint m = m0 + mm, k = k0 + kk;
      As[kk][mm] = (m < p.M && k < p.K) ? float(a[abase + m * p.a_row + k * p.a_col]) : 0.0;
    }
    for (uint e = tid; e < TN * TK; e += 256u) {
      uint kk = e / TN, nn = e % TN;
      uint k = k0 + kk, n = n0 + nn;
      Bs[kk][nn] = (k < p.K && n < p.N) ? float(b[bbase + k * p.b_row + n * p.b_col]) : 0.0;
    }
    barrier();
    tile_fma(acc, tx, ty);
    barrier();
  }

  for (uint i = 0u; i < 4u; ++i) {
    uint m = m0 + ty + 16u * i;
    if (m >= p.M) continue;
    for (uint j = 0u; j < 4u; ++j) {
      uint n = n0 + tx + 16u * j;
      if (n >= p.N) continue;
      float v = p.alpha * acc[i][j];
      if (p.has_bias != 0u) v += p.beta * float(bias[batch * p.bias_batch + m * p.bias_row + n * p.bias_col]);
      c[(batch * p.M + m) * p.N + n] = ftype(activate(v, p.act, p.p0, p.p1));
    }
  }
}
