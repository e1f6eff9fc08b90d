// The register-blocked tile of matmul.comp and conv_gemm.comp: a 16 x 16 workgroup computes a
// 64 x 64 tile of the output, 4 x 4 outputs per invocation (rows ty + 16i, columns tx + 16j),
// over K in steps of TK staged in shared memory (As: K x M, Bs: K x N; +1 avoids bank conflicts).
#ifndef TANDEM_GEMM_TILE_GLSL
#define TANDEM_GEMM_TILE_GLSL

const uint TM = 64u, TN = 64u, TK = 16u;
shared float As[TK][TM + 1u];
shared float Bs[TK][TN + 1u];

// acc += As^T Bs over one staged step of K, for this invocation's outputs.
void tile_fma(inout float acc[4][4], uint tx, uint ty) {
  for (uint kk = 0u; kk < TK; ++kk) {
    float av[4], bv[4];
    for (uint i = 0u; i < 4u; ++i) av[i] = As[kk][ty + 16u * i];
    for (uint j = 0u; j < 4u; ++j) bv[j] = Bs[kk][tx + 16u * j];
    for (uint i = 0u; i < 4u; ++i)
      for (uint j = 0u; j < 4u; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
  }
}

#endif
