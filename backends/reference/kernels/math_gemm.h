// Cache-blocked single-precision GEMM shared by MatMul, Gemm (and Conv via im2col).
#pragma once

#include <cstdint>

namespace tandem::reference {

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major.
// op(A) is A[M,K] (lda = row stride), or A stored as [K,M] when trans_a.
// op(B) is B[K,N] (ldb = row stride), or B stored as [N,K] when trans_b.
// beta == 0 overwrites C without reading it (so C may start uninitialised).
void gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace tandem::reference
