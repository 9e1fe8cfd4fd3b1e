#version 450
// Flash attention for prompt batches (Kernel::AttentionFlash): causal attention of
// VKS_FLASH_BQ query rows of one head per workgroup, the keys walked in tiles of VKS_FLASH_BK
// rows staged in shared memory with an online softmax (running max m and sum l per row), so
// each K / V row is read from memory once per block of query rows, not once per query, and no
// score matrix beyond the BQ x BK tile exists. attention.comp's bindings, push constants
// (AttentionParams) and family features: GQA by head grouping, HAS_SOFTCAP, HAS_WINDOW (ring
// caches), KV_F16 (the dispatch's K / V rows as f32 in W0 / W1, stored into the f16 caches by
// each KV head's first query head), PAGED (one sequence's chunk over a pool of blocks;
// attention_flash_rows.glsl).
// STREAM (StreamedKvAttention.h: a KV cache in RAM, streamed in chunks): the keys of one dispatch
// are [key_lo, key_hi) only, key j at row j - key_lo of bindings 4 / 5 (f16 with KV_F16: a chunk
// of the RAM cache in a device scratch; f32: the pass's own rows), and each row's online softmax
// (m, l, out) carries over from the dispatch before through binding 6 (AttentionStreamParams).
// Nothing is stored into a cache.
// Grid (n_head - head0, ceil(n_tokens / BQ)); workgroup VKS_FLASH_THREADS x 1.

// Thread (r, part) = (tid / TPR, tid % TPR) owns query row r: the scores of key columns
// part + TPR i (i < BK / TPR) of each tile, and the output dims of vec4s part + TPR a
// (a < HD_MAX / 4 / TPR). Per tile: K -> kvs, scores, row max through red[], V -> kvs,
// probabilities -> ps[], out += P V. Requirements (host, FlashAttention.cpp): head_dim a
// multiple of 4 and <= VKS_FLASH_HD_MAX, q / out views at element 0.
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"
#include "FlashTile.h"

#ifdef STREAM
layout(push_constant) uniform PC { AttentionParams p; AttentionStreamParams sp; };
layout(std430, binding = 6) buffer State { float st[]; };  // [n_tokens][n_head][head_dim + 2]
#else
layout(push_constant) uniform PC { AttentionParams p; };
#endif
#include "attention_flash_rows.glsl"

const uint BQ = VKS_FLASH_BQ;
const uint BK = VKS_FLASH_BK;
const uint TPR = VKS_FLASH_TPR;
const uint NT = VKS_FLASH_THREADS;
const uint HD4 = VKS_FLASH_HD_MAX / 4u;
const uint RS = HD4 + 1u;         // vec4s per staged row (one of padding against bank conflicts)
const uint CPT = BK / TPR;        // score columns per thread and tile
const uint APT = HD4 / TPR;       // output vec4s per thread
const uint PS = BK + 1u;          // floats per row of ps
const float NEG = -3.0e38;        // a masked score (finite: no inf - inf in the rescaling)

shared vec4 qs[BQ * RS];          // [BQ][RS] this block's queries, scaled
shared vec4 kvs[BK * RS];         // [BK][RS] the tile's K rows, then its V rows
shared float ps[BQ * PS];         // [BQ][PS] the tile's probabilities exp(s - m)
shared float red[NT];             // per thread: its row max of a tile; at the end its share of l


// vec4 e4 of K / V row j (e4 < kv_dim / 4): keys at or past pos0 are this dispatch's rows.
#ifdef KV_F16
layout(std430, binding = 4) readonly buffer Kh2 { uvec2 kh2[]; };
layout(std430, binding = 5) readonly buffer Vh2 { uvec2 vh2[]; };
layout(std430, binding = 4) writeonly buffer Kw { uint kw[]; };  // the store of the new rows only
layout(std430, binding = 5) writeonly buffer Vw { uint vw[]; };
vec4 unpack4(uvec2 u) { return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y)); }
vec4 kval4(uint j, uint e4) {
    const uint kv4 = p.kv_dim / 4u;
    return j >= pos0 ? w0v[(j - pos0) * kv4 + e4] : unpack4(kh2[krow(j) * kv4 + e4]);
}
vec4 vval4(uint j, uint e4) {
    const uint kv4 = p.kv_dim / 4u;
    return j >= pos0 ? w1v[(j - pos0) * kv4 + e4] : unpack4(vh2[krow(j) * kv4 + e4]);
}
#else
layout(std430, binding = 4) readonly buffer Avec { vec4 kvec[]; };
layout(std430, binding = 5) readonly buffer Bvec { vec4 vvec[]; };
vec4 kval4(uint j, uint e4) { return kvec[krow(j) * (p.kv_dim / 4u) + e4]; }
vec4 vval4(uint j, uint e4) { return vvec[krow(j) * (p.kv_dim / 4u) + e4]; }
#endif

// Rows [kb, kb + nk) of K (v = false) or V of KV head kvh into kvs; rows nk .. BK - 1 zero.
void stage_tile(uint kb, uint nk, uint kvh, uint hd4, bool v) {
    for (uint e = gl_LocalInvocationIndex; e < BK * hd4; e += NT) {
        const uint c = e / hd4, d4 = e % hd4;
        vec4 x = vec4(0.0);
        if (c < nk) x = v ? vval4(kb + c, kvh * hd4 + d4) : kval4(kb + c, kvh * hd4 + d4);
        kvs[c * RS + d4] = x;
    }
}

// Token t's K / V rows of KV head kvh into the f16 caches (KV_F16; head_dim even).
void store_new_row(uint t, uint kvh) {
#ifdef KV_F16
    const uint hd = p.head_dim, src = t * p.kv_dim + kvh * hd, dst = (krow(pos0 + t) * p.kv_dim + kvh * hd) >> 1u;
    for (uint i = gl_LocalInvocationIndex % TPR; i < hd / 2u; i += TPR) {
        kw[dst + i] = packHalf2x16(vec2(w0[src + 2u * i], w0[src + 2u * i + 1u]));
        vw[dst + i] = packHalf2x16(vec2(w1[src + 2u * i], w1[src + 2u * i + 1u]));
    }
#endif
}

#ifdef STREAM
// Element 0 of token t's head h in the carried state.
uint state_base(uint t, uint h) { return (t * p.n_head + h) * (p.head_dim + 2u); }
// Row t's state from the dispatch before (the sum l to one thread of the row: the row's threads
// sum their shares at the end).
void load_state(uint t, uint h, uint part, inout float m, inout float l, inout vec4 acc[APT]) {
    const uint b = state_base(t, h), hd4 = p.head_dim / 4u;
    m = st[b + p.head_dim];
    l = part == 0u ? st[b + p.head_dim + 1u] : 0.0;
    for (uint a = 0; a < APT; ++a) {
        const uint d4 = part + a * TPR;
        if (d4 < hd4) acc[a] = vec4(st[b + 4u * d4], st[b + 4u * d4 + 1u], st[b + 4u * d4 + 2u], st[b + 4u * d4 + 3u]);
    }
}
void save_state(uint t, uint h, uint part, float m, float total, vec4 acc[APT]) {
    const uint b = state_base(t, h), hd4 = p.head_dim / 4u;
    if (part == 0u) {
        st[b + p.head_dim] = m;
        st[b + p.head_dim + 1u] = total;
    }
    for (uint a = 0; a < APT; ++a) {
        const uint d4 = part + a * TPR;
        if (d4 < hd4) {
            st[b + 4u * d4] = acc[a].x;
            st[b + 4u * d4 + 1u] = acc[a].y;
            st[b + 4u * d4 + 2u] = acc[a].z;
            st[b + 4u * d4 + 3u] = acc[a].w;
        }
    }
}
#endif

void main() {
    init_rows();
    const uint h = p.head0 + gl_WorkGroupID.x, t0 = gl_WorkGroupID.y * BQ, tid = gl_LocalInvocationIndex;
    const uint r = tid / TPR, part = tid % TPR;
    const uint hd = p.head_dim, hd4 = hd / 4u, kvh = h / (p.n_head / p.n_head_kv);
    const uint rows = min(BQ, p.n_tokens - t0);
    for (uint e = tid; e < BQ * hd4; e += NT) {
        const uint rr = e / hd4, d4 = e % hd4;
        qs[rr * RS + d4] = rr < rows ? xvec[((t0 + rr) * p.q_stride + h * hd) / 4u + d4] * p.scale : vec4(0.0);
    }
    const uint qp = pos0 + t0 + r;                            // this row's position (rows >= `rows`: unused)
    const uint q_lo = pos0 + t0, q_hi = pos0 + t0 + rows - 1u;  // the block's positions
    const uint k_lo = first_key(qp);
    float m = NEG, l = 0.0;
    vec4 acc[APT];
    for (uint a = 0; a < APT; ++a) acc[a] = vec4(0.0);
    uint kb_lo = first_key(q_lo), kb_hi = q_hi + 1u;  // the block's keys [kb_lo, kb_hi)
#ifdef STREAM
    kb_lo = max(kb_lo, sp.key_lo);
    kb_hi = min(kb_hi, sp.key_hi);
    if (sp.state_in != 0u && r < rows) load_state(t0 + r, h, part, m, l, acc);
#endif
    for (uint kb = kb_lo; kb < kb_hi; kb += BK) {
        const uint nk = min(BK, kb_hi - kb);
        barrier();  // the previous tile's P V (or the Q staging) is done
        stage_tile(kb, nk, kvh, hd4, false);
        barrier();
        float s[CPT];
        for (uint i = 0; i < CPT; ++i) s[i] = 0.0;
        for (uint d4 = 0; d4 < hd4; ++d4) {
            const vec4 q4 = qs[r * RS + d4];
            for (uint i = 0; i < CPT; ++i) s[i] += dot(q4, kvs[(part + i * TPR) * RS + d4]);
        }
        float mx = NEG;
        for (uint i = 0; i < CPT; ++i) {
            const uint j = kb + part + i * TPR;
            s[i] = part + i * TPR < nk && j <= qp && j >= k_lo ? score(s[i]) : NEG;
            mx = max(mx, s[i]);
        }
        red[tid] = mx;
        barrier();  // every score read K; the row maxima are in red
        stage_tile(kb, nk, kvh, hd4, true);
        float m_new = m;
        for (uint k = 0; k < TPR; ++k) m_new = max(m_new, red[r * TPR + k]);
        const float corr = exp(m - m_new);  // 1 while the row has no key yet (NEG - NEG)
        l *= corr;
        for (uint a = 0; a < APT; ++a) acc[a] *= corr;
        for (uint i = 0; i < CPT; ++i) {
            const float pk = s[i] > NEG ? exp(s[i] - m_new) : 0.0;
            l += pk;
            ps[r * PS + part + i * TPR] = pk;
        }
        m = m_new;
        barrier();  // V and the probabilities are staged
        for (uint c = 0; c < nk; ++c) {
            const float pc = ps[r * PS + c];
            for (uint a = 0; a < APT; ++a) {
                const uint d4 = part + a * TPR;
                if (d4 < hd4) acc[a] += pc * kvs[c * RS + d4];
            }
        }
    }
    red[tid] = l;  // the last reads of red came before the tile's last barrier
    barrier();
    float total = 0.0;
    for (uint k = 0; k < TPR; ++k) total += red[r * TPR + k];
    if (r >= rows) return;
#ifdef STREAM
    if (sp.finish == 0u) {
        save_state(t0 + r, h, part, m, total, acc);
        return;
    }
#endif
    const uint ob = (t0 + r) * p.out_stride + h * hd;
    for (uint a = 0; a < APT; ++a) {
        const uint d4 = part + a * TPR;
        if (d4 < hd4) {
            ybuf[ob + 4u * d4] = acc[a].x / total;
            ybuf[ob + 4u * d4 + 1u] = acc[a].y / total;
            ybuf[ob + 4u * d4 + 2u] = acc[a].z / total;
            ybuf[ob + 4u * d4 + 3u] = acc[a].w / total;
        }
    }
#ifndef STREAM
    if (h % (p.n_head / p.n_head_kv) == 0u) store_new_row(t0 + r, kvh);
#endif
}
