#include "backend/vulkan/StreamedKvAttention.h"

#include <algorithm>
#include <string>

#include "FlashTile.h"
#include "backend/vulkan/FlashAttention.h"
#include "backend/vulkan/HostAttention.h"
#include "backend/vulkan/ModelBuffers.h"
#include "backend/vulkan/WeightStreamRing.h"
#include "config/Logger.h"

namespace vk_symbiote {

bool stream_supported(const OpContext& c, const AttentionShape& s) {
    OpContext fc = c;  // the flash kernel's shape and device limits, whatever --prompt-attn says
    fc.prompt_attention = PromptAttention::Flash;
    AttentionShape t = s;
    t.n_tokens = std::max(t.n_tokens, 2u);
    return s.window == 0 && flash_kernel(fc, t, false, nullptr) == FlashKernel::Scalar;
}

ExpectedVoid op_attention_stream(OpContext& c, const AttentionShape& s, const StreamChunk& ch, ActView q, VkBuffer k, VkBuffer v,
                                 VkBuffer state, ActView out) {
    if (!stream_supported(c, s))
        return make_error(ErrorCode::Unsupported, "streamed KV attention: n_head " + std::to_string(s.n_head) + " / n_head_kv " +
                                                      std::to_string(s.n_head_kv) + " / head_dim " + std::to_string(s.head_dim) +
                                                      " not supported on this device (the flash kernel's limits, no window)");
    if (ch.key_lo >= ch.key_hi || (!ch.finish && ch.key_hi > s.pos0) || q.offset != 0 || out.offset != 0 || q.stride % 4 != 0 || !state)
        return make_error(ErrorCode::InvalidArgument, "streamed KV attention: keys [" + std::to_string(ch.key_lo) + ", " + std::to_string(ch.key_hi) +
                                                          ") for rows from position " + std::to_string(s.pos0) +
                                                          " (a cached chunk ends by pos0), q / out from element 0, a state buffer");
    ShaderSpecialization sp = c.spec;
    sp.workgroup_size_x = VKS_FLASH_THREADS;
    sp.workgroup_size_y = 1;
    sp.features = attention_features(s);
    VkPipeline pl = c.rt.get_pipeline(Kernel::AttentionStream, ch.f16 ? DType::F16 : DType::F32, sp);
    if (!pl) return make_error(ErrorCode::Device, std::string("pipeline attention_stream: ") + c.rt.last_error());
    auto b = op_bindings(c);
    b[2] = {q.buffer, 0, VK_WHOLE_SIZE};
    b[3] = {out.buffer, 0, VK_WHOLE_SIZE};
    b[4] = {k, 0, VK_WHOLE_SIZE};
    b[5] = {v, 0, VK_WHOLE_SIZE};
    b[6] = {state, 0, VK_WHOLE_SIZE};
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    struct {
        gpu::AttentionParams a;
        gpu::AttentionStreamParams k;
    } p{attention_params(s, q.stride, out.stride, 0u), {ch.key_lo, ch.key_hi, ch.state_in ? 1u : 0u, ch.finish ? 1u : 0u}};
    static_assert(sizeof p == sizeof(gpu::AttentionParams) + sizeof(gpu::AttentionStreamParams) && sizeof p <= kPushConstantBytes);
    c.rt.push_constants(&p, sizeof p);
    c.rt.dispatch_compute(pl, *set, s.n_head - s.head_begin, (s.n_tokens + VKS_FLASH_BQ - 1) / VKS_FLASH_BQ);
    return {};
}

std::array<uint64, 2> StreamedKvAttention::buffer_bytes(const ModelConfig& cfg, bool kv_f16, uint32 n_ctx, uint32 n_batch) {
    const uint64 chunk = std::min(kStreamChunkKeys, n_ctx);
    return {chunk * cfg.kv_dim() * (kv_f16 ? 2 : 4), uint64(n_batch) * cfg.n_head * (cfg.head_dim + 2) * 4};
}

Expected<std::unique_ptr<StreamedKvAttention>> StreamedKvAttention::create(VulkanContext& ctx, const ModelConfig& cfg, const HostAttention& host,
                                                                           uint32 n_ctx, uint32 n_batch) {
    const uint64 align = ctx.dev.caps().min_imported_host_pointer_alignment;
    if (ctx.opt.ram_kv_prompt == RamKvPrompt::Cpu || !ctx.dev.caps().external_memory_host || align == 0 || HostAttention::kCacheAlign % align != 0)
        return std::unique_ptr<StreamedKvAttention>();
    std::unique_ptr<StreamedKvAttention> s(new StreamedKvAttention(cfg, ctx.opt.ram_kv_prompt, ctx.dev.caps().is_cpu));
    s->chunk_ = std::min(kStreamChunkKeys, n_ctx);
    s->row_bytes_ = host.row_bytes();
    s->f16_ = s->row_bytes_ == uint64(cfg.kv_dim()) * 2;
    const auto [half, state] = buffer_bytes(cfg, s->f16_, n_ctx, n_batch);
    auto mk = [&](DeviceBuffer& b, uint64 bytes) -> ExpectedVoid {
        auto r = DeviceBuffer::create(ctx.mem, bytes, MemoryKind::DeviceLocal);
        if (!r) return r.error();
        b = std::move(*r);
        return {};
    };
    for (uint32 h = 0; h < 2; ++h) {
        VKS_TRY(mk(s->k_[h], half));
        VKS_TRY(mk(s->v_[h], half));
    }
    VKS_TRY(mk(s->state_, state));
    s->k_import_.resize(cfg.n_layer);
    s->v_import_.resize(cfg.n_layer);
    for (uint32 l = 0; l < cfg.n_layer; ++l) {
        if (!host.cache(l, false)) continue;
        auto k = DeviceBuffer::import(ctx.mem, host.cache(l, false), host.cache_alloc_bytes());
        auto v = k ? DeviceBuffer::import(ctx.mem, host.cache(l, true), host.cache_alloc_bytes()) : Expected<DeviceBuffer>(k.error());
        if (!v) {  // the driver refused the import: prompts attend on the host, as with --ram-kv-prompt cpu
            VKS_LOG_WARN("RAM KV caches: host import failed (" << v.error().to_string() << "); prompt attention stays on the host");
            return std::unique_ptr<StreamedKvAttention>();
        }
        s->k_import_[l] = std::move(*k);
        s->v_import_[l] = std::move(*v);
    }
    return s;
}

AttentionShape StreamedKvAttention::shape(uint32 n, uint32 pos) const {
    AttentionShape s{n, pos, cfg_.n_head, cfg_.n_head_kv, cfg_.head_dim};
    s.scale = cfg_.attention_scale();
    s.softcap = cfg_.attn_softcap;
    return s;
}

bool StreamedKvAttention::takes(const OpContext& c, uint32 n) const {
    if (how_ == RamKvPrompt::Auto && cpu_device_) return false;
    return n >= (how_ == RamKvPrompt::Gpu ? 2u : kStreamMinRows) && stream_supported(c, shape(n, 0));
}

// Chunk i's K and V rows cross into scratch half i % 2; the copy of chunk i + 1 is recorded right
// after the kernel of chunk i (no barrier between them: it writes the other half), and the
// barrier after both orders the next kernel after its copy and the previous state.
ExpectedVoid StreamedKvAttention::record(OpContext& c, WeightStreamRing& ring, const ModelBuffers& buf, uint32 l, uint32 n, uint32 pos) {
    if (l >= k_import_.size() || !k_import_[l])
        return make_error(ErrorCode::Internal, "StreamedKvAttention: layer " + std::to_string(l) + " has no RAM cache");
    const AttentionShape s = shape(n, pos);
    const ActView q{buf.q.buffer(), 0, cfg_.q_dim()}, out{buf.att.buffer(), 0, cfg_.q_dim()};
    const uint32 chunks = (pos + chunk_ - 1) / chunk_;
    auto copy = [&](uint32 i) -> ExpectedVoid {
        const uint64 off = uint64(i) * chunk_ * row_bytes_, bytes = uint64(std::min(chunk_, pos - i * chunk_)) * row_bytes_;
        bytes_ += 2 * bytes;
        VKS_TRY(ring.record_copy_in(k_import_[l].buffer(), k_[i % 2].buffer(), bytes, off, 0));
        return ring.record_copy_in(v_import_[l].buffer(), v_[i % 2].buffer(), bytes, off, 0);
    };
    if (chunks > 0) VKS_TRY(copy(0));
    for (uint32 i = 0; i < chunks; ++i) {
        const StreamChunk ch{i * chunk_, std::min(pos, (i + 1) * chunk_), f16_, i > 0, false};
        VKS_TRY(op_attention_stream(c, s, ch, q, k_[i % 2].buffer(), v_[i % 2].buffer(), state_.buffer(), out));
        if (i + 1 < chunks) VKS_TRY(copy(i + 1));
        c.rt.barrier();
    }
    const StreamChunk own{pos, pos + n, false, chunks > 0, true};
    VKS_TRY(op_attention_stream(c, s, own, q, buf.k_new.buffer(), buf.v_new.buffer(), state_.buffer(), out));
    c.rt.barrier();
    rows_ += n;
    return {};
}

}  // namespace vk_symbiote
