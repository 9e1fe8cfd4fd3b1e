#include "backend/vulkan/ExpertCache.h"

namespace vk_symbiote {

Expected<std::unique_ptr<ExpertCache>> ExpertCache::create(VulkanContext& ctx, const ModelConfig& cfg, const VramPlan& plan, float half_life_tokens) {
    auto c = std::make_unique<ExpertCache>();
    c->entry_bytes_ = plan.expert_place_bytes;
    for (uint32 e = 0; e < plan.expert_cache_entries; ++e) {
        auto b = DeviceBuffer::create(ctx.mem, plan.expert_place_bytes, MemoryKind::DeviceLocal);
        if (!b) return b.error();
        c->entries_.push_back(std::move(*b));
    }
    c->policy = ExpertResidency(cfg.n_layer, cfg.n_expert, cfg.n_expert_used, plan.expert_cache_entries, half_life_tokens > 0 ? half_life_tokens : 16.0f);
    return c;
}

void ExpertCache::record_keep(VkCommandBuffer cmd, VkBuffer src, uint64 src_offset, uint32 e) {
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, nullptr, 0,
                         nullptr);
    const VkBufferCopy region{src_offset, 0, entry_bytes_};
    vkCmdCopyBuffer(cmd, src, entries_[e].buffer(), 1, &region);
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, nullptr,
                         0, nullptr);
    kept_bytes_ += entry_bytes_;
}

}  // namespace vk_symbiote
