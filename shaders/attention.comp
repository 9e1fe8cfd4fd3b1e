#version 450
// Causal attention for one (head, token) per workgroup, GQA/MQA by head grouping, online
// softmax over the KV cache. X = Q [n_tokens][q_stride], Y = out [n_tokens][out_stride],
// A = K cache [pos][kv_dim], B = V cache [pos][kv_dim] (this layer's). Grid: (n_head, n_tokens).
//
// Two paths, chosen by values uniform over the dispatch:
// - subgroup path (USE_SUBGROUP, whole subgroups, head_dim <= MAXD * subgroup size and
//   <= 256): up to NSG_MAX subgroups each take every NSG-th key with their own running
//   max / sum / output (flash-decoding inside the workgroup, no workgroup barrier per key);
//   a lane owns dims lane, lane + S, ... (coalesced K / V row reads), the dot product is a
//   subgroupAdd; two keys per step keep two K and V rows in flight. The NSG partial
//   results are merged at the end through shared memory. One decode token of a 7B head
//   (128 dims, 64 keys) was latency-bound at 1 invocation per key with serial 128-element
//   dot products in the previous version.
// - shared-memory path (otherwise): chunks of WG keys, one invocation scores one key,
//   workgroup max / sum reductions, invocations parallel over head_dim accumulate p * V
//   (head_dim <= 4 * WG, <= 1024).
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { AttentionParams p; };

const uint MAXD = 8;      // dims per lane on the subgroup path
const uint NSG_MAX = 8;   // subgroups that take keys on the subgroup path
shared float sh[2048];    // shared path: Q (<= 1024); subgroup path: per-subgroup outputs [NSG_MAX][head_dim <= 256]
shared float p_sh[WG];
shared float m_sh[NSG_MAX];
shared float l_sh[NSG_MAX];

void attention_shared(uint h, uint t, uint kvh) {
    const uint tid = gl_LocalInvocationIndex;
    const uint hd = p.head_dim;
    const uint qb = t * p.q_stride + h * hd;
    for (uint d = tid; d < hd; d += WG) sh[d] = xbuf[qb + d] * p.scale;
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
            for (uint d = 0; d < hd; ++d) s += sh[d] * abuf[kb + d];
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

// Partial dot product of this lane's dims of Q (q) with K row j.
float k_dot(float q[MAXD], uint j, uint kvh, uint lane, uint S) {
    const uint kb = j * p.kv_dim + kvh * p.head_dim + lane;
    float s = 0.0;
    for (uint i = 0; i < MAXD; ++i)
        if (lane + i * S < p.head_dim) s += q[i] * abuf[kb + i * S];
    return s;
}

void attention_subgroup(uint h, uint t, uint kvh) {
    const uint hd = p.head_dim, S = gl_SubgroupSize, lane = gl_SubgroupInvocationID, sg = gl_SubgroupID;
    const uint nsg = min(gl_NumSubgroups, NSG_MAX);
    const uint n_keys = p.pos0 + t + 1;
    float m = -1.0 / 0.0, l = 0.0;
    float acc[MAXD];
    for (uint i = 0; i < MAXD; ++i) acc[i] = 0.0;
    if (sg < nsg) {
        float q[MAXD];
        const uint qb = t * p.q_stride + h * hd + lane;
        for (uint i = 0; i < MAXD; ++i) q[i] = lane + i * S < hd ? xbuf[qb + i * S] * p.scale : 0.0;
        const uint vb = kvh * hd + lane;
        for (uint j = sg; j < n_keys; j += 2 * nsg) {
            const uint j2 = j + nsg;
            const bool two = j2 < n_keys;  // uniform over the subgroup
            const float s1 = subgroupAdd(k_dot(q, j, kvh, lane, S));
            const float s2 = two ? subgroupAdd(k_dot(q, j2, kvh, lane, S)) : -1.0 / 0.0;
            const float m_new = max(m, max(s1, s2));
            const float corr = exp(m - m_new), p1 = exp(s1 - m_new), p2 = two ? exp(s2 - m_new) : 0.0;
            l = l * corr + p1 + p2;
            for (uint i = 0; i < MAXD; ++i) {
                if (lane + i * S >= hd) break;
                const float v2 = two ? bbuf[j2 * p.kv_dim + vb + i * S] : 0.0;
                acc[i] = acc[i] * corr + p1 * bbuf[j * p.kv_dim + vb + i * S] + p2 * v2;
            }
            m = m_new;
        }
        for (uint i = 0; i < MAXD; ++i)
            if (lane + i * S < hd) sh[sg * hd + lane + i * S] = acc[i];
        if (subgroupElect()) {
            m_sh[sg] = m;
            l_sh[sg] = l;
        }
    }
    barrier();
    // Merge: every subgroup's (m, l, acc) rescaled to the overall max (subgroup 0 always has key 0).
    float mx = m_sh[0];
    for (uint s = 1; s < nsg; ++s) mx = max(mx, m_sh[s]);
    float total = 0.0;
    for (uint s = 0; s < nsg; ++s) total += l_sh[s] * exp(m_sh[s] - mx);
    const uint ob = t * p.out_stride + h * hd;
    for (uint d = gl_LocalInvocationIndex; d < hd; d += WG) {
        float o = 0.0;
        for (uint s = 0; s < nsg; ++s) o += sh[s * hd + d] * exp(m_sh[s] - mx);
        ybuf[ob + d] = o / total;
    }
}

void main() {
    const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y;
    const uint kvh = h / (p.n_head / p.n_head_kv);
    // Whole subgroups only (a partial last subgroup would own the wrong dims).
    const bool sg_path = USE_SUBGROUP && WG % gl_SubgroupSize == 0 && p.head_dim <= MAXD * gl_SubgroupSize && p.head_dim <= 256;
    if (sg_path) attention_subgroup(h, t, kvh);
    else attention_shared(h, t, kvh);
}
