#include "backend/vulkan/ModelBuffers.h"

#include <algorithm>

#include "backend/vulkan/BatchRows.h"
#include "backend/vulkan/DeviceMoe.h"
#include "backend/vulkan/DeviceVectors.h"
#include "backend/vulkan/SplitKAttention.h"
#include "backend/vulkan/StreamedKvAttention.h"

namespace vk_symbiote {

uint64 exchange_floats(const ModelConfig& cfg) { return std::max<uint64>({cfg.n_embd, cfg.q_dim(), cfg.n_ff}); }

bool has_swa_rope(const ModelConfig& cfg) {
    return cfg.has_sliding_layers() && (cfg.rope_base_swa != cfg.rope_freq_base || cfg.rope_scale_swa != cfg.rope_freq_scale);
}

ExpectedVoid embedding_input(WeightProvider& weights, const ModelConfig& cfg, uint32 token, float* row) {
    VKS_TRY(weights.embedding_row(token, row));
    if (cfg.embd_scale != 1.0f)
        for (uint32 i = 0; i < cfg.n_embd; ++i) row[i] *= cfg.embd_scale;
    return {};
}

uint64 ModelBuffers::kv_layer_device_bytes(const ModelConfig& cfg, bool kv_f16, uint32 n_ctx, uint32 n_batch, uint32 l, uint64 blk) {
    return 2 * vram_alloc_cost(kv_cache_bytes(cfg, kv_f16, cfg.kv_rows(l, n_ctx, n_batch)), blk);
}

bool ModelBuffers::any_kv_in_ram() const {
    for (uint8 r : kv_in_ram_)
        if (r) return true;
    return false;
}

uint64 ModelBuffers::device_bytes(const ModelConfig& cfg, bool kv_f16, uint32 n_ctx, uint32 n_batch, uint64 blk, const Paged& paged,
                                  const std::vector<uint8>& in_ram) {
    auto c = [&](uint64 bytes) { return vram_alloc_cost(bytes, blk); };
    bool ram = false;
    for (uint8 r : in_ram) ram = ram || r;
    uint64 kv = kv_f16 || ram ? 2 * c(uint64(n_batch) * cfg.kv_dim() * 4) : 0;
    for (uint32 l = 0; l < cfg.n_layer; ++l) {
        if (l < in_ram.size() && in_ram[l]) continue;  // in RAM: no device cache
        kv += 2 * c(kv_cache_bytes(cfg, kv_f16, paged.positions ? paged.positions : cfg.kv_rows(l, n_ctx, n_batch)));
    }
    if (paged.positions) kv += c(BatchRows::buffer_bytes(cfg, n_batch, n_ctx, paged.block_positions, paged.align));
    if (const uint64 sk = split_k_partials_bytes(cfg.n_head, cfg.head_dim, n_batch, n_ctx)) kv += c(sk);
    if (ram) {  // the streamed attention's scratch (counted whether --ram-kv-prompt uses it or not)
        const auto [half, state] = StreamedKvAttention::buffer_bytes(cfg, kv_f16, n_ctx, n_batch);
        kv += 4 * c(half) + c(state);
    }
    const uint64 tables = c(uint64(n_ctx) * cfg.n_rot * 4) * (has_swa_rope(cfg) ? 2 : 1);
    const uint64 act = tables + c(uint64(n_batch) * cfg.n_embd * 4) * 2 + c(uint64(n_batch) * cfg.q_dim() * 4) * 2 +
                       c(uint64(n_batch) * cfg.n_ff * 4) + c(uint64(n_batch) * cfg.n_vocab * 4) + c(16);
    return kv + act + c(std::max<uint64>(DeviceVectors::table_floats(cfg), 4) * 4) + DeviceMoe::device_bytes(cfg, n_batch, blk);
}

ModelBuffers::KvTargets ModelBuffers::kv_targets(uint32 l, uint32 pos, uint32 n) const {
    const uint32 KV = cfg_.kv_dim();
    KvTargets t;
    if (kv_f16_ || kv_in_ram(l)) {
        t.run[t.count++] = {0, n, ActView{k_new.buffer(), 0, KV}, ActView{v_new.buffer(), 0, KV}};
        return t;
    }
    // Tokens [0, first) fill the rows up to the ring's end, the rest start again at row 0.
    const uint32 R = kv_rows_[l], row = pos % R, first = std::min(n, R - row);
    t.run[t.count++] = {0, first, ActView{k_cache[l].buffer(), row * KV, KV}, ActView{v_cache[l].buffer(), row * KV, KV}};
    if (first < n) t.run[t.count++] = {first, n - first, ActView{k_cache[l].buffer(), 0, KV}, ActView{v_cache[l].buffer(), 0, KV}};
    return t;
}

uint64 ModelBuffers::pass_info_offset() const { return BatchRows::info_offset(cfg_, n_batch_, paged_.align); }

ExpectedVoid ModelBuffers::create_device(VulkanContext& ctx, uint32 n_ctx, uint32 n_batch) {
    n_batch_ = n_batch;
    n_ctx_ = n_ctx;
    auto mk = [&](DeviceBuffer& b, uint64 bytes) -> ExpectedVoid {
        auto r = DeviceBuffer::create(ctx.mem, bytes, MemoryKind::DeviceLocal);
        if (!r) return r.error();
        b = std::move(*r);
        return {};
    };
    k_cache.resize(cfg_.n_layer);
    v_cache.resize(cfg_.n_layer);
    kv_rows_.resize(cfg_.n_layer);
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        kv_rows_[l] = paged_.positions ? paged_.positions : cfg_.kv_rows(l, n_ctx, n_batch);
        if (kv_in_ram(l)) continue;  // HostAttention holds its rows
        VKS_TRY(mk(k_cache[l], kv_cache_bytes(cfg_, kv_f16_, kv_rows_[l])));
        VKS_TRY(mk(v_cache[l], kv_cache_bytes(cfg_, kv_f16_, kv_rows_[l])));
    }
    if (has_new_rows()) {
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
    const uint64 sk = split_k_partials_bytes(cfg_.n_head, cfg_.head_dim, n_batch, n_ctx);
    if (sk) VKS_TRY(mk(attn_partials, sk));
    const float* factors = cfg_.rope_freq_factors.empty() ? nullptr : cfg_.rope_freq_factors.data();
    auto table = [&](DeviceBuffer& b, std::vector<float>& host, float base, float scale) -> ExpectedVoid {
        auto t = vk_symbiote::rope_table(n_ctx, cfg_.n_rot, base, scale, factors);
        VKS_TRY(mk(b, t.size() * 4));
        VKS_TRY(ctx.compute.upload(t.data(), t.size() * 4, b.buffer(), 0));
        if (paged_.positions) host = std::move(t);
        return {};
    };
    VKS_TRY(table(rope_table, rope_host, cfg_.rope_freq_base, cfg_.rope_freq_scale));
    if (paged_.positions) {
        const uint64 bytes = BatchRows::buffer_bytes(cfg_, n_batch, n_ctx, paged_.block_positions, paged_.align);
        VKS_TRY(mk(pass_rows, bytes));
        auto up = DeviceBuffer::create(ctx.mem, bytes, MemoryKind::HostStaging);
        if (!up) return up.error();
        pass_rows_up = std::move(*up);
    }
    return has_swa_rope(cfg_) ? table(rope_table_swa, rope_host_swa, cfg_.rope_base_swa, cfg_.rope_scale_swa) : ExpectedVoid{};
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
