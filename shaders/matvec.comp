#version 450
// Matrix-vector product for decode (one token; also per token for small batches).
// Thread row ly of a workgroup computes one unit = two dot products over k: plain: rows
// (2u, 2u + 1); ROPE: a rotated row pair; SWIGLU: gate row u (W0) and up row u (W1). Its
// WG_X lanes stride over k; on the wide path (p.vec8) a lane reads 8 weights of each row
// per step (16 bytes of 16-bit weights) with MV_STEPS steps in flight, and 16 bytes of x (x comes
// from L1/L2, reused by every row). Then a sum over the WG_X lanes: subgroupAdd alone when
// WG_X is the subgroup size (no shared memory, no barrier).
// Grid: (groups_x, n_tokens, ceil(groups / groups_x)), groups = ceil(units / WG_Y).
// Variants: W_F32 | W_F16 | W_BF16, optional ROPE (B = cos/sin table) or SWIGLU, optional FP16_ARITH.
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { MatmulParams p; };

#if defined(SWIGLU)
#define WLOAD8_B wload8_1
#define WLOAD_B wload1
#else
#define WLOAD8_B wload8_0
#define WLOAD_B wload0
#endif

shared vec2 row_red[WG];

// Sum of v over the WG_X lanes of thread row ly, valid in lane 0. Must be called by the
// whole workgroup in uniform control flow. Assumes subgroups are consecutive runs of
// gl_LocalInvocationIndex (= ly * WG_X + lx), as on every driver we know of.
vec2 row_sum(vec2 v, uint lx, uint ly) {
    if (USE_SUBGROUP && WG_X % gl_SubgroupSize == 0u) {
        v = subgroupAdd(v);
        if (WG_X == gl_SubgroupSize) return v;
        const uint per_row = WG_X / gl_SubgroupSize;
        if (subgroupElect()) row_red[gl_SubgroupID] = v;
        barrier();
        vec2 s = vec2(0.0);
        for (uint i = 0u; i < per_row; ++i) s += row_red[ly * per_row + i];
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
    return row_red[ly * WG_X];
}

#ifndef MV_STEPS
#define MV_STEPS 2u
#endif
// Packets of 8 weights per row that a lane has in flight (the unrolled steps of the loop).
const uint STEPS = MV_STEPS;

// (W0[wa..] . x, Wb[wb..] . x) over p.cols for lane lx; wa, wb, xb: element offsets of the
// rows and of x (multiples of 8, 8 and 4).
vec2 dots_wide(uint wa, uint wb, uint xb, uint lx) {
    const uint n8 = p.cols / 8u, a8 = wa / 8u, b8 = wb / 8u, x4 = xb / 4u;
    vec2 acc = vec2(0.0);
    uint q = lx;
    for (; q + (STEPS - 1u) * WG_X < n8; q += STEPS * WG_X) {
        vec4 al[STEPS], ah[STEPS], bl[STEPS], bh[STEPS];
        for (uint i = 0u; i < STEPS; ++i) {  // all loads first: STEPS * 32 bytes in flight per lane
            wload8_0(a8 + q + i * WG_X, al[i], ah[i]);
            WLOAD8_B(b8 + q + i * WG_X, bl[i], bh[i]);
        }
        for (uint i = 0u; i < STEPS; ++i) {
            const uint xq = x4 + 2u * (q + i * WG_X);
            const vec4 xl = xround4(xvec[xq]), xh = xround4(xvec[xq + 1u]);
            acc += vec2(dot(al[i], xl) + dot(ah[i], xh), dot(bl[i], xl) + dot(bh[i], xh));
        }
    }
    for (; q < n8; q += WG_X) {
        vec4 al, ah, bl, bh;
        wload8_0(a8 + q, al, ah);
        WLOAD8_B(b8 + q, bl, bh);
        const vec4 xl = xround4(xvec[x4 + 2u * q]), xh = xround4(xvec[x4 + 2u * q + 1u]);
        acc += vec2(dot(al, xl) + dot(ah, xh), dot(bl, xl) + dot(bh, xh));
    }
    return acc;
}

// The same with scalar loads (any alignment).
vec2 dots_scalar(uint wa, uint wb, uint xb, uint lx) {
    vec2 acc = vec2(0.0);
    for (uint k = lx; k < p.cols; k += WG_X) {
        const float xv = xround(xbuf[xb + k]);
        acc += vec2(wload0(wa + k) * xv, WLOAD_B(wb + k) * xv);
    }
    return acc;
}

float out_round(float v) { return p.round_f16 != 0u ? round_to_f16(v) : v; }

void main() {
    const uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    const uint unit = (gl_WorkGroupID.z * p.groups_x + gl_WorkGroupID.x) * WG_Y + ly;
    const uint t = gl_WorkGroupID.y;
#if defined(ROPE)
    const uint n_units = p.rows / 2u;
#elif defined(SWIGLU)
    const uint n_units = p.rows;
#else
    const uint n_units = (p.rows + 1u) / 2u;
#endif
    const bool valid = unit < n_units;
    const uint u = min(unit, n_units - 1u);
#if defined(ROPE)
    const RopePair rp = rope_pair(u, p.head_dim, p.n_rot, p.rope_neox);
    const uint ra = rp.r0, rb = rp.r1;
    const uint wb = p.w_offset + rb * p.cols;
#elif defined(SWIGLU)
    const uint ra = u, rb = u;
    const uint wb = p.w1_offset + rb * p.cols;
#else
    const uint ra = 2u * u, rb = min(2u * u + 1u, p.rows - 1u);
    const uint wb = p.w_offset + rb * p.cols;
#endif
    const uint wa = p.w_offset + ra * p.cols;
    const uint xb = p.x_offset + t * p.x_stride;
    vec2 acc = vec2(0.0);
    if (valid) acc = p.vec8 != 0u ? dots_wide(wa, wb, xb, lx) : dots_scalar(wa, wb, xb, lx);
    acc = row_sum(acc, lx, ly);
    if (!valid || lx != 0u) return;
    const uint yb = p.y_offset + t * p.y_stride;
#if defined(SWIGLU)
    const float g = acc.x;
    const float res = g / (1.0 + exp(-g)) * acc.y;
    ybuf[yb + ra] = p.accumulate != 0u ? ybuf[yb + ra] + res : res;
#elif defined(ROPE)
    const vec2 v = rp.rotate ? rope_rotate(acc, p.pos0 + t, rp.i, p.n_rot) : acc;
    ybuf[yb + ra] = out_round(v.x);
    ybuf[yb + rb] = out_round(v.y);
#else
    ybuf[yb + ra] = out_round(p.accumulate != 0u ? ybuf[yb + ra] + acc.x : acc.x);
    if (rb != ra) ybuf[yb + rb] = out_round(p.accumulate != 0u ? ybuf[yb + rb] + acc.y : acc.y);
#endif
}
