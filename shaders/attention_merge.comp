#version 450
// Split-K attention's merge (after attention.comp's SPLIT_K variant): one workgroup per
// (head, token), grid (n_head - head0, n_tokens). X = the partials (PushConstants.h:
// AttentionSplitParams' layout), Y = out [n_tokens][out_stride]. The chunks' outputs are
// rescaled to the overall max score M and summed, out = sum_c acc_c exp(m_c - M) /
// sum_c l_c exp(m_c - M): the same log-sum-exp merge as the subgroups' inside attention.comp,
// so the result is the softmax over every key, in another order of sums.
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { AttentionMergeParams p; };

// Chunk c's scale exp(m_c - mx): exactly 1 for the max's chunk (so a row of one chunk gets
// attention.comp's acc / l, bit for bit), 0 for an empty chunk (m_c = -inf).
float weight(uint i, float mx) {
    const float m = xbuf[p.ml_offset + 2u * i];
    return m == mx ? 1.0 : exp(m - mx);
}

void main() {
    const uint h = p.head0 + gl_WorkGroupID.x, t = gl_WorkGroupID.y;
    const uint first = (t * p.n_head + h) * p.n_chunks;  // index of this (token, head)'s chunk 0
    // Chunk 0 holds the row's first key, so mx is finite.
    float mx = -1.0 / 0.0;
    for (uint c = 0; c < p.n_chunks; ++c) mx = max(mx, xbuf[p.ml_offset + 2u * (first + c)]);
    float total = 0.0;
    for (uint c = 0; c < p.n_chunks; ++c) total += xbuf[p.ml_offset + 2u * (first + c) + 1u] * weight(first + c, mx);
    for (uint d = gl_LocalInvocationIndex; d < p.head_dim; d += WG) {
        float o = 0.0;
        for (uint c = 0; c < p.n_chunks; ++c) o += xbuf[(first + c) * p.head_dim + d] * weight(first + c, mx);
        ybuf[t * p.out_stride + h * p.head_dim + d] = o / total;
    }
}
