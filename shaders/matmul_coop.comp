#version 450
// Tensor-core product for prompt batches of f16 weights (VK_NV_cooperative_matrix):
// Y[t][r] (+)= sum_k W[r][k] * X[t][k] with matmul.comp's epilogues, params, bindings and
// logical rows. D[M][N] = A[M][K] * B[K][N], M = logical rows, N = tokens, K = cols; X is
// rounded to f16 when staged (as llama.cpp does for f16 weights), f32 accumulators.

// Workgroup: 8 subgroups of 32 (VKS_COOP_THREADS = 256), tile 128 rows x 128 tokens; subgroup s
// owns 64 rows x 32 tokens as 4 x 2 accumulators of 16 x 16. BK = 32 slices double-buffered
// in shared memory (rows of uvec4 chunks + one padding chunk against bank conflicts).

// Epilogue: each accumulator goes through the subgroup's 1 KiB of the idle weight buffer to
// store_pair (rope / SwiGLU pairs, edges per element). Keep every fragment loop [[unroll]]:
// a dynamic index into acc[] puts the accumulators in local memory (docs/tuning.md).

// Host requirements (VulkanOps.cpp): cols, w_offset, w1_offset multiples of 8, x_offset and
// x_stride of 4 (p.vec8 = 1), f16 weights, subgroup size 32. Grid as matmul.comp.
#extension GL_GOOGLE_include_directive : enable
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(push_constant) uniform PC { MatmulParams p; };

#include "matmul_rows.glsl"

const uint BM = VKS_COOP_BM;
const uint BN = VKS_COOP_BN;
const uint BK = 32u;
const uint SG_M = 2u;               // subgroups along rows
const uint SG_N = 4u;               // subgroups along tokens
const uint TM = BM / (16u * SG_M);  // 16-row fragments per subgroup (4)
const uint TN = BN / (16u * SG_N);  // 16-token fragments per subgroup (2)
const uint NT = VKS_COOP_THREADS;
const uint RS = BK / 8u + 1u;       // uvec4 chunks per shared row (4 + 1 padding)
const uint CPR = BK / 8u;           // data chunks per row and slice
const uint NA = BM * CPR / NT;      // weight chunks per invocation and slice (2)
const uint NB = BN * CPR / NT;      // activation chunks per invocation and slice (2)

// [2 buffers][BM rows][RS chunks] weights; [2][BN tokens][RS] activations (f16).
shared uvec4 As[2u * BM * RS];
shared uvec4 Bs[2u * BN * RS];

#define F16MAT fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define F32MAT fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

// Chunk e of a slice -> (row or token m within the tile, chunk c along k): 4 invocations read
// one row's 64 (weights) / 128 (activations) contiguous bytes.
uint chunk_row(uint e, out uint c) {
    c = e % CPR;
    return e / CPR;
}

// Where chunk e of every slice comes from, fixed for the whole k loop: the element offset of
// its row at k = 0 in W0 / W1 (weights) or X (activations), its k offset 8 * c, and whether
// the row / token exists (else zeros).
struct Src {
    uint base;
    uint k;
    bool ok;
    bool w1;
};

Src a_src(uint e, uint lrow0) {
    uint c, row, src;
    const uint m = chunk_row(e, c);
    Src s;
    s.ok = logical_row(lrow0 + m, row, src);
    s.w1 = src != 0u;
    s.base = (s.w1 ? p.w1_offset : p.w_offset) + row * p.cols;
    s.k = 8u * c;
    return s;
}

Src b_src(uint e, uint tok0) {
    uint c;
    const uint n = chunk_row(e, c);
    Src s;
    s.ok = tok0 + n < p.n_tokens;
    s.w1 = false;
    s.base = p.x_offset + (tok0 + n) * p.x_stride;
    s.k = 8u * c;
    return s;
}

// 8 f16 weights [k, k + 8) of the chunk's row (zero past the rows or cols).
uvec4 fetch_a(Src s, uint k0) {
    const uint k = k0 + s.k;
    if (!s.ok || k >= p.cols) return uvec4(0u);
    return s.w1 ? w1v[(s.base + k) / 8u] : w0v[(s.base + k) / 8u];
}

// 8 activations [k, k + 8) of the chunk's token as f16 (zero past n_tokens or cols).
// f32 -> f16 conversion rounds to nearest even on NVIDIA (cvt.rn).
uvec4 fetch_b(Src s, uint k0) {
    const uint k = k0 + s.k;
    if (!s.ok || k >= p.cols) return uvec4(0u);
    const uint i = (s.base + k) / 4u;
    const vec4 lo = xvec[i], hi = xvec[i + 1u];
    return uvec4(packHalf2x16(lo.xy), packHalf2x16(lo.zw), packHalf2x16(hi.xy), packHalf2x16(hi.zw));
}

void main() {
    const uint lrow0 = gl_WorkGroupID.x * BM, tok0 = gl_WorkGroupID.y * BN;
    const uint tid = gl_LocalInvocationIndex;
    const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    const uint wm = sg % SG_M, wn = sg / SG_M;

    F32MAT acc[TM][TN];
    [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = F32MAT(0.0);

    Src sa[NA], sb[NB];
    [[unroll]] for (uint i = 0u; i < NA; ++i) sa[i] = a_src(tid + i * NT, lrow0);
    [[unroll]] for (uint i = 0u; i < NB; ++i) sb[i] = b_src(tid + i * NT, tok0);
    uvec4 ra[NA], rb[NB];
    [[unroll]] for (uint i = 0u; i < NA; ++i) ra[i] = fetch_a(sa[i], 0u);
    [[unroll]] for (uint i = 0u; i < NB; ++i) rb[i] = fetch_b(sb[i], 0u);
    [[unroll]] for (uint i = 0u; i < NA; ++i) {
        uint c;
        const uint m = chunk_row(tid + i * NT, c);
        As[m * RS + c] = ra[i];
    }
    [[unroll]] for (uint i = 0u; i < NB; ++i) {
        uint c;
        const uint n = chunk_row(tid + i * NT, c);
        Bs[n * RS + c] = rb[i];
    }
    barrier();

    uint cur = 0u;
    for (uint k0 = 0u; k0 < p.cols; k0 += BK) {
        const bool more = k0 + BK < p.cols;
        if (more) {
            [[unroll]] for (uint i = 0u; i < NA; ++i) ra[i] = fetch_a(sa[i], k0 + BK);
            [[unroll]] for (uint i = 0u; i < NB; ++i) rb[i] = fetch_b(sb[i], k0 + BK);
        }
        const uint abase = cur * BM * RS + wm * (TM * 16u) * RS;
        const uint bbase = cur * BN * RS + wn * (TN * 16u) * RS;
        [[unroll]] for (uint kk = 0u; kk < BK / 8u; kk += 2u) {  // 16 values of k = 2 chunks
            F16MAT a[TM], b[TN];
            [[unroll]] for (uint i = 0u; i < TM; ++i) coopMatLoadNV(a[i], As, abase + i * 16u * RS + kk, RS, false);
            [[unroll]] for (uint j = 0u; j < TN; ++j) coopMatLoadNV(b[j], Bs, bbase + j * 16u * RS + kk, RS, true);
            [[unroll]] for (uint i = 0u; i < TM; ++i)
                [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
        }
        if (more) {
            // The other buffer was last read in the previous slice, before its barrier.
            const uint nxt = cur ^ 1u;
            [[unroll]] for (uint i = 0u; i < NA; ++i) {
                uint c;
                const uint m = chunk_row(tid + i * NT, c);
                As[(nxt * BM + m) * RS + c] = ra[i];
            }
            [[unroll]] for (uint i = 0u; i < NB; ++i) {
                uint c;
                const uint n = chunk_row(tid + i * NT, c);
                Bs[(nxt * BN + n) * RS + c] = rb[i];
            }
            cur = nxt;
        }
        barrier();
    }

    // Epilogue through 64 uvec4 (16 x 16 f32) of As per subgroup: element (m, n) of an
    // accumulator (logical row m, token n of the fragment) at float n * 16 + m.
    const uint sbase = sg * 64u;
    [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) {
            coopMatStoreNV(acc[i][j], As, sbase, 4u, true);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            const uint L0 = lrow0 + wm * (TM * 16u) + i * 16u;
            const uint t0 = tok0 + wn * (TN * 16u) + j * 16u;
            [[unroll]] for (uint q = lane; q < 128u; q += 32u) {  // 8 row pairs x 16 tokens
                const uint mp = q % 8u, n = q / 8u;
                const uint tok = t0 + n;
                if (tok >= p.n_tokens) continue;
                const uint f = n * 16u + 2u * mp;  // float index of (2 mp, n); 2 mp + 1 follows
                const uvec4 v = As[sbase + f / 4u];
                const vec2 a = (f % 4u) == 0u ? uintBitsToFloat(v.xy) : uintBitsToFloat(v.zw);
                store_pair(L0 + 2u * mp, tok, a);
            }
            subgroupMemoryBarrierShared();
            subgroupBarrier();
        }
}
