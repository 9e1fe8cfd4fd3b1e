// ExpertCache: the VRAM expert cache of a mixture of experts: VramPlan::expert_cache_entries
// device buffers, each one whole expert (its gate, up and down matrices laid out as in a slot's
// expert place, VramPlan::expert_place_bytes), and the policy that fills them (ExpertResidency:
// the most popular experts stay, by the routers' choices over recent tokens, --expert-half-life).
// A chosen expert found in an entry is read from there (no upload); one that missed streams
// into an expert place of its slot (DmaStream::feed_experts) and, when the policy keeps it, is
// copied on the device from that place into its entry after its kernels (record_keep): the bus
// carries each kept expert once. Not thread-safe (one forward pass at a time).
#pragma once

#include <memory>
#include <vector>

#include "backend/vulkan/DeviceBuffer.h"
#include "backend/vulkan/VramPlan.h"
#include "backend/vulkan/VulkanContext.h"
#include "model/ModelConfig.h"
#include "oracle/ExpertResidency.h"

namespace vk_symbiote {

class ExpertCache {
public:
    // Entries as the plan counted them (VramPlan::device_bytes includes them); half_life_tokens:
    // the popularity's half life.
    static Expected<std::unique_ptr<ExpertCache>> create(VulkanContext& ctx, const ModelConfig& cfg, const VramPlan& plan, float half_life_tokens);

    VkBuffer entry_buffer(uint32 e) const { return entries_[e].buffer(); }
    // Records into `cmd` the copy of one expert (entry bytes) from `src` at src_offset into
    // entry e: a barrier after every earlier access to either (earlier submissions of the
    // queue included: the kernels that read the entry's last expert), the copy, and a barrier
    // before every later shader read.
    void record_keep(VkCommandBuffer cmd, VkBuffer src, uint64 src_offset, uint32 e);
    uint64 kept_bytes() const { return kept_bytes_; }  // copied into entries since creation

    ExpertResidency policy;

private:
    uint64 entry_bytes_ = 0;
    uint64 kept_bytes_ = 0;
    std::vector<DeviceBuffer> entries_;
};

}  // namespace vk_symbiote
