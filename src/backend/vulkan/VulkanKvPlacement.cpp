// VulkanBackend's KV cache placement (KvPlacement): which layers' contiguous caches stay in
// VRAM when the budget cannot hold them all, and the host attention of the others.
#include "backend/vulkan/VulkanBackend.h"
#include "config/Logger.h"

namespace vk_symbiote {

const KvPlacement& VulkanBackend::kv_placement() const {
    static const KvPlacement none;
    return model_ ? model_->kv_place : none;
}

std::vector<KvLayerCost> VulkanBackend::kv_costs(uint32 n_ctx, uint32 n_batch, uint64 block) const {
    std::vector<KvLayerCost> costs(cfg_.n_layer);
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        costs[l].device_bytes = ModelBuffers::kv_layer_device_bytes(cfg_, kv_f16(), n_ctx, n_batch, l, block);
        costs[l].host_bytes = HostAttention::layer_bytes(cfg_, n_ctx, kv_f16());
        // Sliding rings are small and the host keeps no ring; a mixture's layer is split at its
        // router already (ForwardPass::moe_layer), so its attention stays on the device.
        costs[l].may_leave = !cfg_.is_sliding(l) && !cfg_.is_moe();
    }
    return costs;
}

// The minimum with every movable cache in RAM (weights all streamed) leaves the budget's rest;
// place_kv keeps the caches that fit in it, in layer order, and the VRAM plan gives the weights
// what is left after them.
Expected<VramPlan> VulkanBackend::plan_kv_in_ram(VramPlanInput in, uint32 n_ctx, uint32 n_batch) {
    ModelBuffers& buf = model_->buf;
    const std::vector<KvLayerCost> costs = kv_costs(n_ctx, n_batch, in.block_bytes);
    std::vector<uint8> movable(cfg_.n_layer, 0);
    uint64 fixed = 0;
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        movable[l] = costs[l].may_leave;
        if (!costs[l].may_leave) fixed += costs[l].device_bytes;
    }
    buf.set_kv_in_ram(movable);
    VramPlanInput lo = in;
    lo.fixed_bytes = ModelBuffers::device_bytes(cfg_, kv_f16(), n_ctx, n_batch, in.block_bytes, buf.paged(), movable);
    lo.budget_bytes = UINT64_MAX / 4;  // the minimum does not depend on the budget
    auto base = plan_vram(lo);
    if (!base) return base.error();
    if (in.budget_bytes < base->minimum_budget_bytes)
        return make_error(ErrorCode::BudgetTooSmall, "VRAM budget below the minimum with the KV caches in RAM");
    model_->kv_place = place_kv(costs, in.budget_bytes - base->minimum_budget_bytes + fixed);
    buf.set_kv_in_ram(model_->kv_place.in_ram);
    in.fixed_bytes = ModelBuffers::device_bytes(cfg_, kv_f16(), n_ctx, n_batch, in.block_bytes, buf.paged(), model_->kv_place.in_ram);
    return plan_vram(in);
}

ExpectedVoid VulkanBackend::setup_host_attention(uint32 n_ctx, uint32 n_batch) {
    VulkanModel& m = *model_;
    if (!m.buf.any_kv_in_ram()) return {};
    VulkanContext c = ctx();
    auto h = HostAttention::create(c, m.cfg, m.buf, n_ctx, n_batch, opt_.cpu_threads);
    if (!h) return h.error();
    m.host_att = std::move(*h);
    auto s = StreamedKvAttention::create(c, m.cfg, *m.host_att, n_ctx, n_batch);
    if (!s) return s.error();
    m.stream_att = std::move(*s);
    VKS_LOG_INFO(m.kv_place.summary());
    return {};
}

}  // namespace vk_symbiote
