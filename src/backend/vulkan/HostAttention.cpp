#include "backend/vulkan/HostAttention.h"

#include <cstdlib>
#include <cstring>

#include "backend/cpu/HalfKvAttention.h"
#include "common/HalfFloat.h"

namespace vk_symbiote {

void HostAttention::FreeAligned::operator()(uint8* p) const { std::free(p); }

HostAttention::HostAttention(const ModelConfig& cfg, const ModelBuffers& buf, uint32 n_ctx, uint32 threads)
    : cfg_(cfg), buf_(buf), n_ctx_(n_ctx), pool_(threads) {}

Expected<std::unique_ptr<HostAttention>> HostAttention::create(VulkanContext& ctx, const ModelConfig& cfg, const ModelBuffers& buf, uint32 n_ctx,
                                                                uint32 n_batch, uint32 threads) {
    std::unique_ptr<HostAttention> h(new HostAttention(cfg, buf, n_ctx, threads));
    h->elem_ = buf.kv_f16() ? 2 : 4;
    const uint64 bytes = uint64(n_ctx) * cfg.kv_dim() * h->elem_;
    h->alloc_bytes_ = (bytes + kCacheAlign - 1) / kCacheAlign * kCacheAlign;
    h->k_.resize(cfg.n_layer);
    h->v_.resize(cfg.n_layer);
    for (uint32 l = 0; l < cfg.n_layer; ++l) {
        if (!buf.kv_in_ram(l)) continue;
        if (cfg.is_sliding(l)) return make_error(ErrorCode::Internal, "HostAttention: layer " + std::to_string(l) + " is a sliding-window ring (stays in VRAM)");
        // Uninitialised on purpose (see the header).
        h->k_[l].reset(static_cast<uint8*>(std::aligned_alloc(kCacheAlign, h->alloc_bytes_)));
        h->v_[l].reset(static_cast<uint8*>(std::aligned_alloc(kCacheAlign, h->alloc_bytes_)));
        if (!h->k_[l] || !h->v_[l]) return make_error(ErrorCode::OutOfMemory, "HostAttention: the RAM KV cache of layer " + std::to_string(l) + " (" + std::to_string(2 * bytes) + " bytes)");
        h->cache_bytes_ += 2 * bytes;
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

ExpectedVoid HostAttention::record_download(WeightStreamRing& ring, uint32 n, bool q_too) {
    const uint64 q = uint64(n) * cfg_.q_dim() * 4, kv = uint64(n) * cfg_.kv_dim() * 4;
    if (q_too) VKS_TRY(ring.record_copy_out(buf_.q.buffer(), rb_.buffer(), q));
    VKS_TRY(ring.record_copy_out(buf_.k_new.buffer(), rb_.buffer(), kv, 0, q));
    return ring.record_copy_out(buf_.v_new.buffer(), rb_.buffer(), kv, 0, q + kv);
}

void HostAttention::store(uint32 l, bool v, uint32 pos, const float* rows, uint32 n) {
    const uint64 count = uint64(n) * cfg_.kv_dim();
    uint8* dst = row(l, v, pos);
    if (elem_ == 4) {
        std::memcpy(dst, rows, count * 4);
        return;
    }
    uint16* h = reinterpret_cast<uint16*>(dst);
    for (uint64 i = 0; i < count; ++i) h[i] = f32_to_f16(rows[i]);  // exact: the rows are f16-rounded
}

void HostAttention::attend_head(uint32 l, uint32 h, const float* q, uint32 end, float* scores, float* out) {
    const uint32 hd = cfg_.head_dim, kvh = h / (cfg_.n_head / cfg_.n_head_kv);
    const uint64 col = uint64(kvh) * hd * elem_;  // the KV head's first byte in a row
    if (elem_ == 2) {
        cpu::HalfKvArgs a;
        a.q = q;
        a.k = reinterpret_cast<const uint16*>(row(l, false, 0) + col);
        a.v = reinterpret_cast<const uint16*>(row(l, true, 0) + col);
        a.kv_stride = cfg_.kv_dim();
        a.n = end;
        a.head_dim = hd;
        a.scale = cfg_.attention_scale();
        a.softcap = cfg_.attn_softcap;
        a.scores = scores;
        a.out = out;
        return cpu::attention_head_f16(a);
    }
    cpu::AttentionArgs a;
    a.q = q;
    a.runs[0] = cpu::KvRun{reinterpret_cast<const float*>(row(l, false, 0) + col), reinterpret_cast<const float*>(row(l, true, 0) + col), end};
    a.kv_stride = cfg_.kv_dim();
    a.head_dim = hd;
    a.scale = cfg_.attention_scale();
    a.softcap = cfg_.attn_softcap;
    a.scores = scores;
    a.out = out;
    cpu::attention_head(a);
}

ExpectedVoid HostAttention::append(uint32 l, uint32 n, uint32 pos) {
    if (l >= cfg_.n_layer || !k_[l]) return make_error(ErrorCode::Internal, "HostAttention: layer " + std::to_string(l) + " has no RAM cache");
    if (uint64(pos) + n > n_ctx_)
        return make_error(ErrorCode::InvalidArgument, "HostAttention: positions up to " + std::to_string(pos + n) + " exceed n_ctx " + std::to_string(n_ctx_));
    // rb_: q (n, Q), then K (n, KV), then V (n, KV).
    const float* q = static_cast<const float*>(rb_.mapped());
    const uint64 Q = cfg_.q_dim(), KV = cfg_.kv_dim();
    store(l, false, pos, q + n * Q, n);
    store(l, true, pos, q + n * (Q + KV), n);
    return {};
}

ExpectedVoid HostAttention::attend(uint32 l, uint32 n, uint32 pos) {
    VKS_TRY(append(l, n, pos));
    const uint32 Q = cfg_.q_dim(), hd = cfg_.head_dim;
    const float* q = static_cast<const float*>(rb_.mapped());
    float* out = static_cast<float*>(up_.mapped());
    // One task per (token, head): token t attends to positions [0, pos + t].
    pool_.run(n * cfg_.n_head, [&](uint32 task, uint32 worker) {
        const uint32 t = task / cfg_.n_head, h = task % cfg_.n_head;
        const uint64 at = uint64(t) * Q + uint64(h) * hd;
        attend_head(l, h, q + at, pos + t + 1, scores_.data() + uint64(worker) * n_ctx_, out + at);
    });
    return {};
}

ExpectedVoid HostAttention::record_upload(WeightStreamRing& ring, uint32 n) {
    return ring.record_copy_in(up_.buffer(), buf_.att.buffer(), uint64(n) * cfg_.q_dim() * 4);
}

}  // namespace vk_symbiote
