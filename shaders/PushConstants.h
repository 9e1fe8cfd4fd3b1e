// Push-constant blocks of every compute shader, declared once for C++ and GLSL.
// Only 32-bit scalars (uint / float), so the std430 push-constant layout equals the C++
// layout. Offsets / strides are in elements (floats) of the bound buffer, not bytes.
// In GLSL a shader declares `layout(push_constant) uniform PC { XxxParams p; };`.
#ifndef VKS_PUSH_CONSTANTS_H
#define VKS_PUSH_CONSTANTS_H

#ifdef __cplusplus
#include <cstdint>
namespace vk_symbiote::gpu {
using uint = std::uint32_t;
#endif

// matmul.comp's tile: logical rows x tokens per invocation (a workgroup of WG_X x WG_Y
// invocations covers WG_X * TM logical rows x WG_Y * TN tokens); the host sizes its grid
// with them. Larger TM spills the accumulators out of registers (docs/tuning.md).
#define VKS_MATMUL_TM 4
#define VKS_MATMUL_TN 4

// matmul_coop.comp's tile (VK_NV_cooperative_matrix, f16 weights): a workgroup of
// VKS_COOP_THREADS invocations (subgroups of 32) computes VKS_COOP_BM logical rows x
// VKS_COOP_BN tokens; the host sizes its grid with them.
#define VKS_COOP_BM 128
#define VKS_COOP_BN 128
#define VKS_COOP_THREADS 256

// y[t][r] (+)= sum_k W[r][k] * x[t][k] for rows r of one weight piece (matvec.comp,
// matmul.comp). Optional fused rope (Q/K; matmul.comp: when head_dim != 0) or SwiGLU (gate/up).
struct MatmulParams {
    uint rows;          // rows of this weight piece
    uint cols;          // k
    uint n_tokens;
    uint x_offset;      // element offset of token 0 in X
    uint x_stride;      // elements between tokens in X
    uint y_offset;      // element offset of (token 0, row 0 of this piece) in Y
    uint y_stride;      // elements between tokens in Y
    uint accumulate;    // 1: y += result (residual), 0: y = result
    uint groups_x;      // workgroups along x per z slice (rows beyond 65535 use z)
    uint w_offset;      // element offset of row 0 of this piece in W0
    uint w1_offset;     // element offset of row 0 in W1 (SwiGLU up)
    uint round_f16;     // 1: round results to the nearest f16 value (llama.cpp's f16 KV cache precision)
    // rope (matvec ROPE variant; plain matmul when head_dim != 0): pairs are within heads of head_dim; a piece
    // starts at a head boundary, rows must be a multiple of head_dim
    uint pos0;          // position of token 0
    uint head_dim;
    uint n_rot;
    uint rope_neox;     // 0: rotate (2i, 2i+1); 1: rotate (i, i + n_rot/2)
    float freq_base;    // informational: the angles come from the rope table (binding 5)
    float freq_scale;
    uint vec8;          // 1: cols, w_offset and w1_offset are multiples of 8 and x_offset, x_stride of 4
                        // (the binding offsets of W0 / W1 multiples of 16 bytes): 16-byte loads
    // fused RMSNorm (matvec NORM variants): X holds the raw residual; y = W (x * gamma) / sqrt(mean(x^2) + eps)
    uint norm_offset;   // element offset of gamma (f32, cols elements) in A (binding 4); vec8 also needs it % 4 == 0
    float norm_eps;
    // row bias (HAS_BIAS kernels, not SWIGLU): f32 bias of row r of this piece at element
    // bias_offset + r of binding 1, added before rope and rounding
    uint bias_offset;
};

// y[t][i] = x[t][i] * w[i] / sqrt(mean(x[t]^2) + eps) (rmsnorm.comp); the ADD variant adds it
// to y instead (a post norm before the residual).
struct RmsNormParams {
    uint n;
    uint n_tokens;
    uint x_offset;
    uint x_stride;
    uint y_offset;
    uint y_stride;
    float eps;
    uint w_offset;      // element offset of w[0] in W0
};

// Per-head RMSNorm then rope, in place (head_norm.comp; Q / K head norms): each head of
// head_dim values of Y [n_tokens][stride] is normed by gamma (f32, head_dim, at norm_offset of
// A = binding 4) and rotated like MatmulParams' rope (cos / sin table in B = binding 5).
struct HeadNormParams {
    uint n_heads;       // heads per token, starting at y_offset
    uint n_tokens;
    uint y_offset;      // element offset of token 0's first head
    uint y_stride;      // elements between tokens
    uint head_dim;
    uint n_rot;
    uint rope_neox;
    uint pos0;          // position of token 0
    uint norm_offset;
    float eps;
    uint round_f16;     // 1: round the results to the nearest f16 value
};

// y[offset + i] = cap * tanh(y[offset + i] / cap) for i < n (softcap.comp: final logits).
struct SoftcapParams {
    uint n;
    uint offset;
    float cap;
};

// Greedy decoding on the device (decode_ahead.comp, DecodeAhead.h): ARGMAX over n logits at
// X[src ..] into C[id_index]; EMBED_ROW: Y[dst + i] = X[C[id_index] * n + i] for i < n.
struct DecodeAheadParams {
    uint n;
    uint src;
    uint dst;
    uint id_index;
};

// Causal attention with an online softmax over the KV cache (attention.comp).
// Q: [n_tokens][q_stride] with heads of head_dim; K/V cache: [row][kv_dim] f32 (or f16 pairs).
struct AttentionParams {
    uint n_tokens;
    uint pos0;          // position of token 0; token t attends to keys [0, pos0 + t]
    uint n_head;
    uint n_head_kv;
    uint head_dim;
    uint q_stride;
    uint kv_dim;
    uint out_stride;
    float scale;        // multiplies q (1 / sqrt(head_dim); with a soft-cap: the model's scale / softcap)
    uint head0;         // first query head (workgroup x = head - head0)
    // HAS_SOFTCAP: scores s -> softcap * tanh(s); HAS_WINDOW: the query at position p sees keys
    // [p + 1 - window, p] only, and the caches are rings of kv_rows rows (position j at row j % kv_rows)
    float softcap;
    uint window;
    uint kv_rows;
    // PAGED variant: positions per KV block, and the element offset of the row table in binding 6
    // (per row: position, chunk's first position, its row, block table offset; then the tables)
    uint block_positions;
    uint row_info;
};

// Split-K ("flash decoding") attention: attention.comp's SPLIT_K variant pushes AttentionParams
// then this. Each query row's keys, from its first key, are cut into n_chunks chunks of
// chunk_keys keys (grid z); chunk c of (token t, head h) is partial i = (t n_head + h) n_chunks + c,
// whose unnormalized output is at element i head_dim of the partials buffer (head_dim floats) and
// its (max score, sum of exp(score - max)) at ml_offset + 2 i.
struct AttentionSplitParams {
    uint chunk_keys;
    uint n_chunks;
    uint ml_offset;
};

// Attention over a KV cache streamed from RAM (attention_flash.comp's STREAM variant,
// StreamedKvAttention.h): AttentionParams then this. One dispatch attends the block's rows over
// the keys [key_lo, key_hi) only, key j at row j - key_lo of bindings 4 / 5 (a chunk of the RAM
// cache copied into a device scratch, or the pass's own f32 rows), and carries each (token t,
// head h)'s online softmax in binding 6: floats [(t n_head + h) (head_dim + 2), + head_dim) the
// unnormalized output, then the running max and sum. state_in: start from that state (else
// empty); finish: write acc / sum to out (Y) instead of the state.
struct AttentionStreamParams {
    uint key_lo;
    uint key_hi;
    uint state_in;
    uint finish;
};

// The merge of the chunks into out (attention_merge.comp); partials as above, in X.
struct AttentionMergeParams {
    uint n_head;
    uint head0;         // first query head (workgroup x = head - head0)
    uint head_dim;
    uint n_chunks;
    uint ml_offset;
    uint out_stride;    // elements between tokens in out (Y)
};

// dst[i] = src[i] for i < n, 16-byte elements, src in binding 0 (W0) and dst in binding 3 (Y),
// both bound at the copied ranges (copy.comp). `groups` workgroups loop over the range with a
// stride of groups * WG elements, so a few workgroups copy any size and leave the rest of the
// GPU to the kernels that run beside them.
struct CopyParams {
    uint n;
    uint groups;
};

// The rows of a mixture-of-experts FFN (moe.comp), n elements a row; table: uints in binding 6
// from element table_offset. Gather (mode 0): y row r = x row table[r], r < rows (the tokens'
// normed rows grouped by expert). Combine (mode 1): y row t += sum over j < k, in table order,
// of float(table[2 (t k + j) + 1]) * x row table[2 (t k + j)], t < rows (each token's experts'
// outputs, weighted, in ascending expert order as the CPU adds them, then into the residual).
struct MoeParams {
    uint mode;
    uint rows;
    uint n;
    uint k;
    uint table_offset;
    uint x_offset;  // elements
    uint y_offset;
};

// A mixture-of-experts router's choice on the device (moe_route.comp, the arithmetic of
// src/backend/cpu/MoeRouting.h): token t < n_tokens of the f32 logits (binding 2, row t at
// logits_offset + t n_expert) chooses k experts; binding 3 (uints) gets its k (expert, f32
// weight bits) pairs in ascending expert order from table_offset + 2 t k (moe.comp's combine
// pairs, the expert id as the row: a one-token pass keeps expert e's output in row e), binding
// 4 its experts, largest logit first, from choice_offset + t k (host-visible: the popularity
// learns them once the pass finished). Then n_slots indirect dispatches (one workgroup, n_tokens
// <= 64): slot s of binding 5 is (gx, gy, gz, expert), written to binding 6 at 4 s as is when
// some token chose the expert, as (0, 1, 1) (nothing runs) otherwise.
struct MoeRouteParams {
    uint n_tokens;
    uint n_expert;       // at most 256
    uint k;              // n_expert_used, at most 16
    uint norm;           // 1: weights renormalized over the chosen (expert_weights_norm)
    float scale;         // expert_weights_scale
    uint logits_offset;  // elements
    uint table_offset;
    uint choice_offset;
    uint n_slots;
    uint first_slot;     // the slots are [first_slot, first_slot + n_slots) of bindings 5 / 6
};

// y[i] += x[i] for i < n (add.comp)
struct AddParams {
    uint n;
    uint x_offset;
    uint y_offset;
};

#ifdef __cplusplus
}  // namespace vk_symbiote::gpu
#endif

#endif
