#version 450
// Y = act(conv(X, W) + B), NCHW, grouped (depthwise when group = C = OC), strides, pads,
// dilations; 1-D convolutions come as H = KH = 1. One output per invocation, accumulating over
// the group's input channels and the kernel window.
#include "common.glsl"
layout(local_size_x = 256) in;
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
  uint i = flat_index(256u);
  uint total = p.N * p.OC * p.OH * p.OW;
  if (i >= total) return;
  uint ow = i % p.OW, t = i / p.OW;
  uint oh = t % p.OH; t /= p.OH;
  uint oc = t % p.OC;
  uint n = t / p.OC;
  uint cg = p.C / p.group, ocg = p.OC / p.group;
  uint g = oc / ocg;
  float acc = p.has_bias != 0u ? float(bias[oc]) : 0.0;
  int ih0 = int(oh * p.sh) - p.ph, iw0 = int(ow * p.sw) - p.pw;
  for (uint ci = 0u; ci < cg; ++ci) {
    uint c = g * cg + ci;
    uint xbase = (n * p.C + c) * p.H * p.W;
    uint wbase = (oc * cg + ci) * p.KH * p.KW;
    for (uint kh = 0u; kh < p.KH; ++kh) {
      int ih = ih0 + int(kh * p.dh);
      if (ih < 0 || ih >= int(p.H)) continue;
      for (uint kw = 0u; kw < p.KW; ++kw) {
        int iw = iw0 + int(kw * p.dw);
        if (iw < 0 || iw >= int(p.W)) continue;
        acc = fma(float(x[xbase + uint(ih) * p.W + uint(iw)]), float(w[wbase + kh * p.KW + kw]), acc);
      }
    }
  }
  y[i] = ftype(activate(acc, p.act, p.p0, p.p1));
}
