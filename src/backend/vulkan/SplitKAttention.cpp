#include "backend/vulkan/SplitKAttention.h"

#include <algorithm>

namespace vk_symbiote {

namespace {

// The partials of every (row, head, chunk) from the SPLIT_K variant of attention.comp.
ExpectedVoid record_chunks(OpContext& c, const AttentionShape& s, const SplitKPlan& plan, ActView q, VkBuffer k_cache, VkBuffer v_cache,
                           VkBuffer partials, VkBuffer k_new, VkBuffer v_new, const PagedKv* paged) {
    const bool f16 = k_new != VK_NULL_HANDLE;
    OpContext fc = c;
    fc.spec.features = attention_features(s);
    auto pl = op_pipeline(fc, paged ? Kernel::AttentionSplitKPaged : Kernel::AttentionSplitK, f16 ? DType::F16 : DType::F32);
    if (!pl) return pl.error();
    auto set = c.rt.make_descriptor_set(attention_bindings(c, q.buffer, partials, k_cache, v_cache, k_new, v_new, paged));
    if (!set) return set.error();
    struct {
        gpu::AttentionParams a;
        gpu::AttentionSplitParams k;
    } p{attention_params(s, q.stride, 0u, paged ? paged->block_positions : 0u), {plan.chunk_keys, plan.n_chunks, s.n_tokens * s.n_head * plan.n_chunks * s.head_dim}};
    static_assert(sizeof p == sizeof(gpu::AttentionParams) + sizeof(gpu::AttentionSplitParams) && sizeof p <= kPushConstantBytes);
    c.rt.push_constants(&p, sizeof p);
    c.rt.dispatch_compute(*pl, *set, s.n_head - s.head_begin, s.n_tokens, plan.n_chunks);
    return {};
}

ExpectedVoid record_merge(OpContext& c, const AttentionShape& s, const SplitKPlan& plan, VkBuffer partials, ActView out) {
    auto pl = op_pipeline(c, Kernel::AttentionMerge, DType::F32);
    if (!pl) return pl.error();
    auto b = op_bindings(c);
    b[2] = {partials, 0, VK_WHOLE_SIZE};
    b[3] = {out.buffer, 0, VK_WHOLE_SIZE};
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    const gpu::AttentionMergeParams p{s.n_head, s.head_begin, s.head_dim, plan.n_chunks, s.n_tokens * s.n_head * plan.n_chunks * s.head_dim,
                                      out.stride};
    c.rt.push_constants(&p, sizeof p);
    c.rt.dispatch_compute(*pl, *set, s.n_head - s.head_begin, s.n_tokens);
    return {};
}

}  // namespace

uint32 split_k_chunk_keys(uint32 option, uint32 n_ctx) {
    if (option == 0) return 0;
    return std::max({option, kSplitKMinChunkKeys, (n_ctx + kSplitKMaxChunks - 1) / kSplitKMaxChunks});
}

uint32 split_k_longest_row(const AttentionShape& s) {
    const uint32 last = s.pos0 + s.n_tokens;
    return s.window > 0 ? std::min(s.window, last) : last;
}

SplitKPlan split_k_plan(const AttentionShape& s, uint32 chunk_keys, uint32 longest) {
    const uint32 keys = longest ? longest : split_k_longest_row(s);
    if (chunk_keys == 0 || s.n_tokens == 0 || s.n_tokens > kSplitKMaxTokens || keys <= chunk_keys) return {};
    return SplitKPlan{chunk_keys, (keys + chunk_keys - 1) / chunk_keys};
}

uint64 split_k_partials_bytes(uint32 n_head, uint32 head_dim, uint32 n_tokens, uint32 n_ctx) {
    // Chunks of at least max(32, n_ctx / 64) keys: at most min(64, n_ctx / 32) of them.
    const uint64 chunks = std::min(kSplitKMaxChunks, (n_ctx + kSplitKMinChunkKeys - 1) / kSplitKMinChunkKeys);
    if (chunks <= 1) return 0;
    return uint64(std::min(n_tokens, kSplitKMaxTokens)) * n_head * chunks * (head_dim + 2) * 4;
}

ExpectedVoid op_attention_split_k(OpContext& c, const AttentionShape& s, const SplitKPlan& plan, ActView q, VkBuffer k_cache,
                                  VkBuffer v_cache, ActView out, VkBuffer partials, VkBuffer k_new, VkBuffer v_new, const PagedKv* paged) {
    VKS_TRY(attention_check(c, s, k_new, v_new, paged));
    if (!plan.split() || plan.n_chunks > kSplitKMaxChunks || s.n_tokens > kSplitKMaxTokens || plan.chunk_keys < kSplitKMinChunkKeys ||
        uint64(plan.chunk_keys) * plan.n_chunks < split_k_longest_row(s))
        return make_error(ErrorCode::InvalidArgument, "split-K attention: " + std::to_string(plan.n_chunks) + " chunks of " +
                                                          std::to_string(plan.chunk_keys) + " keys for " + std::to_string(s.n_tokens) +
                                                          " rows of up to " + std::to_string(split_k_longest_row(s)) + " keys (split_k_plan)");
    if (!partials || q.offset != 0 || out.offset != 0)
        return make_error(ErrorCode::InvalidArgument, "split-K attention: needs a partials buffer, q and out views from element 0");
    VKS_TRY(record_chunks(c, s, plan, q, k_cache, v_cache, partials, k_new, v_new, paged));
    c.rt.barrier();
    return record_merge(c, s, plan, partials, out);
}

}  // namespace vk_symbiote
