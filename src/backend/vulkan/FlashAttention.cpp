#include "backend/vulkan/FlashAttention.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "FlashTile.h"

namespace vk_symbiote {

namespace {

bool heads_group(const AttentionShape& s) {
    return s.n_head_kv > 0 && s.n_head % s.n_head_kv == 0 && s.head_begin < s.n_head && s.head_begin % (s.n_head / s.n_head_kv) == 0;
}

// The shape and device limits of attention_flash.comp (FlashTile.h).
bool scalar_supported(const OpContext& c, const AttentionShape& s) {
    return heads_group(s) && s.head_dim % 4 == 0 && s.head_dim <= VKS_FLASH_HD_MAX &&
           c.rt.max_shared_memory_bytes() >= VKS_FLASH_SHARED_BYTES && c.rt.max_workgroup_invocations() >= VKS_FLASH_THREADS;
}

// attention_flash_coop.comp's: 16-dim fragments, f16 caches, the tensor-core capability
// (which implies subgroups of 32).
bool coop_supported(const OpContext& c, const AttentionShape& s, bool f16_caches) {
    return f16_caches && c.rt.cooperative_matrix() && heads_group(s) && s.head_dim % 16 == 0 && s.head_dim <= VKS_FLASH_HD_MAX &&
           c.rt.max_shared_memory_bytes() >= VKS_FLASHC_SHARED_BYTES && c.rt.max_workgroup_invocations() >= VKS_FLASHC_THREADS;
}

ExpectedVoid check_flash_shape(const OpContext& c, FlashKernel k, const AttentionShape& s, bool f16, ActView q, ActView out,
                               const PagedKv* paged) {
    if (paged && (!f16 || !paged->one_sequence || !paged->rows.buffer || paged->block_positions == 0))
        return make_error(ErrorCode::InvalidArgument, "paged flash attention: needs f16 caches, one sequence's rows, a row table and a block size");
    const bool ok = k == FlashKernel::Coop ? coop_supported(c, s, f16) : k == FlashKernel::Scalar && scalar_supported(c, s);
    if (!ok)
        return make_error(ErrorCode::Unsupported, std::string(k == FlashKernel::Coop ? "tensor-core " : "") + "flash attention: n_head " +
                                                      std::to_string(s.n_head) + " / n_head_kv " + std::to_string(s.n_head_kv) +
                                                      " / head_dim " + std::to_string(s.head_dim) + " / first head " +
                                                      std::to_string(s.head_begin) + (f16 ? " (f16 caches)" : " (f32 caches)") +
                                                      " not supported on this device");
    if (q.offset != 0 || out.offset != 0 || q.stride % 4 != 0)
        return make_error(ErrorCode::InvalidArgument, "flash attention: q and out views must start at element 0, q rows at multiples of 4");
    if (!paged && s.window > 0 && s.kv_rows < std::min(s.pos0 + s.n_tokens, s.window - 1 + s.n_tokens))
        return make_error(ErrorCode::InvalidArgument, "flash attention: a ring of " + std::to_string(s.kv_rows) + " KV rows cannot hold a window of " +
                                                          std::to_string(s.window) + " for " + std::to_string(s.n_tokens) + " tokens");
    return {};
}

}  // namespace

FlashKernel flash_kernel(const OpContext& c, const AttentionShape& s, bool f16_caches, const PagedKv* paged) {
    const PromptAttention how = c.prompt_attention;
    if ((paged && !paged->one_sequence) || how == PromptAttention::Classic || s.n_tokens < (how == PromptAttention::Auto ? kFlashMinRows : 2u)) return FlashKernel::None;
    if (how == PromptAttention::Coop && coop_supported(c, s, f16_caches)) return FlashKernel::Coop;
    return scalar_supported(c, s) ? FlashKernel::Scalar : FlashKernel::None;
}

ExpectedVoid op_attention_flash(OpContext& c, FlashKernel k, const AttentionShape& s, ActView q, VkBuffer k_cache, VkBuffer v_cache,
                                ActView out, VkBuffer k_new, VkBuffer v_new, const PagedKv* paged) {
    const bool f16 = k_new != VK_NULL_HANDLE && v_new != VK_NULL_HANDLE;
    VKS_TRY(check_flash_shape(c, k, s, f16, q, out, paged));
    const bool coop = k == FlashKernel::Coop;
    ShaderSpecialization sp = c.spec;  // the tile's workgroup and the family features of this dispatch
    sp.workgroup_size_x = coop ? VKS_FLASHC_THREADS : VKS_FLASH_THREADS;
    sp.workgroup_size_y = 1;
    sp.features = (s.softcap > 0.0f ? uint32(kFeatureSoftcap) : 0u) | (s.window > 0 ? uint32(kFeatureWindow) : 0u);
    const Kernel kernel = paged ? (coop ? Kernel::AttentionFlashCoopPaged : Kernel::AttentionFlashPaged)
                                : (coop ? Kernel::AttentionFlashCoop : Kernel::AttentionFlash);
    VkPipeline pl = c.rt.get_pipeline(kernel, f16 ? DType::F16 : DType::F32, sp);
    if (!pl) return make_error(ErrorCode::Device, std::string("pipeline ") + kernel_name(kernel) + ": " + c.rt.last_error());
    // The paged row table from element 0 of its binding (row_info 0).
    auto set = c.rt.make_descriptor_set(attention_bindings(c, q.buffer, out.buffer, k_cache, v_cache, k_new, v_new, paged));
    if (!set) return set.error();
    // As op_attention: with a soft-cap q is scaled by scale / cap and the kernel takes cap * tanh(q.k).
    const float scale = s.scale > 0.0f ? s.scale : 1.0f / std::sqrt(float(s.head_dim));
    gpu::AttentionParams p{s.n_tokens, s.pos0, s.n_head, s.n_head_kv, s.head_dim, q.stride, s.n_head_kv * s.head_dim, out.stride,
                           s.softcap > 0.0f ? scale / s.softcap : scale, s.head_begin, s.softcap, s.window, s.kv_rows,
                           paged ? paged->block_positions : 0u, 0u};
    c.rt.push_constants(&p, sizeof p);
    const uint32 bq = coop ? VKS_FLASHC_BQ : VKS_FLASH_BQ;
    c.rt.dispatch_compute(pl, *set, s.n_head - s.head_begin, (s.n_tokens + bq - 1) / bq);
    return {};
}

}  // namespace vk_symbiote
