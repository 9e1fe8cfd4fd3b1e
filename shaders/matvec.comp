#version 450
// Matrix-vector product for decode (and per-token for small batches): one workgroup per
// output row (ROPE: per rotated row pair; SWIGLU: per gate/up row pair), the workgroup
// strides over k so consecutive invocations read consecutive weights (coalesced), then a
// subgroup (or shared-memory) reduction. Grid: (groups_x, n_tokens, ceil(units/groups_x)).
// Variants: W_F32 | W_F16 | W_BF16, optional ROPE (B = cos/sin table) or SWIGLU, optional FP16_ARITH.
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { MatmulParams p; };

float out_round(float v) { return p.round_f16 != 0u ? round_to_f16(v) : v; }

void main() {
    const uint unit = gl_WorkGroupID.z * p.groups_x + gl_WorkGroupID.x;
    const uint t = gl_WorkGroupID.y;
    const uint tid = gl_LocalInvocationIndex;
#if defined(ROPE)
    // Pair j of head h: rows (r0, r1) rotated by angle pos * base^(-2i/n_rot).
    const uint half_hd = p.head_dim / 2;
    if (unit >= p.rows / 2) return;
    const uint h = unit / half_hd;
    const uint j = unit % half_hd;
    uint r0, r1, i;
    if (p.rope_neox != 0u) { r0 = h * p.head_dim + j; r1 = r0 + p.n_rot / 2; i = j; }
    else { r0 = h * p.head_dim + 2u * j; r1 = r0 + 1u; i = j; }
    // neox tail (dims >= n_rot, not rotated): two adjacent rows per unit.
    if (p.rope_neox != 0u && j >= p.n_rot / 2) { r0 = h * p.head_dim + p.n_rot + 2u * (j - p.n_rot / 2); r1 = r0 + 1u; }
#else
    if (unit >= p.rows) return;
    const uint r0 = unit;
    const uint r1 = unit;
#endif
    const uint xb = p.x_offset + t * p.x_stride;
    const uint wa = p.w_offset + r0 * p.cols;
    const uint wb = p.w_offset + r1 * p.cols;
    const uint wu = p.w1_offset + r0 * p.cols;
    vec2 acc = vec2(0.0);
    for (uint k = tid; k < p.cols; k += WG) {
        const float xv = xbuf[xb + k];
#if defined(SWIGLU)
        acc += vec2(wmul(wload0(wa + k), xv), wmul(wload1(wu + k), xv));
#else
        acc += vec2(wmul(wload0(wa + k), xv), wmul(wload0(wb + k), xv));
#endif
    }
    acc = wg_sum2(acc);
    if (tid != 0u) return;
    const uint yb = p.y_offset + t * p.y_stride;
#if defined(SWIGLU)
    const float g = acc.x;
    float res = g / (1.0 + exp(-g)) * acc.y;
    ybuf[yb + r0] = p.accumulate != 0u ? ybuf[yb + r0] + res : res;
#elif defined(ROPE)
    const bool rotate = p.rope_neox != 0u ? (j < p.n_rot / 2) : (2u * j < p.n_rot);
    if (!rotate) {
        ybuf[yb + r0] = out_round(acc.x);
        ybuf[yb + r1] = out_round(acc.y);
        return;
    }
    // (cos, sin) from the host-computed table B: [pos][n_rot / 2][2] (GPU sin / cos are
    // too coarse: Vulkan allows 2^-11 absolute error).
    const uint ti = ((p.pos0 + t) * (p.n_rot / 2) + i) * 2u;
    const float c = bbuf[ti], s = bbuf[ti + 1u];
    ybuf[yb + r0] = out_round(acc.x * c - acc.y * s);
    ybuf[yb + r1] = out_round(acc.x * s + acc.y * c);
#else
    ybuf[yb + r0] = out_round(p.accumulate != 0u ? ybuf[yb + r0] + acc.x : acc.x);
#endif
}
