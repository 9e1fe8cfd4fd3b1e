#version 450
// Matrix-vector product for decode (one token; also per token for small batches).
// Thread row ly of a workgroup computes one unit = two dot products over k: plain: rows
// (2u, 2u + 1); ROPE: a rotated row pair; SWIGLU: gate row u (W0) and up row u (W1). Its
// WG_X lanes stride over k; on the wide path (p.vec8) a lane reads 8 weights of each row
// per step (16 bytes of 16-bit weights) with MV_STEPS steps in flight, and 16 bytes of x (x comes
// from L1/L2, reused by every row; NORM: normalized x from shared memory, see below). Then a
// sum over the WG_X lanes: subgroupAdd alone when WG_X is the subgroup size (no shared
// memory, no barrier).
// Grid: (groups_x, n_tokens, ceil(groups / groups_x)), groups = ceil(units / WG_Y).
// Variants: W_F32 | W_F16 | W_BF16, optional ROPE (B = cos/sin table) or SWIGLU, optional FP16_ARITH,
// optional NORM: X is the raw residual and the workgroup applies RMSNorm itself (see below).
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
// Fused RMSNorm: y = W rmsnorm(x), rmsnorm(x) = x / sqrt(mean(x^2) + eps) * gamma, gamma: f32
// [cols] at p.norm_offset of A (binding 4), also read as 16-byte vectors on the wide path.
// Staged (cols <= XS_COLS): before the dot loop the whole workgroup reads the token's x once,
// coalesced, sums x^2 over the workgroup, and writes xs = xround(x * inv * gamma) (inv =
// 1 / rms, the unfused rmsnorm.comp's f32 operations in its order) into shared memory; the
// dot loops then read xs, so the inner loop has no gamma loads and no scaling, one staging
// serves every unit of the workgroup (they share the token row gl_WorkGroupID.y), and the
// products equal the unfused path's up to the summation order of x^2 (inv may differ by an
// ulp). Fallback (cols > XS_COLS, e.g. 8192 in the f32 variants): each unit reads x and
// gamma in the dot loop, sums x^2 in the same pass (a third component of the row sum) and
// scales both dot products by 1 / rms afterwards; xround then rounds x * gamma, not
// x * gamma / rms (the same relative error bound).
layout(std430, binding = 4) readonly buffer Gvec { vec4 gvec[]; };
#define RowAcc vec3
// xs is packet-major like the wide loop's reads (packet q = x[8q, 8q + 8)), so lane q of a
// thread row reads 16 consecutive bytes per array at a stride of WG_X packets: no bank
// conflicts. A fixed 16 KB whatever cols is (with row_red and common.glsl's red_sh: 18.5 KB
// for 128 invocations, 21 KB for 256; lavapipe allows 32 KB), so shared memory admits 12
// workgroups of 128 invocations (48 warps) per H100 SM (228 KB).
#if defined(FP16_ARITH)
// xs[q] = packet q as 8 f16 (packHalf2x16 pairs): exact, since xround already rounded to f16
// precision, except values under 6.1e-5 (f16 subnormals, or 0 where a driver flushes them:
// an absolute error under 6.1e-5 on terms that small) and over 65504 (|gamma| > 720, as
// |x| / rms <= sqrt(cols) <= 90.5). Without USE_FP16 xround does not round, so that
// specialization takes the fallback.
const uint XS_PACKETS = 1024u;
shared uvec4 xs[XS_PACKETS];
#else
// xs[q] = packet q's low 4 values, xs[XS_PACKETS + q] its high 4 (f32).
const uint XS_PACKETS = 512u;
shared vec4 xs[2u * XS_PACKETS];
#endif
const uint XS_COLS = 8u * XS_PACKETS;  // 8192 (f16), 4096 (f32)
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

#if defined(NORM)
// Whether this dispatch stages normalized x in xs (uniform: push and specialization constants).
bool xs_staged() {
#if defined(FP16_ARITH)
    if (!USE_FP16) return false;
#endif
    return p.cols <= XS_COLS;
}

// Packet q of a row as (lo, hi): 16-byte loads on the wide path (p.vec8: base a multiple of
// 4 floats, cols of 8), else scalar loads of elements < p.cols (0 past it). base: element
// offset of the row; buf4: the same buffer as vec4s (vec8 only). A macro: GLSL cannot pass
// a buffer to a function.
#define READ8(buf, buf4, base, q, lo, hi)                                              \
    if (p.vec8 != 0u) {                                                                \
        lo = buf4[(base) / 4u + 2u * (q)];                                             \
        hi = buf4[(base) / 4u + 2u * (q) + 1u];                                        \
    } else {                                                                           \
        float v_[8];                                                                   \
        for (uint i_ = 0u; i_ < 8u; ++i_) {                                            \
            const uint k_ = 8u * (q) + i_;                                             \
            v_[i_] = k_ < p.cols ? buf[(base) + k_] : 0.0;                             \
        }                                                                              \
        lo = vec4(v_[0], v_[1], v_[2], v_[3]);                                         \
        hi = vec4(v_[4], v_[5], v_[6], v_[7]);                                         \
    }
void read_x8(uint xb, uint q, out vec4 lo, out vec4 hi) { READ8(xbuf, xvec, xb, q, lo, hi) }
void read_g8(uint q, out vec4 lo, out vec4 hi) { READ8(abuf, gvec, p.norm_offset, q, lo, hi) }

// xs = xround(x * inv * gamma) for the token row at xb, by the whole workgroup (uniform
// control flow): invocation i takes packets i, i + WG, ... (32 consecutive bytes each, so
// a subgroup reads one contiguous run); the second read of its x packets hits the cache.
void stage_x(uint xb) {
    const uint tid = gl_LocalInvocationIndex, packets = (p.cols + 7u) / 8u;
    float ss = 0.0;
    for (uint q = tid; q < packets; q += WG) {
        vec4 lo, hi;
        read_x8(xb, q, lo, hi);
        ss += dot(lo, lo) + dot(hi, hi);
    }
    const float inv = inversesqrt(wg_sum(ss) / float(p.cols) + p.norm_eps);
    for (uint q = tid; q < packets; q += WG) {
        vec4 lo, hi, glo, ghi;
        read_x8(xb, q, lo, hi);
        read_g8(q, glo, ghi);
        lo = xround4(lo * inv * glo);
        hi = xround4(hi * inv * ghi);
#if defined(FP16_ARITH)
        xs[q] = uvec4(packHalf2x16(lo.xy), packHalf2x16(lo.zw), packHalf2x16(hi.xy), packHalf2x16(hi.zw));
#else
        xs[q] = lo;
        xs[XS_PACKETS + q] = hi;
#endif
    }
    barrier();
}

void xs_load8(uint q, out vec4 lo, out vec4 hi) {
#if defined(FP16_ARITH)
    const uvec4 h = xs[q];
    lo = vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
    hi = vec4(unpackHalf2x16(h.z), unpackHalf2x16(h.w));
#else
    lo = xs[q];
    hi = xs[XS_PACKETS + q];
#endif
}

float xs_load(uint k) {
#if defined(FP16_ARITH)
    return unpackHalf2x16(xs[k / 8u][(k / 2u) & 3u] >> (16u * (k & 1u))).x;
#else
    return xs[((k & 4u) != 0u ? XS_PACKETS : 0u) + k / 8u][k & 3u];
#endif
}
#endif

// x[8q, 8q + 8) of the row at vec4 index x4 as (lo, hi), as it enters the products.
// staged (NORM only; a literal at every call, so each loop is compiled without the branch):
// from xs. Otherwise from X; NORM: times gamma with the raw x^2 added to ss (fallback, see
// above); then xround.
void load_x8(uint x4, uint q, const bool staged, out vec4 lo, out vec4 hi, inout float ss) {
#if defined(NORM)
    if (staged) {
        xs_load8(q, lo, hi);
        return;
    }
#endif
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
float load_x(uint xb, uint k, const bool staged, inout float ss) {
#if defined(NORM)
    if (staged) return xs_load(k);
#endif
    float v = xbuf[xb + k];
#if defined(NORM)
    ss += v * v;
    v *= abuf[p.norm_offset + k];
#endif
    return xround(v);
}

// (W0[wa..] . x, Wb[wb..] . x) over p.cols for lane lx; wa, wb, xb: element offsets of the
// rows and of x (multiples of 8, 8 and 4); staged: x from xs (see load_x8); ss: NORM, not
// staged: += this lane's sum of x^2.
vec2 dots_wide(uint wa, uint wb, uint xb, uint lx, const bool staged, inout float ss) {
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
            load_x8(x4, q + i * WG_X, staged, xl, xh, ss);
            acc += vec2(dot(al[i], xl) + dot(ah[i], xh), dot(bl[i], xl) + dot(bh[i], xh));
        }
    }
    for (; q < n8; q += WG_X) {
        vec4 al, ah, bl, bh;
        wload8_0(a8 + q, al, ah);
        WLOAD8_B(b8 + q, bl, bh);
        vec4 xl, xh;
        load_x8(x4, q, staged, xl, xh, ss);
        acc += vec2(dot(al, xl) + dot(ah, xh), dot(bl, xl) + dot(bh, xh));
    }
    return acc;
}

// The same with scalar loads (any alignment).
vec2 dots_scalar(uint wa, uint wb, uint xb, uint lx, const bool staged, inout float ss) {
    vec2 acc = vec2(0.0);
    for (uint k = lx; k < p.cols; k += WG_X) {
        const float xv = load_x(xb, k, staged, ss);
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
#if defined(NORM)
    const bool staged = xs_staged();
    if (staged) stage_x(xb);
#else
    const bool staged = false;
#endif
    vec2 acc = vec2(0.0);
    float ss = 0.0;  // NORM, not staged: sum of x^2 over this lane's k
    if (valid) {
        if (staged) acc = p.vec8 != 0u ? dots_wide(wa, wb, xb, lx, true, ss) : dots_scalar(wa, wb, xb, lx, true, ss);
        else acc = p.vec8 != 0u ? dots_wide(wa, wb, xb, lx, false, ss) : dots_scalar(wa, wb, xb, lx, false, ss);
    }
#if defined(NORM)
    const vec3 sums = row_sum(vec3(acc, ss), lx, ly);
    acc = staged ? sums.xy : sums.xy * inversesqrt(sums.z / float(p.cols) + p.norm_eps);
#else
    acc = row_sum(acc, lx, ly);
#endif
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
