#version 450
// Matrix-vector product for decode, and the small-N kernel for batches of 2..64 rows (decode of
// several sequences). A thread row ly computes BP units; a unit = two dot products: rows
// (2u, 2u + 1), a ROPE row pair, or SWIGLU gate / up row u. Each unit is multiplied into BT
// tokens (x rows) at once, so a weight packet read from memory serves BT tokens: the weights
// are read once per BT tokens instead of once per token. Its WG_X lanes stride over k (wide
// path p.vec8: 16-byte weight loads, MV_STEPS in flight), then a sum over the lanes per (unit,
// token) (subgroupAdd alone, no barrier, when WG_X is the subgroup size). Every output's sum has
// the same order as with BT = BP = 1 (lane partials in k order, then the lane sum): a token's
// result does not depend on the batch it is in.
// Staged small-N (XCH != 0, 16-byte loads only): the x packets are not read from global memory
// per weight packet (BT x 32 bytes of x per 32 bytes of weights, through L2 once the batch's x
// outgrows L1) but staged into shared memory once per workgroup, XCH packets (8 XCH columns) of
// all BT tokens at a time, as they enter the products (NORM's gamma, FP16_ARITH's rounding);
// the lanes then read them from there. Lane lx still takes packets lx + i WG_X in ascending
// order, so the sum order per output stays the one above.
// Regs small-N (REGS != 0 with XCH != 0): the staged kernel with x loaded a chunk ahead into
// registers and read once per thread row for all its units (matvec_regs.glsl).
// Grid: (groups_x, ceil(n_tokens / BT), ceil(groups / groups_x)), groups = ceil(units / (WG_Y * BP));
// tokens past n_tokens in the last block compute on the last token's x and are not stored.
// Variants: W_F32 | W_F16 | W_BF16, ROPE (B = cos/sin) or SWIGLU, FP16_ARITH, NORM (RMSNorm fused, below).
// Family features (common.glsl): HAS_BIAS adds binding 1's row bias before rope / rounding (not
// SWIGLU); USE_GELU makes SWIGLU's activation gelu_tanh.
#extension GL_GOOGLE_include_directive : enable
#extension GL_EXT_control_flow_attributes : enable
#include "common.glsl"

layout(push_constant) uniform PC { MatmulParams p; };

#if defined(SWIGLU)
#define WLOAD8_B wload8_1
#define WRAW8_B wraw8_1
#define WLOAD_B wload1
#else
#define WLOAD8_B wload8_0
#define WRAW8_B wraw8_0
#define WLOAD_B wload0
#endif

// Small-N batches (ShaderSpecialization::batch_tokens / batch_units): tokens per workgroup and
// units per thread row. 1 / 1: one token per workgroup row of the grid (decode).
layout(constant_id = 8) const uint BT = 1;
layout(constant_id = 9) const uint BP = 1;
// Staged small-N: packets per chunk of x in shared memory (a multiple of WG_X), 0: off.
layout(constant_id = 10) const uint XCH = 0;
// 1: the staged chunks run the regs kernel (matvec_regs.glsl; XCH a multiple of WG_X), 0: dots_staged.
layout(constant_id = 11) const uint REGS = 0;
// Chunk of x: xs[t * XCH + c] = the low 4 values of packet c of token t, xs[(BT + t) * XCH + c]
// the high 4 (two planes, so that adjacent lanes read adjacent 16 bytes: no bank conflicts).
shared vec4 xs[2u * BT * XCH + 1u];

#if defined(NORM)
// Fused RMSNorm: y = W (x * gamma) / sqrt(mean(x^2) + eps). The lanes of a unit read all of x
// for the dot products anyway, so they also sum x^2 in the same pass (a third component of
// the row sum) and scale both dot products by 1 / rms afterwards: no separate rmsnorm
// dispatch and no barrier before the matvec. gamma: f32 [cols] at p.norm_offset of A
// (binding 4), also read as 16-byte vectors on the wide path.
layout(std430, binding = 4) readonly buffer Gvec { vec4 gvec[]; };
#define RowAcc vec3
shared float ss_sh[BT * WG_X];  // staged kernel: ss[t] of lane lx at t * WG_X + lx
#else
#define RowAcc vec2
#endif

shared RowAcc row_red[WG];

// Sum of v over the WG_X lanes of thread row ly, valid in lane 0. Must be called by the
// whole workgroup in uniform control flow. Assumes subgroups are consecutive runs of
// gl_LocalInvocationIndex (= ly * WG_X + lx), as on every driver we know of. With several
// sums per invocation (BT * BP > 1) the shared-memory paths end with a barrier, so that the
// next call's writes cannot overtake this call's reads.
RowAcc row_sum(RowAcc v, uint lx, uint ly) {
    const uint again = BT * BP - 1u;  // integer: glslang 11 miscompiles boolean spec-constant expressions
    if (USE_SUBGROUP && WG_X % gl_SubgroupSize == 0u) {
        v = subgroupAdd(v);
        if (WG_X == gl_SubgroupSize) return v;
        const uint per_row = WG_X / gl_SubgroupSize;
        if (subgroupElect()) row_red[gl_SubgroupID] = v;
        barrier();
        RowAcc s = RowAcc(0.0);
        for (uint i = 0u; i < per_row; ++i) s += row_red[ly * per_row + i];
        if (again != 0u) barrier();
        return s;
    }
    const uint tid = ly * WG_X + lx;
    row_red[tid] = v;
    barrier();
    uint p2 = 1u;
    while (p2 < WG_X) p2 <<= 1;
    for (uint s = p2 >> 1; s > 0u; s >>= 1) {
        if (lx < s && lx + s < WG_X) row_red[tid] += row_red[tid + s];
        barrier();
    }
    const RowAcc total = row_red[ly * WG_X];
    if (again != 0u) barrier();
    return total;
}

#ifndef MV_STEPS
#define MV_STEPS 2u
#endif
// Packets of 8 weights per row that a lane has in flight (the unrolled steps of the loop).
const uint STEPS = MV_STEPS;

// This invocation's units and tokens (set by main): element offsets of the unit's rows
// (wa: W0 row, wb: W0 or W1 row) and of the tokens' x rows; the partial sums acc[j * BT + t]
// of unit j and token t, and (NORM) ss[t], this lane's sum of x^2 of token t.
uint wa[BP], wb[BP];
uint xb[BT];
vec2 acc[BP * BT];
float ss[BT];

// x[8q, 8q + 8) of the row at vec4 index x4 as (lo, hi), as it enters the products: NORM:
// times gamma (the 1 / rms factor comes after the sum) with the raw x^2 added to ss; then
// xround. FP16_ARITH + NORM rounds x * gamma to f16 where the unfused path rounds
// x * gamma / rms: the same relative error bound (round_to_f16 does not clamp the exponent).
void load_x8(uint x4, uint q, out vec4 lo, out vec4 hi, inout float sq) {
    lo = xvec[x4 + 2u * q];
    hi = xvec[x4 + 2u * q + 1u];
#if defined(NORM)
    sq += dot(lo, lo) + dot(hi, hi);
    const uint g4 = p.norm_offset / 4u + 2u * q;
    lo *= gvec[g4];
    hi *= gvec[g4 + 1u];
#endif
    lo = xround4(lo);
    hi = xround4(hi);
}

// x[xbase + k] as it enters the products (see load_x8).
float load_x(uint xbase, uint k, inout float sq) {
    float v = xbuf[xbase + k];
#if defined(NORM)
    sq += v * v;
    v *= abuf[p.norm_offset + k];
#endif
    return xround(v);
}

// acc += the weight packets q + i * WG_X (i < n <= STEPS; 16-byte loads) of every unit times
// every token's x packet. All weight loads first: n * BP * 32 bytes in flight per lane.
void packets_wide(uint q, uint n) {
    vec4 al[STEPS * BP], ah[STEPS * BP], bl[STEPS * BP], bh[STEPS * BP];
    for (uint i = 0u; i < n; ++i)
        for (uint j = 0u; j < BP; ++j) {
            wload8_0(wa[j] / 8u + q + i * WG_X, al[i * BP + j], ah[i * BP + j]);
            WLOAD8_B(wb[j] / 8u + q + i * WG_X, bl[i * BP + j], bh[i * BP + j]);
        }
    for (uint i = 0u; i < n; ++i)
        for (uint t = 0u; t < BT; ++t) {
            vec4 xl, xh;
            load_x8(xb[t] / 4u, q + i * WG_X, xl, xh, ss[t]);
            for (uint j = 0u; j < BP; ++j) {
                const uint w = i * BP + j;
                acc[j * BT + t] += vec2(dot(al[w], xl) + dot(ah[w], xh), dot(bl[w], xl) + dot(bh[w], xh));
            }
        }
}

// The dot products over p.cols for lane lx; wa, wb, xb multiples of 8, 8 and 4.
void dots_wide(uint lx) {
    const uint n8 = p.cols / 8u;
    uint q = lx;
    for (; q + (STEPS - 1u) * WG_X < n8; q += STEPS * WG_X) packets_wide(q, STEPS);
    for (; q < n8; q += WG_X) packets_wide(q, 1u);
}

// The same with scalar loads (any alignment).
void dots_scalar(uint lx) {
    for (uint k = lx; k < p.cols; k += WG_X) {
        float a[BP], b[BP];
        for (uint j = 0u; j < BP; ++j) {
            a[j] = wload0(wa[j] + k);
            b[j] = WLOAD_B(wb[j] + k);
        }
        for (uint t = 0u; t < BT; ++t) {
            const float xv = load_x(xb[t], k, ss[t]);
            for (uint j = 0u; j < BP; ++j) acc[j * BT + t] += vec2(a[j] * xv, b[j] * xv);
        }
    }
}

// Stages packets [c0, c0 + XCH) (those < n8) of every token's x into xs. Thread (lx, ly) takes
// tokens ly, ly + WG_Y, .. and packets lx + m WG_X, so (NORM) its ss[t] sums x^2 of exactly the
// packets lane lx multiplies, in the same order as the unstaged kernel.
void stage_x(uint c0, uint n8, uint t0, uint lx, uint ly) {
    for (uint t = ly; t < BT; t += WG_Y) {
        const uint x4 = (p.x_offset + min(t0 + t, p.n_tokens - 1u) * p.x_stride) / 4u;
        for (uint c = lx; c < XCH && c0 + c < n8; c += WG_X) {
            vec4 lo, hi;
            load_x8(x4, c0 + c, lo, hi, ss[t]);
            xs[t * XCH + c] = lo;
            xs[(BT + t) * XCH + c] = hi;
        }
    }
}

// The staged kernel's weight packets, undecoded: the current one of each unit (ra[j], rb[j]:
// its rows wa[j], wb[j]) and the next (na, nb), in flight while the current one is used.
WRaw ra[BP], rb[BP], na[BP], nb[BP];

// acc += the current weight packets (ra, rb) of every unit times every token's staged packet c.
void packet_staged(uint c) {
    for (uint j = 0u; j < BP; ++j) {
        vec4 al, ah, bl, bh;
        wdecode8(ra[j], al, ah);
        wdecode8(rb[j], bl, bh);
        for (uint t = 0u; t < BT; ++t) {
            const vec4 xl = xs[t * XCH + c], xh = xs[(BT + t) * XCH + c];
            acc[j * BT + t] += vec2(dot(al, xl) + dot(ah, xh), dot(bl, xl) + dot(bh, xh));
        }
    }
}

// The dot products over p.cols for lane lx, x staged chunk by chunk (whole workgroup, uniform
// control flow: it has barriers). The lane's next weight packet (q + WG_X, possibly in the next
// chunk) is loaded before the current one is used, so it is in flight across the products and
// the staging.
void dots_staged(uint t0, uint lx, uint ly) {
    const uint n8 = p.cols / 8u;
    uint q = lx;
    for (uint j = 0u; j < BP; ++j) {
        ra[j] = wraw8_0(wa[j] / 8u + min(q, n8 - 1u));
        rb[j] = WRAW8_B(wb[j] / 8u + min(q, n8 - 1u));
    }
    for (uint c0 = 0u; c0 < n8; c0 += XCH) {
        barrier();  // every lane is done with the previous chunk
        stage_x(c0, n8, t0, lx, ly);
        barrier();
        for (; q < min(c0 + XCH, n8); q += WG_X) {
            const uint qn = min(q + WG_X, n8 - 1u);
            for (uint j = 0u; j < BP; ++j) {
                na[j] = wraw8_0(wa[j] / 8u + qn);
                nb[j] = WRAW8_B(wb[j] / 8u + qn);
            }
            packet_staged(q - c0);
            for (uint j = 0u; j < BP; ++j) {
                ra[j] = na[j];
                rb[j] = nb[j];
            }
        }
    }
#if defined(NORM)
    // ss[t] of lane lx is in thread row t % WG_Y: hand it to every thread row.
    for (uint t = ly; t < BT; t += WG_Y) ss_sh[t * WG_X + lx] = ss[t];
    barrier();
    for (uint t = 0u; t < BT; ++t) ss[t] = ss_sh[t * WG_X + lx];
#endif
}

float out_round(float v) { return p.round_f16 != 0u ? round_to_f16(v) : v; }

#if defined(ROPE)
uint n_units() { return p.rows / 2u; }
#elif defined(SWIGLU)
uint n_units() { return p.rows; }
#else
uint n_units() { return (p.rows + 1u) / 2u; }
#endif

// Rows (ra, rb) of unit u (u < n_units()).
void unit_rows(uint u, out uint ra, out uint rb) {
#if defined(ROPE)
    const RopePair rp = rope_pair(u, p.head_dim, p.n_rot, p.rope_neox);
    ra = rp.r0;
    rb = rp.r1;
#elif defined(SWIGLU)
    ra = u;
    rb = u;
#else
    ra = 2u * u;
    rb = min(2u * u + 1u, p.rows - 1u);
#endif
}

// Writes unit u's results a = (W_ra . x, W_rb . x) of token t.
void store_unit(uint u, uint t, vec2 a) {
    uint ra, rb;
    unit_rows(u, ra, rb);
    const uint yb = p.y_offset + t * p.y_stride;
#if defined(SWIGLU)
    const float res = gate_act(a.x) * a.y;
    ybuf[yb + ra] = p.accumulate != 0u ? ybuf[yb + ra] + res : res;
#elif defined(ROPE)
    if (HAS_BIAS) a += vec2(biasbuf[p.bias_offset + ra], biasbuf[p.bias_offset + rb]);
    const RopePair rp = rope_pair(u, p.head_dim, p.n_rot, p.rope_neox);
    const vec2 v = rp.rotate ? rope_rotate(a, p.pos0 + t, rp.i, p.n_rot) : a;
    ybuf[yb + ra] = out_round(v.x);
    ybuf[yb + rb] = out_round(v.y);
#else
    if (HAS_BIAS) a += vec2(biasbuf[p.bias_offset + ra], biasbuf[p.bias_offset + rb]);
    ybuf[yb + ra] = out_round(p.accumulate != 0u ? ybuf[yb + ra] + a.x : a.x);
    if (rb != ra) ybuf[yb + rb] = out_round(p.accumulate != 0u ? ybuf[yb + rb] + a.y : a.y);
#endif
}

#include "matvec_regs.glsl"

// wa, wb: the weight rows of units unit0 .. unit0 + BP - 1 (past the last unit: its rows, not stored).
void tile_rows(uint unit0) {
    const uint nu = n_units();
    [[unroll]] for (uint j = 0u; j < BP; ++j) {
        uint ra, rb;
        unit_rows(min(unit0 + j, nu - 1u), ra, rb);
        wa[j] = p.w_offset + ra * p.cols;
#if defined(SWIGLU)
        wb[j] = p.w1_offset + rb * p.cols;
#else
        wb[j] = p.w_offset + rb * p.cols;
#endif
    }
}

void main() {
    const uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    const uint unit0 = ((gl_WorkGroupID.z * p.groups_x + gl_WorkGroupID.x) * WG_Y + ly) * BP;
    const uint t0 = gl_WorkGroupID.y * BT;
    tile_rows(unit0);
    if (REGS != 0u && XCH != 0u && p.vec8 != 0u) {  // every invocation: barriers (as dots_staged)
        dots_regs(t0, lx, ly);
        reduce_store_regs(unit0, t0, lx, ly);
        return;
    }
    const uint nu = n_units();
    for (uint t = 0u; t < BT; ++t) {
        xb[t] = p.x_offset + min(t0 + t, p.n_tokens - 1u) * p.x_stride;
        ss[t] = 0.0;
    }
    for (uint i = 0u; i < BP * BT; ++i) acc[i] = vec2(0.0);
    if (XCH != 0u && p.vec8 != 0u) {
        dots_staged(t0, lx, ly);  // every invocation: barriers (past the units: on the last unit's rows, not stored)
    } else if (unit0 < nu) {
        if (p.vec8 != 0u) dots_wide(lx);
        else dots_scalar(lx);
    }
    for (uint j = 0u; j < BP; ++j)
        for (uint t = 0u; t < BT; ++t) {
#if defined(NORM)
            const vec3 sums = row_sum(vec3(acc[j * BT + t], ss[t]), lx, ly);
            const vec2 r = sums.xy * inversesqrt(sums.z / float(p.cols) + p.norm_eps);
#else
            const vec2 r = row_sum(acc[j * BT + t], lx, ly);
#endif
            if (lx == 0u && unit0 + j < nu && t0 + t < p.n_tokens) store_unit(unit0 + j, t0 + t, r);
        }
}
