// CpuGemmPanels: the batched weight product with 512-bit registers (AVX-512F), as an outer
// product over packed panels. CpuGemm's blocked kernel keeps one (row, token) dot product per
// register and reads both a converted weight block and the x rows from L1 for every 16 FMAs; on
// the dev VM it reached about half the core's FMA rate. Here a register holds 16 rows of one
// token at one lane, so each FMA takes a packed weight vector and one broadcast x value: a
// 32-row x 12-token tile does 24 FMAs per 2 weight loads and 12 broadcasts, and both operands
// stream sequentially (weights from a panel in L2, x from a buffer packed once per matmul).
// Summation order: lane l of (token, row) sums columns 16 m + l over m in order (lanes 0-7 also
// the lone 8-block of cols % 16 >= 8), with one fused multiply-add per column, and the lanes
// are reduced in finish_dot's tree, then the columns past the last 8-block one by one: every
// (token, row) gets bitwise what the one-token matvec gives it.
#pragma once

#include "backend/cpu/AlignedFloats.h"
#include "backend/cpu/CpuKernels.h"

namespace vk_symbiote::cpu {

// Tokens per register tile (and per tile of the packed x), rows per panel (two registers).
constexpr uint32 kPanelTokens = 12;
constexpr uint64 kPanelRows = 32;

// A batch's x repacked for panels_rows, built once per matmul and read (shared, read-only) by
// every row task: data[((tile * 16 + l) * steps + m) * kPanelTokens + j] = x[tile * 12 + j][16 m + l],
// zero for tokens past n_tok and for lanes 8-15 of the lone step.
struct PanelX {
    AlignedFloats data;
    uint64 steps = 0;  // column steps of 16: cols / 16, plus one (lanes 0-7 only) when cols % 16 >= 8
    uint32 n_tok = 0;
};

// True when the panel product runs here: x86-64 with AVX-512F, AVX2, FMA and F16C.
bool panels_available();

// x of `a` (a.n_tok tokens of a.cols floats) -> px. Call only when panels_available().
void panels_pack_x(const MatmulArgs& a, PanelX& px);
// The same in parts (on a pool): prepare sizes px, then each call packs tokens [t0, t1)
// (tasks on whole tiles of kPanelTokens write disjoint cache lines).
void panels_prepare_x(const MatmulArgs& a, PanelX& px);
void panels_pack_x_tokens(const MatmulArgs& a, PanelX& px, uint32 t0, uint32 t1);

// Rows [r0, r1) of `a` for all its tokens, x from px (panels_pack_x of the same a). Single-
// threaded; scratch is thread-local (a 256 KiB weight panel and the tiles' partial sums).
void panels_rows(const MatmulArgs& a, const PanelX& px, uint64 r0, uint64 r1);

}  // namespace vk_symbiote::cpu
