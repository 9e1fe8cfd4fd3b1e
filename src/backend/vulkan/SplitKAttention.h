// SplitKAttention: split-K ("flash decoding") attention for the few rows of a decode step over
// a long context. attention.comp gives each (head, row) one workgroup, so at 30,000 positions a
// 32-head decode step keeps 32 workgroups busy and most of the GPU's memory bandwidth idle; here
// each (head, row, chunk of keys) is a workgroup (attention.comp's SPLIT_K variant: partial max,
// sum and weighted V of its chunk, online softmax), and attention_merge.comp combines the chunks
// exactly (log-sum-exp merge). Contiguous caches (f32, or f16 with the new rows in k_new /
// v_new) and paged f16 caches (a KV pool: rows of several sequences), GQA, sliding windows and
// soft-caps as op_attention. Chosen per dispatch by split_k_plan from --attn-split-k
// (docs/tuning.md).
//
// Batch invariance: a backend's chunks have one size (from the option and n_ctx) and start at
// each row's first key, so a row's output is the same bit for bit alone or among other rows (a
// speculative verification equals its one-row passes): a row of at most one chunk of keys gets
// op_attention's result (its other chunks are empty and merge as exact zeros).
#pragma once

#include "backend/vulkan/VulkanOps.h"

namespace vk_symbiote {

// Rows of a dispatch that may split (decode, a speculative verification); larger batches have
// n_head x rows workgroups already.
constexpr uint32 kSplitKMaxTokens = 4;
// At most this many chunks per row of a backend's context, each at least kSplitKMinChunkKeys
// keys: the partials stay small (rows x n_head x 64 x (head_dim + 2) floats).
constexpr uint32 kSplitKMaxChunks = 64;
constexpr uint32 kSplitKMinChunkKeys = 32;

// How a dispatch's keys are cut: each row's keys from its first key (the window's start) in
// n_chunks chunks of chunk_keys; n_chunks <= 1: not split (op_attention).
struct SplitKPlan {
    uint32 chunk_keys = 0;
    uint32 n_chunks = 0;
    bool split() const { return n_chunks > 1; }
};

// Keys per chunk of a backend whose rows see at most n_ctx keys, for --attn-split-k
// `option` keys (0: off, returns 0): max(option, 32, n_ctx / 64 rounded up).
uint32 split_k_chunk_keys(uint32 option, uint32 n_ctx);
// Keys of the longest row of a contiguous dispatch s: the last row's, or a window's.
uint32 split_k_longest_row(const AttentionShape& s);
// The plan for s.n_tokens rows whose longest sees `longest` keys (0: split_k_longest_row(s); paged
// passes: from the rows' positions) with chunks of chunk_keys (split_k_chunk_keys): split where
// that row has more keys than one chunk and there are at most kSplitKMaxTokens rows.
SplitKPlan split_k_plan(const AttentionShape& s, uint32 chunk_keys, uint32 longest = 0);

// Bytes of the partials of n_tokens rows (at most kSplitKMaxTokens count) over contexts of up to
// n_ctx keys, for n_head heads of head_dim, whatever the option; 0 where no dispatch can split.
uint64 split_k_partials_bytes(uint32 n_head, uint32 head_dim, uint32 n_tokens, uint32 n_ctx);

// op_attention's result (same arguments) in two dispatches: the plan's chunks into `partials`
// (at least split_k_partials_bytes(s.n_head, s.head_dim, s.n_tokens, n_ctx) bytes for the n_ctx
// the plan's chunks came from), a barrier, then their merge into out. The caller puts a barrier
// after it. paged: as op_attention's; the plan must cover the longest row's keys (the kernel
// reads each row's position from the pass buffer, this op does not).
ExpectedVoid op_attention_split_k(OpContext& c, const AttentionShape& s, const SplitKPlan& plan, ActView q, VkBuffer k_cache,
                                  VkBuffer v_cache, ActView out, VkBuffer partials, VkBuffer k_new = VK_NULL_HANDLE,
                                  VkBuffer v_new = VK_NULL_HANDLE, const PagedKv* paged = nullptr);

}  // namespace vk_symbiote
