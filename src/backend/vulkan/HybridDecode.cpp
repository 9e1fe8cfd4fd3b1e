#include "backend/vulkan/HybridDecode.h"

#include <thread>

namespace vk_symbiote {

Expected<std::unique_ptr<HybridDecode>> HybridDecode::create(VulkanContext& ctx, WeightProvider& weights, const ModelConfig& cfg, uint32 n_ctx,
                                                              ModelBuffers& buf, uint64& kv_sync_bytes) {
    auto h = std::make_unique<HybridDecode>();
    const VulkanOptions& opt = ctx.opt;
    const uint32 hw = std::max(1u, std::thread::hardware_concurrency());
    h->cpu = std::make_unique<CpuBackend>(opt.cpu_threads ? opt.cpu_threads : hw, cpu::KernelPath::Auto,
                                          opt.kv_f16_rounding ? KvPrecision::F16Rounded : KvPrecision::F32);
    h->cpu->set_matvec_options(opt.cpu_prefetch_bytes, opt.cpu_batch);
    VKS_TRY(h->cpu->prepare(weights, n_ctx, 1));
    auto dn = DeviceBuffer::create(ctx.mem, exchange_floats(cfg) * 4, MemoryKind::HostReadback);
    if (!dn) return dn.error();
    h->x_down = std::move(*dn);
    h->kv = std::make_unique<HybridKv>(cfg, ctx.compute, buf, *h->cpu, kv_sync_bytes);
    h->att_h.assign(cfg.q_dim(), 0.0f);
    h->h_h.assign(cfg.n_ff, 0.0f);
    h->logits_h.assign(cfg.n_vocab, 0.0f);
    h->o_h.assign(cfg.n_embd, 0.0f);
    return h;
}

void HybridDecode::apply_layers(const DeviceWeights& w, uint32 n_layer) {
    const auto& mask = split->cpu_mask();
    for (uint32 l = 0, j = 0; l < n_layer; ++l)
        if (w.streams(l)) cpu_layer[l] = mask[j++];
    cpu_layers = split->cpu_layers();
}

}  // namespace vk_symbiote
