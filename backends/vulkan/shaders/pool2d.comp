#version 450
// MaxPool / AveragePool / LpPool-free pooling over NCHW (1-D as H = 1), global pooling as a
// window the size of the input. Average divides by the window's count inside the input, or by
// the whole window with count_include_pad (pads count, the ceil_mode overhang does not).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { ftype x[]; };
layout(std430, binding = 1) writeonly buffer Y { ftype y[]; };
layout(push_constant) uniform P {
  uint NC, H, W, OH, OW, KH, KW, sh, sw, dh, dw;
  int ph, pw;
  uint is_max, count_include_pad, pad_end_h, pad_end_w;
} p;

void main() {
  uint i = flat_index(256u);
  if (i >= p.NC * p.OH * p.OW) return;
  uint ow = i % p.OW, t = i / p.OW;
  uint oh = t % p.OH, nc = t / p.OH;
  int ih0 = int(oh * p.sh) - p.ph, iw0 = int(ow * p.sw) - p.pw;
  float acc = p.is_max != 0u ? -3.402823466e38 : 0.0;
  uint count = 0u, padded = 0u;
  for (uint kh = 0u; kh < p.KH; ++kh) {
    int ih = ih0 + int(kh * p.dh);
    bool in_pad_h = ih < int(p.H) + int(p.pad_end_h);
    for (uint kw = 0u; kw < p.KW; ++kw) {
      int iw = iw0 + int(kw * p.dw);
      if (in_pad_h && iw < int(p.W) + int(p.pad_end_w)) ++padded;
      if (ih < 0 || ih >= int(p.H) || iw < 0 || iw >= int(p.W)) continue;
      float v = float(x[(nc * p.H + uint(ih)) * p.W + uint(iw)]);
      acc = p.is_max != 0u ? max(acc, v) : acc + v;
      ++count;
    }
  }
  if (p.is_max == 0u) acc /= float(p.count_include_pad != 0u ? padded : max(count, 1u));
  y[i] = ftype(acc);
}
