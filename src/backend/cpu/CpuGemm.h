// CpuGemm: the CPU's batched weight product for prompts (and any pass of kGemmMinTokens tokens
// or more), y[t][r] = sum_c w[r][c] * x[t][c] over the MatmulArgs of CpuKernels.h. With
// AVX-512F: the panel product (CpuGemmPanels). Else (AVX2) cache-blocked: a block of 16 weight
// rows x 512 columns is converted to f32 once, into a buffer on the stack that stays in L1, and
// multiplied by every token of the batch (up to 64 at a time), 4 rows x 3 tokens in registers.
// Without it each weight vector was converted from f16 / bf16 once per 8 tokens, and the
// conversion dominated a prompt.
// Summation order: each (token, row) is summed exactly as the one-token matvec sums it (even and
// odd 8-column blocks in two lane sets, then CpuSimd.h's finish_dot), so a prompt chunk of 9 or
// more tokens gives every position bitwise the result a decode step would, whatever the blocks,
// threads or register width.
#pragma once

#include "backend/cpu/CpuKernels.h"

namespace vk_symbiote::cpu {

// Tokens from which matmul() multiplies through gemm_rows (AVX2 path): more than the largest
// token tile (8). Up to 8 (decode steps of one or a few sequences, memory-bound, which
// matmul_batch fuses): the per-tile kernels, which stream each row once, as tuned for the GPU
// host's hybrid decode (docs/tuning.md); those tokens keep the tiles' summation order.
constexpr uint32 kGemmMinTokens = 9;

// True when the blocked product can run here: x86-64 with AVX2, FMA and F16C (cpu_has_avx2()).
bool gemm_available();
// True when it uses 512-bit registers here (AVX-512F: the panel product); the same bits.
bool gemm_has_avx512();

// Rows [r0, r1) of `a` for all a.n_tok tokens (y columns [r0, r1) of every token written).
// wide = false: the 256-bit blocked product even where AVX-512F is available (the tests compare
// both). Call only when gemm_available(); single-threaded (matmul() packs x once for the panel
// product and splits its panels over the pool).
void gemm_rows(const MatmulArgs& a, uint64 r0, uint64 r1, bool wide = true);

}  // namespace vk_symbiote::cpu
