#version 450
// Flash attention for prompt batches on tensor cores (Kernel::AttentionFlashCoop,
// VK_NV_cooperative_matrix: 16 x 16 x 16 f16 -> f32, subgroups of 32): attention_flash.comp's
// algorithm with S = Q K^T and O += P V as cooperative-matrix products. f16 caches only (K, V
// and Q f16 values, as the f16 KV cache rounds them); the scores, softmax and O stay f32, P is
// rounded to f16 for P V (as llama.cpp's flash attention does). Same bindings, push constants
// and family features as attention_flash.comp. Grid (n_head - head0, ceil(n_tokens / BQ)).

// Workgroup: NSG subgroups of 32 (VKS_FLASHC_THREADS); subgroup g owns query rows
// [16 g, 16 g + 16) of the block's BQ = 16 NSG, its Q as hd / 16 f16 fragments in registers.
// Per tile of BK = 32 keys: K and V rows -> kvs (f16), then per subgroup: S (16 x 32 f32) ->
// sc, softmax by lane pairs (lane 2 r + h: row r, key columns [16 h, 16 h + 16)), P (f16) -> pc,
// and per 16-dim block of O: P V -> sc, added into the rows' O registers (lane 2 r + h: dims
// [8 h, 8 h + 8) of each block) after rescaling them by the row's correction (a fragment's
// element layout is opaque: per-row scaling goes through shared memory).
// Keep every fragment loop [[unroll]] with constant bounds (matmul_coop.comp: a dynamic index
// puts fragments in local memory). Host requirements (FlashAttention.cpp): head_dim a multiple
// of 16, at most VKS_FLASH_HD_MAX; the device's cooperative_matrix capability.
#extension GL_GOOGLE_include_directive : enable
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"
#include "FlashTile.h"

layout(push_constant) uniform PC { AttentionParams p; };
#include "attention_flash_rows.glsl"

const uint NSG = VKS_FLASHC_THREADS / 32u;
const uint BQ = 16u * NSG;
const uint BK = 32u;
const uint HDF = VKS_FLASH_HD_MAX / 16u;  // 16-dim fragments of a head, at most
const uint RS = VKS_FLASH_HD_MAX / 8u + 1u;  // uvec4 chunks (8 halves) per staged row, one of padding
const uint SS = 36u;                      // floats per row of a subgroup's score / product scratch
const uint PRS = BK / 8u + 1u;            // uvec4 chunks per row of P
const float NEG = -3.0e38;

// The block's Q rows [BQ][RS] while the fragments are loaded, then K rows [BK][RS] and V rows [BK][RS].
shared uvec4 kvs[BQ * RS > 2u * BK * RS ? BQ * RS : 2u * BK * RS];
shared float sc[NSG * 16u * SS];          // per subgroup [16][SS]: S, then one block of P V
shared uvec4 pc[NSG * 16u * PRS];         // per subgroup [16][PRS]: P as f16

#define F16MAT fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define F32MAT fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>


layout(std430, binding = 4) readonly buffer Kh4 { uvec4 kh4[]; };
layout(std430, binding = 5) readonly buffer Vh4 { uvec4 vh4[]; };
layout(std430, binding = 4) writeonly buffer Kw { uint kw[]; };
layout(std430, binding = 5) writeonly buffer Vw { uint vw[]; };
uvec2 pack4(vec4 v) { return uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw)); }
// Halves [8 e8, 8 e8 + 8) of K / V row j: the f16 caches below pos0, this dispatch's f32 rows from it.
uvec4 kv8(uint j, uint e8, bool v) {
    const uint kv8n = p.kv_dim / 8u;
    if (j < pos0) return v ? vh4[krow(j) * kv8n + e8] : kh4[krow(j) * kv8n + e8];
    const uint i = (j - pos0) * (2u * kv8n) + 2u * e8;
    return v ? uvec4(pack4(w1v[i]), pack4(w1v[i + 1u])) : uvec4(pack4(w0v[i]), pack4(w0v[i + 1u]));
}

// Rows [kb, kb + nk) of K and V of KV head kvh into kvs (rows past nk zero).
void stage_kv(uint kb, uint nk, uint kvh, uint hd8) {
    for (uint e = gl_LocalInvocationIndex; e < BK * hd8; e += VKS_FLASHC_THREADS) {
        const uint c = e / hd8, d8 = e % hd8;
        kvs[c * RS + d8] = c < nk ? kv8(kb + c, kvh * hd8 + d8, false) : uvec4(0u);
        kvs[(BK + c) * RS + d8] = c < nk ? kv8(kb + c, kvh * hd8 + d8, true) : uvec4(0u);
    }
}

void store_new_row(uint t, uint kvh) {
    const uint hd = p.head_dim, src = t * p.kv_dim + kvh * hd, dst = (krow(pos0 + t) * p.kv_dim + kvh * hd) >> 1u;
    for (uint i = gl_SubgroupInvocationID % 2u; i < hd / 2u; i += 2u) {
        kw[dst + i] = packHalf2x16(vec2(w0[src + 2u * i], w0[src + 2u * i + 1u]));
        vw[dst + i] = packHalf2x16(vec2(w1[src + 2u * i], w1[src + 2u * i + 1u]));
    }
}

void main() {
    init_rows();
    const uint h = p.head0 + gl_WorkGroupID.x, t0 = gl_WorkGroupID.y * BQ;
    const uint g = gl_SubgroupID, lane = gl_SubgroupInvocationID, r = lane / 2u, half_ = lane % 2u;
    const uint hd = p.head_dim, hd8 = hd / 8u, hdf = hd / 16u, kvh = h / (p.n_head / p.n_head_kv);
    const uint rows = min(BQ, p.n_tokens - t0);
    for (uint e = gl_LocalInvocationIndex; e < BQ * hd8; e += VKS_FLASHC_THREADS) {
        const uint rr = e / hd8, d8 = e % hd8, x = ((t0 + rr) * p.q_stride + h * hd) / 4u + 2u * d8;
        kvs[rr * RS + d8] = rr < rows ? uvec4(pack4(xvec[x]), pack4(xvec[x + 1u])) : uvec4(0u);
    }
    barrier();
    F16MAT qf[HDF];
    [[unroll]] for (uint f = 0u; f < HDF; ++f)
        if (f < hdf) coopMatLoadNV(qf[f], kvs, g * 16u * RS + 2u * f, RS, false);
    const uint qp = pos0 + t0 + g * 16u + r;  // this lane pair's row position
    const uint q_lo = pos0 + t0, q_hi = pos0 + t0 + rows - 1u, k_lo = first_key(qp);
    float m = NEG, l = 0.0;
    float o[HDF * 8u];
    [[unroll]] for (uint i = 0u; i < HDF * 8u; ++i) o[i] = 0.0;
    for (uint kb = first_key(q_lo); kb <= q_hi; kb += BK) {
        const uint nk = min(BK, q_hi + 1u - kb);
        barrier();  // Q fragments loaded / the previous tile's products done
        stage_kv(kb, nk, kvh, hd8);
        barrier();
        // S = Q K^T, two 16-key blocks, into this subgroup's scratch.
        [[unroll]] for (uint b = 0u; b < 2u; ++b) {
            F32MAT s = F32MAT(0.0);
            [[unroll]] for (uint f = 0u; f < HDF; ++f) {
                if (f >= hdf) break;
                F16MAT kf;
                coopMatLoadNV(kf, kvs, b * 16u * RS + 2u * f, RS, true);
                s = coopMatMulAddNV(qf[f], kf, s);
            }
            coopMatStoreNV(s, sc, g * 16u * SS + b * 16u, SS, false);
        }
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        float sv[16];
        float mx = NEG;
        [[unroll]] for (uint i = 0u; i < 16u; ++i) {
            const uint c = half_ * 16u + i, j = kb + c;
            const float raw = sc[(g * 16u + r) * SS + c] * p.scale;
            sv[i] = c < nk && j <= qp && j >= k_lo ? score(raw) : NEG;
            mx = max(mx, sv[i]);
        }
        const float m_new = max(m, max(mx, subgroupShuffleXor(mx, 1u)));
        const float corr = exp(m - m_new);
        l *= corr;
        float pr[16];
        [[unroll]] for (uint i = 0u; i < 16u; ++i) {
            pr[i] = sv[i] > NEG ? exp(sv[i] - m_new) : 0.0;
            l += pr[i];
        }
        m = m_new;
        [[unroll]] for (uint c8 = 0u; c8 < 2u; ++c8) {
            const uint i = 8u * c8;
            pc[(g * 16u + r) * PRS + half_ * 2u + c8] = uvec4(packHalf2x16(vec2(pr[i], pr[i + 1u])), packHalf2x16(vec2(pr[i + 2u], pr[i + 3u])),
                                                             packHalf2x16(vec2(pr[i + 4u], pr[i + 5u])), packHalf2x16(vec2(pr[i + 6u], pr[i + 7u])));
        }
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        F16MAT pf[2];
        [[unroll]] for (uint b = 0u; b < 2u; ++b) coopMatLoadNV(pf[b], pc, g * 16u * PRS + 2u * b, PRS, false);
        // O = corr O + P V, one 16-dim block at a time through the scratch.
        [[unroll]] for (uint f = 0u; f < HDF; ++f) {
            if (f >= hdf) break;
            F32MAT pv = F32MAT(0.0);
            [[unroll]] for (uint b = 0u; b < 2u; ++b) {
                F16MAT vf;
                coopMatLoadNV(vf, kvs, (BK + b * 16u) * RS + 2u * f, RS, false);
                pv = coopMatMulAddNV(pf[b], vf, pv);
            }
            subgroupBarrier();  // every lane read the scratch's previous contents
            coopMatStoreNV(pv, sc, g * 16u * SS, SS, false);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            [[unroll]] for (uint i = 0u; i < 8u; ++i) o[f * 8u + i] = o[f * 8u + i] * corr + sc[(g * 16u + r) * SS + half_ * 8u + i];
        }
    }
    const float total = l + subgroupShuffleXor(l, 1u);
    if (g * 16u + r >= rows) return;
    const uint t = t0 + g * 16u + r, ob = t * p.out_stride + h * hd;
    [[unroll]] for (uint f = 0u; f < HDF; ++f) {
        if (f >= hdf) break;
        [[unroll]] for (uint i = 0u; i < 8u; ++i) ybuf[ob + f * 16u + half_ * 8u + i] = o[f * 8u + i] / total;
    }
    if (h % (p.n_head / p.n_head_kv) == 0u) store_new_row(t, kvh);
}
