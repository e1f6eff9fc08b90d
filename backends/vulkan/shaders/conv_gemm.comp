#version 450
// Conv / FusedConv as an implicit GEMM per group (gl_WorkGroupID.z), for convolutions with
// enough output channels per group: Y[oc, pixel] = W[oc, (ci, kh, kw)] @ X'[(ci, kh, kw), pixel]
// with X' gathered from X on the fly (zero in the padding), pixel = (n, oh, ow). The same tiling
// as matmul.comp: a 16 x 16 workgroup computes 64 output channels x 64 pixels, 4 x 4 outputs per
// invocation in registers, K in steps of 16 through shared memory. Push constants as conv2d.comp.
#include "common.glsl"
#include "gemm_tile.glsl"
layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, binding = 0) readonly buffer X { ftype x[]; };
layout(std430, binding = 1) readonly buffer W { ftype w[]; };
layout(std430, binding = 2) readonly buffer Bias { ftype bias[]; };
layout(std430, binding = 3) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P {
  uint N, C, H, W, OC, OH, OW, KH, KW;
  uint sh, sw, dh, dw;
  int ph, pw;
  uint group, has_bias, act;
  float p0, p1;
} p;


void main() {
  const uint g = gl_WorkGroupID.z;
  const uint cg = p.C / p.group, ocg = p.OC / p.group;
  const uint khw = p.KH * p.KW, K = cg * khw, pixels = p.N * p.OH * p.OW;
  const uint m0 = gl_WorkGroupID.y * TM, n0 = gl_WorkGroupID.x * TN;
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * 16u + tx;
  const uint wbase = g * ocg * K;

  // Each invocation loads one column (pixel) of the X' tile, always the same: decode it once.
  const uint col = tid % TN, pix = n0 + col;
  const bool pix_in = pix < pixels;
  const uint ow = pix % p.OW, oh = (pix / p.OW) % p.OH, n = pix / (p.OW * p.OH);
  const int ih0 = int(oh * p.sh) - p.ph, iw0 = int(ow * p.sw) - p.pw;
  const uint xbase = (n * p.C + g * cg) * p.H * p.W;

  float acc[4][4];
  for (uint i = 0u; i < 4u; ++i)
    for (uint j = 0u; j < 4u; ++j) acc[i][j] = 0.0;

  for (uint k0 = 0u; k0 < K; k0 += TK) {
    for (uint e = tid; e < TM * TK; e += 256u) {
      uint mm = e / TK, kk = e % TK;
      uint m = m0 + mm, k = k0 + kk;
      As[kk][mm] = (m < ocg && k < K) ? float(w[wbase + m * K + k]) : 0.0;
    }
    for (uint r = tid / TN; r < TK; r += 256u / TN) {
      uint k = k0 + r;
      float v = 0.0;
      if (pix_in && k < K) {
        uint ci = k / khw, rem = k % khw;
        int ih = ih0 + int((rem / p.KW) * p.dh), iw = iw0 + int((rem % p.KW) * p.dw);
        if (ih >= 0 && ih < int(p.H) && iw >= 0 && iw < int(p.W))
          v = float(x[xbase + ci * p.H * p.W + uint(ih) * p.W + uint(iw)]);
      }
      Bs[r][col] = v;
    }
    barrier();
    tile_fma(acc, tx, ty);
    barrier();
  }

  for (uint i = 0u; i < 4u; ++i) {
    uint m = m0 + ty + 16u * i;
    if (m >= ocg) continue;
    uint oc = g * ocg + m;
    float b = p.has_bias != 0u ? float(bias[oc]) : 0.0;
    for (uint j = 0u; j < 4u; ++j) {
      uint q = n0 + tx + 16u * j;
      if (q >= pixels) continue;
      uint qw = q % p.OW, qh = (q / p.OW) % p.OH, qn = q / (p.OW * p.OH);
      y[((qn * p.OC + oc) * p.OH + qh) * p.OW + qw] = ftype(activate(acc[i][j] + b, p.act, p.p0, p.p1));
    }
  }
}
