#version 450
// Causal attention, one (head, token) per workgroup, GQA by head grouping, online softmax.
// X = Q [n_tokens][q_stride], Y = out [n_tokens][out_stride], A / B = this layer's K / V cache
// [pos][kv_dim] (f32, or with KV_F16 two f16 per uint). Grid (n_head - head0, n_tokens);
// head0 > 0: the GPU's heads of a hybrid row split.

// Subgroup path (head_dim % 4 == 0, <= 8 * subgroup size, <= 256): NSG subgroups take every
// NSG-th key, KS keys per step in flight (flash-decoding inside the workgroup), merged through
// shared memory at the end. Otherwise chunks of WG keys, one invocation per key (head_dim <= 1024).

// Family features (common.glsl): HAS_SOFTCAP soft-caps the scores; HAS_WINDOW limits a query at
// position p to the keys [p + 1 - window, p] and reads position j at ring row j % kv_rows.

// KV_F16: this dispatch's own K / V rows arrive as f32 in W0 / W1 [n_tokens][kv_dim]; keys >= pos0
// are read there, and each KV head's first query head writes them to cache row pos0 + t (no
// other workgroup reads those rows, so no race).

// PAGED (with KV_F16): the rows are tokens of several sequences (Backend::forward_batch). Binding 6
// holds, per row t, (position, first position of its chunk, row of that first position, offset of
// its sequence's block table) at element row_info + 4 t, and the block tables (block ids); the
// caches are pools of blocks of block_positions rows, so position j of row t's sequence is cache
// row table[j / P] * P + j % P. Keys at or past the chunk's first position are its new rows (W0 /
// W1); each row stores its own K / V into its position's cache row (a sequence's blocks are its
// own where it writes: shared blocks are copied first). A sliding window only limits the keys.

// SPLIT_K (split-K / flash decoding; contiguous or PAGED caches): grid z cuts each query's keys into
// chunks of sk.chunk_keys from its first key; a workgroup attends over one chunk and writes its
// unnormalized output and (max, sum) to Y (layout in PushConstants.h); attention_merge.comp
// combines the chunks. Only chunk 0 stores the new K / V rows.
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

#ifdef SPLIT_K
layout(push_constant) uniform PC { AttentionParams p; AttentionSplitParams sk; };
#else
layout(push_constant) uniform PC { AttentionParams p; };
#endif
#ifdef PAGED
layout(std430, binding = 6) readonly buffer Rows { uint rows[]; };
#endif

// This workgroup's query row: its position, the first position whose K / V are new rows of this
// dispatch and the row of that position in W0 / W1, and (PAGED) its block table's offset.
uint q_pos, new_pos0, new_row0, table0;
// The keys [k_first, k_end) this workgroup attends over (all of the query's without SPLIT_K)
// and its chunk of them (SPLIT_K; else 0).
uint k_first, k_end, split_chunk = 0u;

// Cache row of position j: the caches are rings of kv_rows rows with a sliding window, or
// (PAGED) pools of blocks.
#ifdef PAGED
uint krow(uint j) { return rows[table0 + j / p.block_positions] * p.block_positions + j % p.block_positions; }
#else
uint krow(uint j) { return HAS_WINDOW ? j % p.kv_rows : j; }
#endif
// The first key the query at position qp sees.
uint first_key(uint qp) { return HAS_WINDOW && qp + 1u > p.window ? qp + 1u - p.window : 0u; }
// A score as the softmax takes it: q.k (q scaled already; with HAS_SOFTCAP by scale / softcap,
// so the cap is softcap * tanh(q.k)).
float score(float s) { return HAS_SOFTCAP ? p.softcap * tanh_exp(s) : s; }

#ifdef KV_F16
layout(std430, binding = 4) readonly buffer Kh { uint kh[]; };
layout(std430, binding = 5) readonly buffer Vh { uint vh[]; };
layout(std430, binding = 4) readonly buffer Kh2 { uvec2 kh2[]; };
layout(std430, binding = 5) readonly buffer Vh2 { uvec2 vh2[]; };
layout(std430, binding = 4) writeonly buffer Kw { uint kw[]; };  // the store of the new rows only
layout(std430, binding = 5) writeonly buffer Vw { uint vw[]; };
// Element e of K / V row j (e < kv_dim).
float kval(uint j, uint e) { return j >= new_pos0 ? w0[(new_row0 + j - new_pos0) * p.kv_dim + e] : unpackHalf2x16(kh[(krow(j) * p.kv_dim + e) >> 1u])[e & 1u]; }
float vval(uint j, uint e) { return j >= new_pos0 ? w1[(new_row0 + j - new_pos0) * p.kv_dim + e] : unpackHalf2x16(vh[(krow(j) * p.kv_dim + e) >> 1u])[e & 1u]; }
// Elements [4 e4, 4 e4 + 4) of K / V row j (kv_dim a multiple of 4): from the caches (j < pos0),
// from the new rows (j >= pos0), or either.
vec4 kcache4(uint j, uint e4) {
    const uvec2 u = kh2[krow(j) * (p.kv_dim / 4u) + e4];
    return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
}
vec4 vcache4(uint j, uint e4) {
    const uvec2 u = vh2[krow(j) * (p.kv_dim / 4u) + e4];
    return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
}
vec4 knew4(uint j, uint e4) { return w0v[(new_row0 + j - new_pos0) * (p.kv_dim / 4u) + e4]; }
vec4 vnew4(uint j, uint e4) { return w1v[(new_row0 + j - new_pos0) * (p.kv_dim / 4u) + e4]; }
vec4 kval4(uint j, uint e4) { return j >= new_pos0 ? knew4(j, e4) : kcache4(j, e4); }
vec4 vval4(uint j, uint e4) { return j >= new_pos0 ? vnew4(j, e4) : vcache4(j, e4); }
#else
layout(std430, binding = 4) readonly buffer Avec { vec4 kvec[]; };
layout(std430, binding = 5) readonly buffer Bvec { vec4 vvec[]; };
float kval(uint j, uint e) { return abuf[krow(j) * p.kv_dim + e]; }
float vval(uint j, uint e) { return bbuf[krow(j) * p.kv_dim + e]; }
vec4 kval4(uint j, uint e4) { return kvec[krow(j) * (p.kv_dim / 4u) + e4]; }
vec4 vval4(uint j, uint e4) { return vvec[krow(j) * (p.kv_dim / 4u) + e4]; }
#endif

const uint MAXV = 2;      // vec4s of head dims per lane on the subgroup path
const uint KS = 4;        // keys per subgroup and step on the subgroup path
const uint NSG_MAX = 8;   // subgroups that take keys on the subgroup path
shared float sh[2048];    // shared path: Q (<= 1024); subgroup path: per-subgroup outputs [NSG_MAX][head_dim <= 256]
shared float p_sh[WG];
shared float m_sh[NSG_MAX];
shared float l_sh[NSG_MAX];

#ifdef SPLIT_K
// Index of (token t, head h, this chunk) among the partials (PushConstants.h: AttentionSplitParams).
uint part_index(uint t, uint h) { return (t * p.n_head + h) * sk.n_chunks + split_chunk; }
#endif
// Output element d of head h, token t from the weighted sum acc and the weights' sum l:
// acc / l, or with SPLIT_K the chunk's acc as it is (the merge divides).
void write_out(uint t, uint h, uint d, float acc, float l) {
#ifdef SPLIT_K
    ybuf[part_index(t, h) * p.head_dim + d] = acc;
#else
    ybuf[t * p.out_stride + h * p.head_dim + d] = acc / l;
#endif
}
// SPLIT_K: the chunk's max score m and sum l of exp(s - m) (an empty chunk: -inf, 0, acc 0).
void write_ml(uint t, uint h, float m, float l) {
#ifdef SPLIT_K
    if (gl_LocalInvocationIndex == 0u) {
        ybuf[sk.ml_offset + 2u * part_index(t, h)] = m;
        ybuf[sk.ml_offset + 2u * part_index(t, h) + 1u] = l;
    }
#endif
}

void attention_shared(uint h, uint t, uint kvh) {
    const uint tid = gl_LocalInvocationIndex;
    const uint hd = p.head_dim;
    const uint qb = t * p.q_stride + h * hd;
    for (uint d = tid; d < hd; d += WG) sh[d] = xbuf[qb + d] * p.scale;
    barrier();
    const uint n_keys = k_end;
    float m = -1.0 / 0.0;
    float l = 0.0;
    float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
    for (uint base = k_first; base < n_keys; base += WG) {
        const uint j = base + tid;
        float s = -1.0 / 0.0;
        if (j < n_keys) {
            s = 0.0;
            for (uint d = 0; d < hd; ++d) s += sh[d] * kval(j, kvh * hd + d);
            s = score(s);
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
            for (uint jj = 0; jj < chunk; ++jj) v += p_sh[jj] * vval(base + jj, kvh * hd + d);
            acc[a] = acc[a] * corr + v;
        }
        m = m_new;
        barrier();
    }
    for (uint a = 0; a < 4; ++a) {
        const uint d = tid + a * WG;
        if (d < hd) write_out(t, h, d, acc[a], l);
    }
    write_ml(t, h, m, l);
}

void attention_subgroup(uint h, uint t, uint kvh) {
    const uint hd = p.head_dim, hd4 = hd / 4u, S = gl_SubgroupSize, lane = gl_SubgroupInvocationID, sg = gl_SubgroupID;
    const uint nsg = min(gl_NumSubgroups, NSG_MAX);
    const uint n_keys = k_end;
    const uint base4 = kvh * hd4 + lane;  // vec4 index of this lane's first dims in a K / V row
    float m = -1.0 / 0.0, l = 0.0;
    vec4 acc[MAXV];
    for (uint i = 0; i < MAXV; ++i) acc[i] = vec4(0.0);
    if (sg < nsg) {
        vec4 q[MAXV];
        const uint qb = t * p.q_stride + h * hd;
        for (uint i = 0; i < MAXV; ++i) {
            const uint d = 4u * (lane + i * S);
            q[i] = d < hd ? vec4(xbuf[qb + d], xbuf[qb + d + 1u], xbuf[qb + d + 2u], xbuf[qb + d + 3u]) * p.scale : vec4(0.0);
        }
        // KS keys per step (j, j + nsg, ...): their K and V rows are loaded before any of
        // them is used, so the loads of a step overlap.
        for (uint j = k_first + sg; j < n_keys; j += KS * nsg) {
            vec4 kr[KS][MAXV], vr[KS][MAXV];
#ifdef KV_F16
            // One source for the whole step where possible (uniform branches outside the loads, so
            // the step's loads stay in flight together): every key in the caches (decode: all steps
            // but the last), every key new (a prompt batch from position 0), else per key
            // (per-key selection is slower: docs/tuning.md).
            const uint j_last = min(j + (KS - 1u) * nsg, n_keys - 1u);
            if (j_last < new_pos0) {
                // Keys past the end clamped to the last one, as below: with SPLIT_K a chunk may end
                // before pos0, and the rows past it up to pos0 + n are being stored by this very
                // dispatch (chunk 0's store), so they may hold anything, NaN included, and weight 0
                // times NaN is NaN.
                for (uint k = 0; k < KS; ++k) {
                    const uint jk = min(j + k * nsg, n_keys - 1u);
                    for (uint i = 0; i < MAXV; ++i) {
                        const bool ok = lane + i * S < hd4;
                        kr[k][i] = ok ? kcache4(jk, base4 + i * S) : vec4(0.0);
                        vr[k][i] = ok ? vcache4(jk, base4 + i * S) : vec4(0.0);
                    }
                }
            } else if (j >= new_pos0) {
                for (uint k = 0; k < KS; ++k) {
                    const uint jk = min(j + k * nsg, n_keys - 1u);
                    for (uint i = 0; i < MAXV; ++i) {
                        const bool ok = lane + i * S < hd4;
                        kr[k][i] = ok ? knew4(jk, base4 + i * S) : vec4(0.0);
                        vr[k][i] = ok ? vnew4(jk, base4 + i * S) : vec4(0.0);
                    }
                }
            } else
#endif
            for (uint k = 0; k < KS; ++k) {
                const uint jk = min(j + k * nsg, n_keys - 1u);  // past the end: a valid row, weight 0 below
                for (uint i = 0; i < MAXV; ++i) {
                    const bool ok = lane + i * S < hd4;
                    kr[k][i] = ok ? kval4(jk, base4 + i * S) : vec4(0.0);
                    vr[k][i] = ok ? vval4(jk, base4 + i * S) : vec4(0.0);
                }
            }
            float s[KS];
            float m_new = m;
            for (uint k = 0; k < KS; ++k) {
                float part = 0.0;
                for (uint i = 0; i < MAXV; ++i) part += dot(q[i], kr[k][i]);
                s[k] = j + k * nsg < n_keys ? score(subgroupAdd(part)) : -1.0 / 0.0;  // condition uniform over the subgroup
                m_new = max(m_new, s[k]);
            }
            const float corr = exp(m - m_new);
            l *= corr;
            for (uint i = 0; i < MAXV; ++i) acc[i] *= corr;
            for (uint k = 0; k < KS; ++k) {
                const float pk = exp(s[k] - m_new);  // 0 for keys past the end
                l += pk;
                for (uint i = 0; i < MAXV; ++i) acc[i] += pk * vr[k][i];
            }
            m = m_new;
        }
        for (uint i = 0; i < MAXV; ++i) {
            const uint d = 4u * (lane + i * S);
            if (d < hd) {
                sh[sg * hd + d] = acc[i].x;
                sh[sg * hd + d + 1u] = acc[i].y;
                sh[sg * hd + d + 2u] = acc[i].z;
                sh[sg * hd + d + 3u] = acc[i].w;
            }
        }
        if (subgroupElect()) {
            m_sh[sg] = m;
            l_sh[sg] = l;
        }
    }
    barrier();
    // Merge: every subgroup's (m, l, acc) rescaled to the overall max (subgroup 0 always has the first key).
    float mx = m_sh[0];
    for (uint s = 1; s < nsg; ++s) mx = max(mx, m_sh[s]);
    float total = 0.0;
    for (uint s = 0; s < nsg; ++s) total += l_sh[s] * exp(m_sh[s] - mx);
    for (uint d = gl_LocalInvocationIndex; d < hd; d += WG) {
        float o = 0.0;
        for (uint s = 0; s < nsg; ++s) o += sh[s * hd + d] * exp(m_sh[s] - mx);
        write_out(t, h, d, o, total);
    }
    write_ml(t, h, mx, total);
}

void main() {
    const uint h = p.head0 + gl_WorkGroupID.x, t = gl_WorkGroupID.y;
#ifdef PAGED
    q_pos = rows[p.row_info + 4u * t];
    new_pos0 = rows[p.row_info + 4u * t + 1u];
    new_row0 = rows[p.row_info + 4u * t + 2u];
    table0 = rows[p.row_info + 4u * t + 3u];
#else
    q_pos = p.pos0 + t;
    new_pos0 = p.pos0;
    new_row0 = 0u;
    table0 = 0u;
#endif
    const uint kvh = h / (p.n_head / p.n_head_kv);
    k_first = first_key(q_pos);
    k_end = q_pos + 1u;
#ifdef SPLIT_K
    split_chunk = gl_WorkGroupID.z;
    k_first += split_chunk * sk.chunk_keys;
    k_end = min(k_end, k_first + sk.chunk_keys);
#endif
    // Whole subgroups only (a partial last subgroup would own the wrong dims).
    // vec4 K / V loads: head_dim and kv_dim multiples of 4 (the bindings start at offset 0).
    const bool sg_path = USE_SUBGROUP && WG % gl_SubgroupSize == 0 && p.head_dim % 4u == 0 && p.kv_dim % 4u == 0 &&
                         p.head_dim <= 4u * MAXV * gl_SubgroupSize && p.head_dim <= 256;
    if (k_first >= k_end) {  // SPLIT_K: a chunk past this row's keys (uniform over the workgroup)
        for (uint d = gl_LocalInvocationIndex; d < p.head_dim; d += WG) write_out(t, h, d, 0.0, 0.0);
        write_ml(t, h, -1.0 / 0.0, 0.0);
    } else if (sg_path) attention_subgroup(h, t, kvh);
    else attention_shared(h, t, kvh);
#ifdef KV_F16
    if (h % (p.n_head / p.n_head_kv) == 0 && split_chunk == 0u) {  // this KV head's rows of token t into the caches (head_dim even)
        const uint hd = p.head_dim, src = t * p.kv_dim + kvh * hd, dst = (krow(q_pos) * p.kv_dim + kvh * hd) >> 1u;
        for (uint i = gl_LocalInvocationIndex; i < hd / 2u; i += WG) {
            kw[dst + i] = packHalf2x16(vec2(w0[src + 2u * i], w0[src + 2u * i + 1u]));
            vw[dst + i] = packHalf2x16(vec2(w1[src + 2u * i], w1[src + 2u * i + 1u]));
        }
    }
#endif
}
