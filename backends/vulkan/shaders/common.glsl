// Shared by Tandem's compute shaders: the flat invocation index over a 2-D grid of workgroups
// (a dispatch may need more than maxComputeWorkGroupCount[0] = 65535 groups), erf, activations.
#ifndef TANDEM_COMMON_GLSL
#define TANDEM_COMMON_GLSL

// Storage of float tensors: fp32, or fp16 in the _f16 variants (cmake/vulkan.cmake builds each
// shader both ways). Arithmetic is fp32 either way: load with float(), store with ftype().
#ifdef TANDEM_FP16
#extension GL_EXT_shader_16bit_storage : require
#define ftype float16_t
#else
#define ftype float
#endif

uint flat_index(uint local_size) {
  return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * local_size + gl_LocalInvocationID.x;
}
uint flat_group() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// erf to ~1e-7 absolute (Abramowitz & Stegun 7.1.26 is 1.5e-7; this is the same form with
// the sign folded in). GLSL has no erf.
float tandem_erf(float x) {
  float a = abs(x);
  float t = 1.0 / (1.0 + 0.3275911 * a);
  float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return sign(x) * y;
}

// Activation codes shared by unary, matmul and conv (see ops.h: Act).
const uint ACT_NONE = 0u, ACT_RELU = 1u, ACT_SIGMOID = 2u, ACT_TANH = 3u, ACT_CLIP = 4u, ACT_HARDSWISH = 5u,
           ACT_LEAKYRELU = 6u, ACT_GELU = 7u, ACT_GELU_TANH = 8u, ACT_HARDSIGMOID = 9u, ACT_ELU = 10u;

float activate(float x, uint act, float p0, float p1) {
  switch (act) {
    case ACT_RELU: return max(x, 0.0);
    case ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case ACT_TANH: return tanh(clamp(x, -15.0, 15.0));  // tanh overflows exp() past ~44 on some drivers
    case ACT_CLIP: return min(max(x, p0), p1);           // max wins when p0 > p1, as ONNX says
    case ACT_HARDSWISH: return x * clamp(x / 6.0 + 0.5, 0.0, 1.0);
    case ACT_LEAKYRELU: return x >= 0.0 ? x : p0 * x;
    case ACT_GELU: return 0.5 * x * (1.0 + tandem_erf(x * 0.70710678118654752));
    case ACT_GELU_TANH: return 0.5 * x * (1.0 + tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0)));
    case ACT_HARDSIGMOID: return clamp(p0 * x + p1, 0.0, 1.0);
    case ACT_ELU: return x >= 0.0 ? x : p0 * (exp(x) - 1.0);
    default: return x;
  }
}

#endif
