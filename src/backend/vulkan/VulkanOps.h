// Recording of the compute ops on device buffers (no submission, no allocation): the
// forward pass and the op tests call these; they pick pipelines from the ShaderRuntime,
// build descriptor sets, push constants and dispatch. Callers insert rt.barrier()
// between dependent ops. Shapes are in elements; every activation is f32.
#pragma once

#include <vector>

#include "backend/vulkan/ShaderRuntime.h"
#include "model/ModelConfig.h"
#include "PushConstants.h"

namespace vk_symbiote {

// Rows [row_begin, row_begin + rows) of a weight tensor (row-major, the tensor's dtype),
// at byte `offset` of `buffer` (a multiple of minStorageBufferOffsetAlignment), at most
// maxStorageBufferRange bytes. Resident weights own their buffer (offset 0, bytes 0 =
// the whole buffer); streamed weights are pieces of a shared streaming slot.
struct WeightPiece {
    VkBuffer buffer = VK_NULL_HANDLE;
    uint32 row_begin = 0;
    uint32 rows = 0;
    uint64 offset = 0;  // bytes
    uint64 bytes = 0;   // bound range in bytes (a multiple of 4); 0: VK_WHOLE_SIZE
};

// The descriptor binding of a weight piece: (buffer, offset, range).
inline BufferBinding piece_binding(const WeightPiece& p) {
    return BufferBinding{p.buffer, p.offset, p.bytes ? p.bytes : VK_WHOLE_SIZE};
}

// Where a weight tensor lives on the device: pieces sorted by row_begin covering
// [row_begin, rows). The ops compute output rows [row_begin, rows) only: row_begin > 0 is
// the GPU's part of a matrix whose rows [0, row_begin) the CPU computes (hybrid row split).
struct DeviceWeight {
    DType dtype = DType::F32;
    uint32 rows = 0;
    uint32 cols = 0;
    std::vector<WeightPiece> pieces;
    uint32 row_begin = 0;
};

// An f32 activation matrix inside a buffer: token t's row starts at offset + t * stride (elements).
struct ActView {
    VkBuffer buffer = VK_NULL_HANDLE;
    uint32 offset = 0;
    uint32 stride = 0;
};

// The small-N kernel's way to x (OpContext::smalln_kernel): Staged = chunks of every row's x
// staged in shared memory once per workgroup (each weight and each x element read from memory
// once per workgroup); Lanes = every lane reads each row's x packet from global memory per
// weight packet (the earlier kernel, for A/B comparisons); Regs = Staged with each chunk of x
// loaded into registers a chunk ahead (its wait off the critical path), chunks as large as the
// device's shared memory allows and each x packet read once per thread row (matvec_regs.glsl).
// All three keep the one-row sum order (for the same lanes per unit).
enum class SmallNKernel : uint8 { Staged, Lanes, Regs };

// The kernel of multi-row (prompt) attention (OpContext::prompt_attention, FlashAttention.h):
// Flash = attention_flash.comp for every batch of 2 or more rows it supports; Coop = the same
// on tensor cores (attention_flash_coop.comp) where the device and shape allow, else as Flash;
// Classic = attention.comp, one workgroup per (head, row); Auto = Flash from kFlashMinRows rows.
enum class PromptAttention : uint8 { Auto, Flash, Coop, Classic };

// Weight kernels recorded as indirect dispatches (a device-routed mixture-of-experts layer,
// DeviceMoe): while OpContext::indirect is set, every dispatch of op_matmul / op_swiglu reads
// its group counts from slot `next` of `args` (16 bytes a slot) and writes what it asks for
// (gx, gy, gz, expert) into slots[next] (host-visible), for the routing kernel to arm or empty.
struct IndirectSlots {
    VkBuffer args = VK_NULL_HANDLE;
    uint32* slots = nullptr;  // (first + capacity, 4) uints
    uint32 first = 0;         // the first slot of this recording
    uint32 capacity = 0;
    uint32 next = 0;          // slots used after `first`
    uint32 expert = 0;        // the expert whose kernels are being recorded
};

struct OpContext {
    ShaderRuntime& rt;
    ShaderSpecialization spec;
    VkBuffer dummy;              // bound to unused bindings
    uint32 max_groups_x = 65535; // maxComputeWorkGroupCount[0]
    uint32 subgroup_size = 32;   // the device's subgroup size (VulkanCapabilities::subgroup_size)
    // true: matvec / matmul kernels run with workgroup shapes chosen per kernel and device
    // (matvec: subgroup_size lanes per unit x 128 / subgroup_size units, or for dispatches of
    // fewer than 8192 units matvec_small_lanes lanes x 128 / lanes units (VulkanOps.cpp
    // kernel_spec); matmul: 16 x 16 = 128 x 64 output tiles), spec.workgroup_size_* applies
    // to the other kernels; false:
    // spec's workgroup size everywhere (tests of odd workgroups). rmsnorm, tuned: up to
    // 1024 invocations (subgroup_size lanes x rows).
    bool tuned_workgroups = true;
    uint32 matvec_small_lanes = 64;  // tuned: lanes per unit of matvec dispatches of fewer than 8192 units (VulkanOps.cpp kernel_spec)
    // true: batches of f16 weights run the tensor-core kernel (matmul_coop.comp) where the
    // device has it (rt.cooperative_matrix()), spec.use_fp16_math holds and rows are 16-byte
    // aligned; false: the tiled matmul.comp everywhere (A/B comparisons).
    bool coop_matmul = true;
    // Batches of 2 .. smalln_max_tokens rows (at most kSmallNMaxTokens) run the small-N weight
    // kernel (matvec.comp with several tokens per workgroup: each weight read once per
    // kSmallNBlock rows); 0 or 1: the per-token matvec up to kMatvecMaxTokens rows, then the
    // tiled matmul (A/B comparisons). Larger batches always run the tiled matmul.
    uint32 smalln_max_tokens = 64;
    uint32 smalln_block = 16;  // rows per workgroup block of the small-N kernel (a power of two, 2 .. kSmallNMaxBlock)
    SmallNKernel smalln_kernel = SmallNKernel::Regs;  // 16-byte-aligned batches; others always run Lanes' scalar loop
    PromptAttention prompt_attention = PromptAttention::Auto;  // non-paged attention of 2 or more rows (FlashAttention.h)
    IndirectSlots* indirect = nullptr;  // set: weight kernels dispatch indirectly (see IndirectSlots)
};

struct RopeConfig {
    uint32 pos0 = 0;
    uint32 head_dim = 0;
    uint32 n_rot = 0;
    bool neox = false;
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;
    VkBuffer table = VK_NULL_HANDLE;  // rope_table() values for positions [0, pos0 + n_tokens)
    bool round_f16 = false;           // round the rotated outputs to f16 precision
};

// (cos, sin) of pos * freq_scale * base^(-2i / n_rot) / factors[i] for pos < n_pos, i < n_rot / 2,
// as [pos][i][2] floats, computed in double (as precise as the CPU reference's libm).
// factors: (n_rot / 2) divisors of the angles (Llama 3.1's rope_freqs), or null.
std::vector<float> rope_table(uint32 n_pos, uint32 n_rot, float freq_base, float freq_scale, const float* factors = nullptr);

// Batches of at most this many tokens use the matvec kernels (one weight pass per token);
// larger ones the register-blocked matmul (one weight pass per 64 tokens, compute-bound).
// The crossover was measured on a datacenter GPU (docs/tuning.md).
constexpr uint32 kMatvecMaxTokens = 8;

// The small-N kernel (OpContext::smalln_max_tokens): batches of up to kSmallNMaxTokens rows;
// a workgroup multiplies its weight rows into the next power of two >= the batch, at most
// OpContext::smalln_block rows (larger batches: blocks of it in the grid's y). Each thread
// row owns 2 units (2 x 2 output rows) for blocks up to 16 rows, so an x packet read from L1
// serves 4 weight rows; 1 unit for larger blocks (accumulators: 2 x units x block floats).
constexpr uint32 kSmallNMaxTokens = 64;
constexpr uint32 kSmallNMaxBlock = 32;
// Rows per workgroup block of the small-N kernel for a batch of n rows in context c; 1: the
// batch does not run it (a single row, the option off, or more than its maximum).
uint32 smalln_block(const OpContext& c, uint32 n_tokens);
// The specialization of a matvec-family dispatch (k) of `units` units in small-N blocks of bt rows
// (1: one row): workgroup shape, BT / BP and, for 16-byte-aligned rows (vec8), the staged or regs
// kernel's x chunk (batch_chunk, batch_regs; 0: the Lanes kernel runs).
ShaderSpecialization weight_kernel_spec(const OpContext& c, Kernel k, uint32 units, uint32 bt, bool vec8);
// Whether a batch of n rows runs the matvec kernels (one row, the small-N kernel, or per-token
// matvecs up to kMatvecMaxTokens) rather than the tiled matmul. Their rows' results equal a
// one-row pass's bit for bit: the small-N kernel sums each output in the matvec's order, with
// its lanes (VulkanOps.cpp kernel_spec); the tiled matmul sums in another order.
bool matvec_path(const OpContext& c, uint32 n_tokens);

// An RMSNorm fused into a matvec op (decode): the op multiplies W by
// rmsnorm(X[t]) = X[t] * gamma / sqrt(mean(X[t]^2) + eps) instead of X[t], so X is the raw
// residual and no op_rmsnorm (nor its barrier) runs before it. Only for matvec-path batches
// (fused_norm_applies): larger ones run op_rmsnorm first. Every matvec-path batch fuses it, so
// that its rows are normed as a one-row pass norms them (the fused and separate norms round
// differently).
// gamma: f32 (cols elements of the weight) at element `offset` of `gamma` (any dtype of
// the model's norm weight converted once by the caller).
struct FusedNorm {
    VkBuffer gamma = VK_NULL_HANDLE;
    uint32 offset = 0;  // elements
    float eps = 1e-5f;
};
inline bool fused_norm_applies(const OpContext& c, uint32 n_tokens) { return matvec_path(c, n_tokens); }

// A bias added to every token's result rows before rope and rounding (Q / K / V biases): the
// f32 bias of weight row r at element offset + r of `buffer` (the model's DeviceVectors).
struct RowBias {
    VkBuffer buffer = VK_NULL_HANDLE;
    uint32 offset = 0;  // elements
};

// Y[t] (+)= W X[t] for t < n_tokens: matvec kernel for one row, the small-N kernel for batches of
// 2 .. OpContext::smalln_max_tokens rows (else per-token matvecs up to kMatvecMaxTokens), tiled
// matmul otherwise (tensor-core matmul for f16 weights, see OpContext::coop_matmul).
// round_f16: round the results to f16 precision (llama.cpp-compatible K/V/Q).
// norm: W rmsnorm(X[t]) instead (see FusedNorm; InvalidArgument for batches). bias: + the row bias.
ExpectedVoid op_matmul(OpContext& c, const DeviceWeight& w, ActView x, ActView y, uint32 n_tokens, bool accumulate,
                       bool round_f16 = false, const FusedNorm* norm = nullptr, const RowBias* bias = nullptr);
// Y[t] = rope(W X[t] (+ bias), pos0 + t); W's pieces must start at multiples of head_dim. norm: as op_matmul.
ExpectedVoid op_matmul_rope(OpContext& c, const DeviceWeight& w, ActView x, ActView y, uint32 n_tokens, const RopeConfig& rope,
                            const FusedNorm* norm = nullptr, const RowBias* bias = nullptr);
// Y[t] = act(Wgate X[t]) * (Wup X[t]), act = silu or gelu_tanh. norm: as op_matmul.
ExpectedVoid op_swiglu(OpContext& c, const DeviceWeight& gate, const DeviceWeight& up, ActView x, ActView y, uint32 n_tokens,
                       const FusedNorm* norm = nullptr, FfnActivation act = FfnActivation::Silu);
// Y[t] = rmsnorm(X[t]) * w, n elements per token; w is a single-piece weight of n elements.
ExpectedVoid op_rmsnorm(OpContext& c, const DeviceWeight& w, ActView x, ActView y, uint32 n, uint32 n_tokens, float eps);
// Y[t] += rmsnorm(X[t]) * gamma, n elements per token (a post norm joining the residual); gamma:
// f32, n elements at its offset.
ExpectedVoid op_rmsnorm_add(OpContext& c, const FusedNorm& gamma, ActView x, ActView y, uint32 n, uint32 n_tokens);
// Heads [0, n_heads) of Y[t] (head h at y.offset + t * y.stride + h * head_dim) replaced by
// rope(rmsnorm(head) * gamma, pos0 + t) (and f16-rounded if rope.round_f16): the Q / K head norms.
// gamma: f32, head_dim elements. rope.head_dim <= 1024.
ExpectedVoid op_head_norm_rope(OpContext& c, const FusedNorm& gamma, ActView y, uint32 n_heads, uint32 n_tokens, const RopeConfig& rope);
// Y[i] = cap * tanh(Y[i] / cap) for i < n, from y.offset (final logits).
ExpectedVoid op_softcap(OpContext& c, ActView y, uint32 n, float cap);
// Out = causal attention of Q over K/V cache positions [0, pos0 + t], for query heads
// [head_begin, n_head) (head_begin > 0: the GPU's heads of a hybrid row split; a multiple
// of n_head / n_head_kv so that whole KV groups stay on one side).
struct AttentionShape {
    uint32 n_tokens, pos0, n_head, n_head_kv, head_dim;
    uint32 head_begin = 0;
    float scale = 0.0f;    // scores q.k * scale; 0: 1 / sqrt(head_dim)
    float softcap = 0.0f;  // > 0: scores s -> softcap * tanh(s / softcap) before the softmax
    // Sliding window (> 0): the query at position p sees keys [p + 1 - window, p] only, and the
    // caches are rings of kv_rows rows (position j at row j % kv_rows; kv_rows >= window - 1 + n_tokens).
    uint32 window = 0;
    uint32 kv_rows = 0;
};
// k_new / v_new non-null: the caches hold f16 (attention_f16), the dispatch's tokens' K / V rows
// are f32 [n_tokens][kv_dim] in k_new / v_new, and the kernel stores them into the caches at
// rows [pos0, pos0 + n_tokens). Null: f32 caches that already hold those rows.
// Paged caches (attention_paged: f16 caches, k_new / v_new required): the dispatch's n_tokens rows
// belong to several sequences, described by `rows` (uints, layout in attention.comp: per row its
// position, its chunk's first position and row, its block table's offset; then the tables); the
// caches are pools of blocks of block_positions rows. pos0 and kv_rows are unused; a window only
// limits the keys (the pool keeps every position).
struct PagedKv {
    BufferBinding rows;
    uint32 block_positions = 0;
    bool one_sequence = false;  // the rows are one chunk of one sequence (consecutive positions): the flash kernels take it
};
ExpectedVoid op_attention(OpContext& c, const AttentionShape& s, ActView q, VkBuffer k_cache, VkBuffer v_cache, ActView out,
                          VkBuffer k_new = VK_NULL_HANDLE, VkBuffer v_new = VK_NULL_HANDLE, const PagedKv* paged = nullptr);
// The pipeline of kernel k for dtype t under c.spec, or an error naming the kernel.
Expected<VkPipeline> op_pipeline(OpContext& c, Kernel k, DType t);
// Every binding on c.dummy: a kernel's unused bindings must still name a valid buffer.
std::array<BufferBinding, kNumBindings> op_bindings(const OpContext& c);
// attention.comp's bindings, shared by its variants (flash, split-K): 0 / 1 the pass's new K / V
// rows (f16 caches only), 2 q, 3 out (or the split-K partials), 4 / 5 the caches, 6 the paged
// pool's row table.
std::array<BufferBinding, kNumBindings> attention_bindings(const OpContext& c, VkBuffer q, VkBuffer out, VkBuffer k_cache, VkBuffer v_cache,
                                                           VkBuffer k_new, VkBuffer v_new, const PagedKv* paged);
// op_attention's checks of the shape and buffers (the split-K op shares them, SplitKAttention.h).
ExpectedVoid attention_check(const OpContext& c, const AttentionShape& s, VkBuffer k_new, VkBuffer v_new, const PagedKv* paged);
// attention.comp's push constants for shape s (scale folded with the soft-cap).
gpu::AttentionParams attention_params(const AttentionShape& s, uint32 q_stride, uint32 out_stride, uint32 block_positions);
// The KernelFeature bits (ShaderSpecialization::features) attention.comp runs with for s.
inline uint32 attention_features(const AttentionShape& s) {
    return (s.softcap > 0.0f ? uint32(kFeatureSoftcap) : 0u) | (s.window > 0 ? uint32(kFeatureWindow) : 0u);
}
// dst = src, `bytes` (a multiple of 16, at most maxStorageBufferRange; both offsets multiples of
// minStorageBufferOffsetAlignment) by `groups` workgroups (copy.comp). Without a barrier after
// it, the kernels recorded next run beside it.
ExpectedVoid op_copy(OpContext& c, VkBuffer src, uint64 src_offset, VkBuffer dst, uint64 dst_offset, uint64 bytes, uint32 groups);
// Y[i] += X[i], i < n.
ExpectedVoid op_add(OpContext& c, ActView x, ActView y, uint32 n);
// Mixture of experts (moe.comp), rows of n elements; table: uints at element table_offset of
// `table`. Gather: Y row r = X row table[r] for r < rows (X, Y contiguous rows of n from
// their offsets). Combine: Y row t += sum_{j<k} w_j X row i_j for t < rows, where (i_j,
// bits of w_j) are the uint pairs from table[2 (t k + j)], summed in that order.
ExpectedVoid op_moe_gather(OpContext& c, ActView x, ActView y, uint32 n, uint32 rows, VkBuffer table, uint32 table_offset);
ExpectedVoid op_moe_combine(OpContext& c, ActView x, ActView y, uint32 n, uint32 rows, uint32 k, VkBuffer table, uint32 table_offset);

}  // namespace vk_symbiote
