#version 450
// Matrix-vector product for decode (one token; per token for small batches). Thread row ly
// computes one unit = two dot products: rows (2u, 2u + 1), a ROPE row pair, or SWIGLU gate /
// up row u; its WG_X lanes stride over k (wide path p.vec8: 16-byte weight loads, MV_STEPS in
// flight), then a sum over the lanes (subgroupAdd alone, no barrier, when WG_X is the subgroup size).
// Grid: (groups_x, n_tokens, ceil(groups / groups_x)), groups = ceil(units / WG_Y). Variants:
// W_F32 | W_F16 | W_BF16, ROPE (B = cos/sin) or SWIGLU, FP16_ARITH, NORM (RMSNorm fused, below).
// Family features (common.glsl): HAS_BIAS adds binding 1's row bias before rope / rounding (not
// SWIGLU); USE_GELU makes SWIGLU's activation gelu_tanh.
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

#if defined(NORM)
// Fused RMSNorm: y = W (x * gamma) / sqrt(mean(x^2) + eps). The lanes of a unit read all of x
// for the dot products anyway, so they also sum x^2 in the same pass (a third component of
// the row sum) and scale both dot products by 1 / rms afterwards: no separate rmsnorm
// dispatch and no barrier before the matvec. gamma: f32 [cols] at p.norm_offset of A
// (binding 4), also read as 16-byte vectors on the wide path.
layout(std430, binding = 4) readonly buffer Gvec { vec4 gvec[]; };
#define RowAcc vec3
#else
#define RowAcc vec2
#endif

shared RowAcc row_red[WG];

// Sum of v over the WG_X lanes of thread row ly, valid in lane 0. Must be called by the
// whole workgroup in uniform control flow. Assumes subgroups are consecutive runs of
// gl_LocalInvocationIndex (= ly * WG_X + lx), as on every driver we know of.
RowAcc row_sum(RowAcc v, uint lx, uint ly) {
    if (USE_SUBGROUP && WG_X % gl_SubgroupSize == 0u) {
        v = subgroupAdd(v);
        if (WG_X == gl_SubgroupSize) return v;
        const uint per_row = WG_X / gl_SubgroupSize;
        if (subgroupElect()) row_red[gl_SubgroupID] = v;
        barrier();
        RowAcc s = RowAcc(0.0);
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

// x[8q, 8q + 8) of the row at vec4 index x4 as (lo, hi), as it enters the products: NORM:
// times gamma (the 1 / rms factor comes after the sum) with the raw x^2 added to ss; then
// xround. FP16_ARITH + NORM rounds x * gamma to f16 where the unfused path rounds
// x * gamma / rms: the same relative error bound (round_to_f16 does not clamp the exponent).
void load_x8(uint x4, uint q, out vec4 lo, out vec4 hi, inout float ss) {
    lo = xvec[x4 + 2u * q];
    hi = xvec[x4 + 2u * q + 1u];
#if defined(NORM)
    ss += dot(lo, lo) + dot(hi, hi);
    const uint g4 = p.norm_offset / 4u + 2u * q;
    lo *= gvec[g4];
    hi *= gvec[g4 + 1u];
#endif
    lo = xround4(lo);
    hi = xround4(hi);
}

// x[xb + k] as it enters the products (see load_x8).
float load_x(uint xb, uint k, inout float ss) {
    float v = xbuf[xb + k];
#if defined(NORM)
    ss += v * v;
    v *= abuf[p.norm_offset + k];
#endif
    return xround(v);
}

// (W0[wa..] . x, Wb[wb..] . x) over p.cols for lane lx; wa, wb, xb: element offsets of the
// rows and of x (multiples of 8, 8 and 4); ss: NORM: += this lane's sum of x^2.
vec2 dots_wide(uint wa, uint wb, uint xb, uint lx, inout float ss) {
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
            vec4 xl, xh;
            load_x8(x4, q + i * WG_X, xl, xh, ss);
            acc += vec2(dot(al[i], xl) + dot(ah[i], xh), dot(bl[i], xl) + dot(bh[i], xh));
        }
    }
    for (; q < n8; q += WG_X) {
        vec4 al, ah, bl, bh;
        wload8_0(a8 + q, al, ah);
        WLOAD8_B(b8 + q, bl, bh);
        vec4 xl, xh;
        load_x8(x4, q, xl, xh, ss);
        acc += vec2(dot(al, xl) + dot(ah, xh), dot(bl, xl) + dot(bh, xh));
    }
    return acc;
}

// The same with scalar loads (any alignment).
vec2 dots_scalar(uint wa, uint wb, uint xb, uint lx, inout float ss) {
    vec2 acc = vec2(0.0);
    for (uint k = lx; k < p.cols; k += WG_X) {
        const float xv = load_x(xb, k, ss);
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
    float ss = 0.0;  // NORM: sum of x^2 over this lane's k
    if (valid) acc = p.vec8 != 0u ? dots_wide(wa, wb, xb, lx, ss) : dots_scalar(wa, wb, xb, lx, ss);
#if defined(NORM)
    const vec3 sums = row_sum(vec3(acc, ss), lx, ly);
    acc = sums.xy * inversesqrt(sums.z / float(p.cols) + p.norm_eps);
#else
    acc = row_sum(acc, lx, ly);
#endif
    if (!valid || lx != 0u) return;
    const uint yb = p.y_offset + t * p.y_stride;
#if defined(SWIGLU)
    const float res = gate_act(acc.x) * acc.y;
    ybuf[yb + ra] = p.accumulate != 0u ? ybuf[yb + ra] + res : res;
#elif defined(ROPE)
    if (HAS_BIAS) acc += vec2(biasbuf[p.bias_offset + ra], biasbuf[p.bias_offset + rb]);
    const vec2 v = rp.rotate ? rope_rotate(acc, p.pos0 + t, rp.i, p.n_rot) : acc;
    ybuf[yb + ra] = out_round(v.x);
    ybuf[yb + rb] = out_round(v.y);
#else
    if (HAS_BIAS) acc += vec2(biasbuf[p.bias_offset + ra], biasbuf[p.bias_offset + rb]);
    ybuf[yb + ra] = out_round(p.accumulate != 0u ? ybuf[yb + ra] + acc.x : acc.x);
    if (rb != ra) ybuf[yb + rb] = out_round(p.accumulate != 0u ? ybuf[yb + rb] + acc.y : acc.y);
#endif
}
