#include "backend/vulkan/ModelBuffers.h"

#include <algorithm>

namespace vk_symbiote {

uint64 exchange_floats(const ModelConfig& cfg) { return std::max<uint64>({cfg.n_embd, cfg.q_dim(), cfg.n_ff}); }

uint64 ModelBuffers::device_bytes(const ModelConfig& cfg, bool kv_f16, uint32 n_ctx, uint32 n_batch, uint64 blk) {
    auto c = [&](uint64 bytes) { return vram_alloc_cost(bytes, blk); };
    const uint64 kv = 2ull * cfg.n_layer * c(kv_cache_bytes(cfg, kv_f16, n_ctx)) + (kv_f16 ? 2 * c(uint64(n_batch) * cfg.kv_dim() * 4) : 0);
    const uint64 act = c(uint64(n_ctx) * cfg.n_rot * 4) + c(uint64(n_batch) * cfg.n_embd * 4) * 2 + c(uint64(n_batch) * cfg.q_dim() * 4) * 2 +
                       c(uint64(n_batch) * cfg.n_ff * 4) + c(uint64(n_batch) * cfg.n_vocab * 4) + c(16);
    const uint64 gamma = c(uint64(2 * cfg.n_layer + 1) * cfg.n_embd * 4);  // DeviceWeights::norm_f32
    return kv + act + gamma;
}

ExpectedVoid ModelBuffers::create_device(VulkanContext& ctx, uint32 n_ctx, uint32 n_batch) {
    auto mk = [&](DeviceBuffer& b, uint64 bytes) -> ExpectedVoid {
        auto r = DeviceBuffer::create(ctx.mem, bytes, MemoryKind::DeviceLocal);
        if (!r) return r.error();
        b = std::move(*r);
        return {};
    };
    const uint64 kv_bytes = kv_cache_bytes(cfg_, kv_f16_, n_ctx);
    k_cache.resize(cfg_.n_layer);
    v_cache.resize(cfg_.n_layer);
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        VKS_TRY(mk(k_cache[l], kv_bytes));
        VKS_TRY(mk(v_cache[l], kv_bytes));
    }
    if (kv_f16_) {
        VKS_TRY(mk(k_new, uint64(n_batch) * cfg_.kv_dim() * 4));
        VKS_TRY(mk(v_new, uint64(n_batch) * cfg_.kv_dim() * 4));
    }
    VKS_TRY(mk(x, uint64(n_batch) * cfg_.n_embd * 4));
    VKS_TRY(mk(xn, uint64(n_batch) * cfg_.n_embd * 4));
    VKS_TRY(mk(q, uint64(n_batch) * cfg_.q_dim() * 4));
    VKS_TRY(mk(att, uint64(n_batch) * cfg_.q_dim() * 4));
    VKS_TRY(mk(hb, uint64(n_batch) * cfg_.n_ff * 4));
    VKS_TRY(mk(logits, uint64(n_batch) * cfg_.n_vocab * 4));
    VKS_TRY(mk(dummy, 16));
    const auto table = vk_symbiote::rope_table(n_ctx, cfg_.n_rot, cfg_.rope_freq_base, cfg_.rope_freq_scale);
    VKS_TRY(mk(rope_table, table.size() * 4));
    return ctx.compute.upload(table.data(), table.size() * 4, rope_table.buffer(), 0);
}

ExpectedVoid ModelBuffers::create_host(VulkanContext& ctx) {
    auto up = DeviceBuffer::create(ctx.mem, exchange_floats(cfg_) * 4, MemoryKind::HostStaging);
    if (!up) return up.error();
    x_up = std::move(*up);
    auto rb = DeviceBuffer::create(ctx.mem, uint64(cfg_.n_vocab) * 4, MemoryKind::HostReadback);
    if (!rb) return rb.error();
    logits_rb = std::move(*rb);
    xh.assign(cfg_.n_embd, 0.0f);
    return {};
}

}  // namespace vk_symbiote
