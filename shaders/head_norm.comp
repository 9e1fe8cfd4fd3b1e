#version 450
// Per-head RMSNorm, then rope, in place (the Q / K head norms of qwen3 / gemma3, which sit
// between the projection and rope, so rope cannot be fused into the matvec there). Workgroup
// (h, t) norms head h of token t of Y by gamma (f32, head_dim values of A at norm_offset),
// rotates its pairs as the matvec ROPE epilogue does (cos / sin table in B) and rounds them to
// f16 if asked. Grid (n_heads, n_tokens); head_dim <= MAX_HEAD_DIM.
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { HeadNormParams p; };

const uint MAX_HEAD_DIM = 1024u;
shared float head_sh[MAX_HEAD_DIM];

float out_round(float v) { return p.round_f16 != 0u ? round_to_f16(v) : v; }

void main() {
    const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y, tid = gl_LocalInvocationIndex;
    const uint hd = p.head_dim, base = p.y_offset + t * p.y_stride + h * hd;
    float ss = 0.0;
    for (uint i = tid; i < hd; i += WG) {
        const float v = ybuf[base + i];
        head_sh[i] = v;
        ss += v * v;
    }
    ss = wg_sum(ss);  // its barriers also make head_sh visible
    const float inv = inversesqrt(ss / float(hd) + p.eps);
    for (uint u = tid; u < hd / 2u; u += WG) {
        const RopePair rp = rope_pair(u, hd, p.n_rot, p.rope_neox);  // head 0: offsets within the head
        vec2 v = vec2(head_sh[rp.r0] * inv * abuf[p.norm_offset + rp.r0], head_sh[rp.r1] * inv * abuf[p.norm_offset + rp.r1]);
        if (rp.rotate) v = rope_rotate(v, p.pos0 + t, rp.i, p.n_rot);
        ybuf[base + rp.r0] = out_round(v.x);
        ybuf[base + rp.r1] = out_round(v.y);
    }
}
