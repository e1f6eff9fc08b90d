// Cache-blocked float32 GEMM (Goto-style): B is packed into KC x NR column
// panels, A into MR x KC row panels (alpha folded in), and a fixed-size MR x NR
// register tile accumulates over K. The fixed-size inner loops are what the
// compiler vectorizes; the blocks keep the packed panels in L1/L2.
#include "backends/reference/kernels/math_gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace tandem::reference {
namespace {

constexpr int64_t kMR = 4;     // rows of the register tile
constexpr int64_t kNR = 8;     // columns of the register tile
constexpr int64_t kKC = 256;   // depth of a packed block
constexpr int64_t kMC = 128;   // rows of A packed at once (kMC x kKC floats ~ 128 KiB: L2)
constexpr int64_t kNC = 1024;  // columns of B packed at once (kKC x kNC floats ~ 1 MiB: L2/L3)

// Packs op(A)[i0:i0+mc, p0:p0+kc] * alpha into panels of kMR rows: panel r holds
// element (i, p) at [p * kMR + i]; rows past mc are zero.
void pack_a(bool trans, const float* A, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc, float alpha,
            float* out) {
  for (int64_t ir = 0; ir < mc; ir += kMR) {
    const int64_t mr = std::min(kMR, mc - ir);
    float* panel = out + ir * kc;
    for (int64_t p = 0; p < kc; ++p) {
      float* dst = panel + p * kMR;
      for (int64_t i = 0; i < mr; ++i) {
        const int64_t row = i0 + ir + i, col = p0 + p;
        dst[i] = alpha * (trans ? A[col * lda + row] : A[row * lda + col]);
      }
      for (int64_t i = mr; i < kMR; ++i) dst[i] = 0.0f;
    }
  }
}

// Packs op(B)[p0:p0+kc, j0:j0+nc] into panels of kNR columns: panel j holds
// element (p, j) at [p * kNR + j]; columns past nc are zero.
void pack_b(bool trans, const float* B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* out) {
  for (int64_t jr = 0; jr < nc; jr += kNR) {
    const int64_t nr = std::min(kNR, nc - jr);
    float* panel = out + jr * kc;
    for (int64_t p = 0; p < kc; ++p) {
      float* dst = panel + p * kNR;
      if (!trans && nr == kNR) {
        std::memcpy(dst, B + (p0 + p) * ldb + j0 + jr, sizeof(float) * kNR);
        continue;
      }
      for (int64_t j = 0; j < nr; ++j) {
        const int64_t row = p0 + p, col = j0 + jr + j;
        dst[j] = trans ? B[col * ldb + row] : B[row * ldb + col];
      }
      for (int64_t j = nr; j < kNR; ++j) dst[j] = 0.0f;
    }
  }
}

// C[0:mr, 0:nr] += Apanel * Bpanel over kc. GCC/Clang vector extensions keep
// the kMR x kNR accumulator tile in registers (SSE2/NEON/wasm simd128 width).
typedef float v4f __attribute__((vector_size(16)));
static_assert(kNR % 4 == 0, "kNR must be a multiple of the vector width");

void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict c,
                  int64_t ldc, int64_t mr, int64_t nr) {
  constexpr int64_t kNV = kNR / 4;
  v4f acc[kMR][kNV] = {};
  for (int64_t p = 0; p < kc; ++p) {
    v4f bv[kNV];
    std::memcpy(bv, b + p * kNR, sizeof(bv));
    const float* ap = a + p * kMR;
    for (int64_t i = 0; i < kMR; ++i) {
      const v4f ai = {ap[i], ap[i], ap[i], ap[i]};
      for (int64_t v = 0; v < kNV; ++v) acc[i][v] += ai * bv[v];
    }
  }
  float tile[kMR][kNR];
  std::memcpy(tile, acc, sizeof(tile));
  for (int64_t i = 0; i < mr; ++i) {
    for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] += tile[i][j];
  }
}

}  // namespace

void gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  for (int64_t i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + N, 0.0f);
    } else if (beta != 1.0f) {
      for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
  }
  if (K <= 0 || alpha == 0.0f) return;

  // Reused across calls (batched MatMul calls this once per batch entry).
  thread_local std::vector<float> a_pack, b_pack;
  const int64_t kc_max = std::min(K, kKC);
  const int64_t nc_max = (std::min(N, kNC) + kNR - 1) / kNR * kNR;
  const int64_t mc_max = (std::min(M, kMC) + kMR - 1) / kMR * kMR;
  a_pack.resize(static_cast<size_t>(mc_max * kc_max));
  b_pack.resize(static_cast<size_t>(nc_max * kc_max));

  for (int64_t jc = 0; jc < N; jc += kNC) {
    const int64_t nc = std::min(kNC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = std::min(kKC, K - pc);
      pack_b(trans_b, B, ldb, pc, jc, kc, nc, b_pack.data());
      for (int64_t ic = 0; ic < M; ic += kMC) {
        const int64_t mc = std::min(kMC, M - ic);
        pack_a(trans_a, A, lda, ic, pc, mc, kc, alpha, a_pack.data());
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int64_t nr = std::min(kNR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int64_t mr = std::min(kMR, mc - ir);
            micro_kernel(kc, a_pack.data() + ir * kc, b_pack.data() + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc,
                         mr, nr);
          }
        }
      }
    }
  }
}

}  // namespace tandem::reference
