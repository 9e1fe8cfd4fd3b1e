#version 450
// Causal attention for one (head, token) per workgroup, GQA/MQA by head grouping, online
// softmax over the KV cache in chunks of WG keys: each invocation scores one key of the
// chunk, the workgroup reduces the chunk max / sum, then invocations parallel over head_dim
// accumulate p * V. X = Q [n_tokens][q_stride], Y = out [n_tokens][out_stride],
// A = K cache [pos][kv_dim], B = V cache [pos][kv_dim] (this layer's). head_dim <= 4 * WG.
// Grid: (n_head, n_tokens).
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { AttentionParams p; };

shared float q_sh[1024];
shared float p_sh[WG];

void main() {
    const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y;
    const uint tid = gl_LocalInvocationIndex;
    const uint hd = p.head_dim;
    const uint kvh = h / (p.n_head / p.n_head_kv);
    const uint qb = t * p.q_stride + h * hd;
    for (uint d = tid; d < hd; d += WG) q_sh[d] = xbuf[qb + d] * p.scale;
    barrier();
    const uint n_keys = p.pos0 + t + 1;
    float m = -1.0 / 0.0;
    float l = 0.0;
    float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
    for (uint base = 0; base < n_keys; base += WG) {
        const uint j = base + tid;
        float s = -1.0 / 0.0;
        if (j < n_keys) {
            const uint kb = j * p.kv_dim + kvh * hd;
            s = 0.0;
            for (uint d = 0; d < hd; ++d) s += q_sh[d] * abuf[kb + d];
        }
        const float m_new = max(m, wg_max(s));
        const float corr = exp(m - m_new);
        const float pj = j < n_keys ? exp(s - m_new) : 0.0;
        p_sh[tid] = pj;
        l = l * corr + wg_sum(pj);
        barrier();
        const uint chunk = min(WG, n_keys - base);
        for (uint a = 0; a < 4; ++a) {
            const uint d = tid + a * WG;
            if (d >= hd) break;
            float v = 0.0;
            for (uint jj = 0; jj < chunk; ++jj) v += p_sh[jj] * bbuf[(base + jj) * p.kv_dim + kvh * hd + d];
            acc[a] = acc[a] * corr + v;
        }
        m = m_new;
        barrier();
    }
    const uint ob = t * p.out_stride + h * hd;
    for (uint a = 0; a < 4; ++a) {
        const uint d = tid + a * WG;
        if (d < hd) ybuf[ob + d] = acc[a] / l;
    }
}
