#version 450
// Register-blocked matrix-matrix product for prompt batches. A workgroup computes BM = WG_X * TM
// logical rows x BN = WG_Y * TN tokens, staging [BM][BK] weights and [BN][BK] activations in
// shared memory as f32 (transposed); invocation (lx, ly) owns TM rows (blocks of 4 at lx, lx +
// WG_X, ...) x TN tokens. f32 accumulation; FP16_ARITH rounds x to f16. Larger TM spills the
// accumulators out of registers: measure before changing the shape (docs/tuning.md).

// Logical rows come in pairs (2q, 2q + 1) in one invocation, so the fused epilogues (plain,
// rope, SWIGLU; matmul_rows.glsl) need no exchange. Grid: (ceil(logical rows / BM),
// ceil(n_tokens / BN)); logical rows = rows, or 2 * rows for SWIGLU.
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { MatmulParams p; };

// Tile shape: TM / TN as the host sizes the grid (PushConstants.h); BK can be overridden
// (tuning alternatives of vk_symbiote_kernel_bench).
#define MM_TM VKS_MATMUL_TM
#define MM_TN VKS_MATMUL_TN
#ifndef MM_BK
#define MM_BK 32u
#endif
const uint TM = uint(MM_TM);  // logical rows per invocation (multiple of 4)
const uint TN = uint(MM_TN);  // tokens per invocation (multiple of 4)
const uint BK = MM_BK;  // k per shared-memory slice (multiple of 8)
const uint BM = WG_X * TM;
const uint BN = WG_Y * TN;

// [k][BM / 4] blocks of 4 logical rows; [k][BN / 4] blocks of 4 tokens.
shared vec4 ws[BK * (BM / 4u)];
shared vec4 xs[BK * (BN / 4u)];

#include "matmul_rows.glsl"

// Weights [k, k + 8) of a row (zero past cols or for an invalid row).
void load_w8(bool ok, uint src, uint row, uint k, out vec4 lo, out vec4 hi) {
    lo = vec4(0.0);
    hi = vec4(0.0);
    if (!ok) return;
    const uint base = (src != 0u ? p.w1_offset : p.w_offset) + row * p.cols;
    if (p.vec8 != 0u) {  // cols % 8 == 0: the 8 weights are all in or all out
        if (k >= p.cols) return;
        if (src != 0u) wload8_1((base + k) / 8u, lo, hi);
        else wload8_0((base + k) / 8u, lo, hi);
        return;
    }
    float v[8];
    for (uint e = 0u; e < 8u; ++e) {
        const bool in_k = k + e < p.cols;
        v[e] = !in_k ? 0.0 : src != 0u ? wload1(base + k + e) : wload0(base + k + e);
    }
    lo = vec4(v[0], v[1], v[2], v[3]);
    hi = vec4(v[4], v[5], v[6], v[7]);
}

// Activations [k, k + 4) of token tok (zero past cols or n_tokens), rounded by xround.
vec4 load_x4(uint tok, uint k) {
    if (tok >= p.n_tokens) return vec4(0.0);
    const uint base = p.x_offset + tok * p.x_stride;
    if (p.vec8 != 0u) return k < p.cols ? xround4(xvec[(base + k) / 4u]) : vec4(0.0);
    vec4 v;
    for (uint e = 0u; e < 4u; ++e) v[e] = k + e < p.cols ? xround(xbuf[base + k + e]) : 0.0;
    return v;
}

const uint CH = BK / 8u;  // 8-weight chunks per logical row and slice
const uint CX = BK / 4u;  // 4-float chunks per token and slice

// Weight chunk e of a slice -> (pair q, member s, chunk c): each warp reads whole 16-byte
// pieces of BK-wide row segments. Returns the logical row m within the tile.
uint w_chunk(uint e, out uint c) {
    c = e % CH;
    const uint ml = e / CH;
    return 2u * (ml % (BM / 2u)) + ml / (BM / 2u);
}

void fetch_w(uint e, uint k0, uint lrow0, out vec4 lo, out vec4 hi) {
    uint c, row, src;
    const uint m = w_chunk(e, c);
    const bool ok = logical_row(lrow0 + m, row, src);
    load_w8(ok, src, row, k0 + 8u * c, lo, hi);
}

void put_w(uint e, vec4 lo, vec4 hi) {
    uint c;
    const uint m = w_chunk(e, c);
    const uint kb = 8u * c, blk = m / 4u, comp = m % 4u;
    for (uint i = 0u; i < 4u; ++i) {
        ws[(kb + i) * (BM / 4u) + blk][comp] = lo[i];
        ws[(kb + 4u + i) * (BM / 4u) + blk][comp] = hi[i];
    }
}

vec4 fetch_x(uint e, uint k0, uint tok0) { return load_x4(tok0 + e / CX, k0 + 4u * (e % CX)); }

void put_x(uint e, vec4 v) {
    const uint c = e % CX, n = e / CX;
    for (uint i = 0u; i < 4u; ++i) xs[(4u * c + i) * (BN / 4u) + n / 4u][n % 4u] = v[i];
}

// acc[b][j]: logical rows 4 * (b * WG_X + lx) + (0..3), token tok0 + ly * TN + j.
vec4 acc[TM / 4u][TN];

// acc += the staged slice (BK values of k).
void multiply_slice(uint lx, uint ly) {
    for (uint k = 0u; k < BK; ++k) {
        vec4 wv[TM / 4u];
        for (uint b = 0u; b < TM / 4u; ++b) wv[b] = ws[k * (BM / 4u) + b * WG_X + lx];
        for (uint jj = 0u; jj < TN / 4u; ++jj) {
            const vec4 xv = xs[k * (BN / 4u) + ly * (TN / 4u) + jj];
            for (uint b = 0u; b < TM / 4u; ++b)
                for (uint j = 0u; j < 4u; ++j) acc[b][4u * jj + j] = fma(wv[b], vec4(xv[j]), acc[b][4u * jj + j]);
        }
    }
}

// Chunks per invocation; the register prefetch below needs them to divide evenly among the
// invocations, at most 4 each (else the generic staging loop). The test is integer
// arithmetic: glslang 11 miscompiles boolean expressions of specialization constants.
const uint NW = BM * CH / WG;
const uint NX = BN * CX / WG;

// Multiplies out the tile at (lrow0, tok0) and writes it.
void tile(uint lrow0, uint tok0) {
    const uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    const uint tid = gl_LocalInvocationIndex;
    for (uint b = 0u; b < TM / 4u; ++b)
        for (uint j = 0u; j < TN; ++j) acc[b][j] = vec4(0.0);
#ifndef MM_NO_PREFETCH
    // 0 iff both divide evenly and 1 <= NW, NX <= 4 (unsigned: NW - 1 wraps for NW = 0).
    const uint uneven = (BM * CH) % WG + (BN * CX) % WG + (NW - 1u) / 4u + (NX - 1u) / 4u;
    if (uneven == 0u) {
        // Register prefetch: the global loads of slice k0 + BK are in flight while slice k0
        // is multiplied out of shared memory.
        vec4 wlo[4], whi[4], xr[4];
        for (uint i = 0u; i < NW && i < 4u; ++i) fetch_w(tid + i * WG, 0u, lrow0, wlo[i], whi[i]);
        for (uint i = 0u; i < NX && i < 4u; ++i) xr[i] = fetch_x(tid + i * WG, 0u, tok0);
        for (uint k0 = 0u; k0 < p.cols; k0 += BK) {
            for (uint i = 0u; i < NW && i < 4u; ++i) put_w(tid + i * WG, wlo[i], whi[i]);
            for (uint i = 0u; i < NX && i < 4u; ++i) put_x(tid + i * WG, xr[i]);
            barrier();
            if (k0 + BK < p.cols) {
                for (uint i = 0u; i < NW && i < 4u; ++i) fetch_w(tid + i * WG, k0 + BK, lrow0, wlo[i], whi[i]);
                for (uint i = 0u; i < NX && i < 4u; ++i) xr[i] = fetch_x(tid + i * WG, k0 + BK, tok0);
            }
            multiply_slice(lx, ly);
            barrier();
        }
    } else
#endif
    {
        for (uint k0 = 0u; k0 < p.cols; k0 += BK) {
            for (uint e = tid; e < BM * CH; e += WG) {
                vec4 lo, hi;
                fetch_w(e, k0, lrow0, lo, hi);
                put_w(e, lo, hi);
            }
            for (uint e = tid; e < BN * CX; e += WG) put_x(e, fetch_x(e, k0, tok0));
            barrier();
            multiply_slice(lx, ly);
            barrier();
        }
    }
    for (uint j = 0u; j < TN; ++j) {
        const uint tok = tok0 + ly * TN + j;
        if (tok >= p.n_tokens) continue;
        for (uint b = 0u; b < TM / 4u; ++b) {
            const uint L = lrow0 + 4u * (b * WG_X + lx);
            store_pair(L, tok, acc[b][j].xy);
            store_pair(L + 2u, tok, acc[b][j].zw);
        }
    }
}

void main() { tile(gl_WorkGroupID.x * BM, gl_WorkGroupID.y * BN); }
