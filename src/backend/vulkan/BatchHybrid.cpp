#include "backend/vulkan/BatchHybrid.h"

#include <algorithm>
#include <thread>

#include "model/KvLayout.h"

namespace vk_symbiote {

Expected<std::unique_ptr<BatchHybrid>> BatchHybrid::create(VulkanContext& ctx, WeightProvider& weights, const ModelConfig& cfg, uint32 n_batch,
                                                            uint32 min_heads) {
    auto h = std::make_unique<BatchHybrid>(cfg, min_heads);
    const VulkanOptions& opt = ctx.opt;
    const uint32 hw = std::max(1u, std::thread::hardware_concurrency());
    h->cpu = std::make_unique<CpuBackend>(opt.cpu_threads ? opt.cpu_threads : hw, cpu::KernelPath::Auto,
                                          opt.kv_f16_rounding ? KvPrecision::F16Rounded : KvPrecision::F32);
    h->cpu->set_matvec_options(opt.cpu_prefetch_bytes, opt.cpu_batch);
    // One block of positions: the rows parts keep no cache (qkv_rows ropes at the rows' positions).
    VKS_TRY(h->cpu->prepare(weights, kKvBlockPositions, n_batch));
    const uint64 B = n_batch, E = cfg.n_embd, Q = cfg.q_dim(), KV = cfg.kv_dim(), F = cfg.n_ff, V = cfg.n_vocab;
    auto up = DeviceBuffer::create(ctx.mem, B * std::max({E, Q + 2 * KV, F}) * 4, MemoryKind::HostStaging);
    if (!up) return up.error();
    h->up = std::move(*up);
    auto down = DeviceBuffer::create(ctx.mem, B * std::max({E, Q, F, V}) * 4, MemoryKind::HostReadback);
    if (!down) return down.error();
    h->down = std::move(*down);
    try {
        h->x.assign(B * E, 0.0f);
        h->part.assign(B * std::max({Q + 2 * KV, E, F, V}), 0.0f);
        h->full.assign(B * std::max({Q, F, E}), 0.0f);
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory, "vulkan: cannot allocate the batched hybrid part's host buffers for n_batch " + std::to_string(n_batch));
    }
    return h;
}

}  // namespace vk_symbiote
