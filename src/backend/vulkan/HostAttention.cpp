#include "backend/vulkan/HostAttention.h"

#include <cstring>

#include "backend/cpu/CpuKernels.h"

namespace vk_symbiote {

uint64 HostAttention::cache_bytes(const ModelConfig& cfg, uint32 n_ctx, const std::vector<uint8>& in_ram) {
    uint64 layers = 0;
    for (uint8 r : in_ram) layers += r;
    return layers * 2 * uint64(n_ctx) * cfg.kv_dim() * 4;
}

HostAttention::HostAttention(const ModelConfig& cfg, const ModelBuffers& buf, uint32 n_ctx, uint32 threads)
    : cfg_(cfg), buf_(buf), n_ctx_(n_ctx), pool_(threads) {}

Expected<std::unique_ptr<HostAttention>> HostAttention::create(VulkanContext& ctx, const ModelConfig& cfg, const ModelBuffers& buf, uint32 n_ctx,
                                                                uint32 n_batch, uint32 threads) {
    std::unique_ptr<HostAttention> h(new HostAttention(cfg, buf, n_ctx, threads));
    const uint64 rows = uint64(n_ctx) * cfg.kv_dim();
    h->k_.resize(cfg.n_layer);
    h->v_.resize(cfg.n_layer);
    for (uint32 l = 0; l < cfg.n_layer; ++l) {
        if (!buf.kv_in_ram(l)) continue;
        if (cfg.is_sliding(l)) return make_error(ErrorCode::Internal, "HostAttention: layer " + std::to_string(l) + " is a sliding-window ring (stays in VRAM)");
        h->k_[l].reset(new float[rows]);  // uninitialised on purpose (see the header)
        h->v_[l].reset(new float[rows]);
        h->cache_bytes_ += 2 * rows * 4;
    }
    auto rb = DeviceBuffer::create(ctx.mem, uint64(n_batch) * (cfg.q_dim() + 2 * cfg.kv_dim()) * 4, MemoryKind::HostReadback);
    if (!rb) return rb.error();
    h->rb_ = std::move(*rb);
    auto up = DeviceBuffer::create(ctx.mem, uint64(n_batch) * cfg.q_dim() * 4, MemoryKind::HostStaging);
    if (!up) return up.error();
    h->up_ = std::move(*up);
    h->scores_.assign(size_t(h->pool_.size()) * n_ctx, 0.0f);
    return h;
}

ExpectedVoid HostAttention::record_download(WeightStreamRing& ring, uint32 n) {
    const uint64 q = uint64(n) * cfg_.q_dim() * 4, kv = uint64(n) * cfg_.kv_dim() * 4;
    VKS_TRY(ring.record_copy_out(buf_.q.buffer(), rb_.buffer(), q));
    VKS_TRY(ring.record_copy_out(buf_.k_new.buffer(), rb_.buffer(), kv, 0, q));
    return ring.record_copy_out(buf_.v_new.buffer(), rb_.buffer(), kv, 0, q + kv);
}

ExpectedVoid HostAttention::attend(uint32 l, uint32 n, uint32 pos) {
    if (l >= cfg_.n_layer || !k_[l]) return make_error(ErrorCode::Internal, "HostAttention: layer " + std::to_string(l) + " has no RAM cache");
    if (uint64(pos) + n > n_ctx_)
        return make_error(ErrorCode::InvalidArgument, "HostAttention: positions up to " + std::to_string(pos + n) + " exceed n_ctx " + std::to_string(n_ctx_));
    const uint32 Q = cfg_.q_dim(), KV = cfg_.kv_dim(), hd = cfg_.head_dim, group = cfg_.n_head / cfg_.n_head_kv;
    // rb_: q (n, Q), then K (n, KV), then V (n, KV).
    const float* q = static_cast<const float*>(rb_.mapped());
    const float* k_new = q + uint64(n) * Q;
    const float* v_new = k_new + uint64(n) * KV;
    std::memcpy(k_row(l, pos), k_new, uint64(n) * KV * 4);
    std::memcpy(v_row(l, pos), v_new, uint64(n) * KV * 4);
    float* out = static_cast<float*>(up_.mapped());
    const float* K = k_[l].get();
    const float* V = v_[l].get();
    // One task per (token, head): token t attends to positions [0, pos + t].
    pool_.run(n * cfg_.n_head, [&](uint32 task, uint32 worker) {
        const uint32 t = task / cfg_.n_head, h = task % cfg_.n_head, kvh = h / group;
        cpu::AttentionArgs a;
        a.q = q + uint64(t) * Q + uint64(h) * hd;
        a.runs[0] = cpu::KvRun{K + uint64(kvh) * hd, V + uint64(kvh) * hd, pos + t + 1};
        a.kv_stride = KV;
        a.head_dim = hd;
        a.scale = cfg_.attention_scale();
        a.softcap = cfg_.attn_softcap;
        a.scores = scores_.data() + uint64(worker) * n_ctx_;
        a.out = out + uint64(t) * Q + uint64(h) * hd;
        cpu::attention_head(a);
    });
    return {};
}

ExpectedVoid HostAttention::record_upload(WeightStreamRing& ring, uint32 n) {
    return ring.record_copy_in(up_.buffer(), buf_.att.buffer(), uint64(n) * cfg_.q_dim() * 4);
}

}  // namespace vk_symbiote
