// ShaderCopyStream: prompt passes (n_tokens > 1) with zero-copy streaming may bring the
// streamed weights into their slots by copy.comp dispatches recorded between the weight
// kernels, so the bus works beside them (VulkanOptions::prompt_upload). StreamCopySchedule
// decides which copies go before which kernel group; record() emits them.
#pragma once

#include <memory>
#include <vector>

#include "backend/vulkan/DmaStream.h"
#include "backend/vulkan/StreamCopySchedule.h"

namespace vk_symbiote {

// Kernel groups of a pass: per layer Q/K/V, O, gate/up, down; then the head (n_layer * 4).
enum CopyPart : uint32 { kCopyQkv = 0, kCopyO, kCopyGateUp, kCopyDown, kCopyParts };
constexpr uint32 copy_group(uint32 layer, CopyPart part) { return layer * kCopyParts + part; }

class ShaderCopyStream final : public WeightFeed {
public:
    // Enables shader copies when prompt_upload asks for them and every streamed piece is
    // aligned for copy.comp (see enabled()).
    ExpectedVoid setup(const VulkanContext& ctx, const ModelConfig& cfg, const DeviceWeights& w, const DmaStream& dma);
    bool enabled() const { return enabled_; }
    // The copies themselves are recorded between the kernels (record()): feeding a segment
    // only points its views at the slot they fill.
    bool uploads() const override { return false; }
    ExpectedVoid feed(FeedTarget& t, uint32 seg, uint32 slot) override;
    // The copies of one pass (skip_first: the first streamed segment was uploaded ahead by DMA);
    // record() emits nothing outside begin_pass() .. end_pass().
    void begin_pass(const VulkanOptions& opt, bool skip_first);
    void end_pass() { active_ = -1; }
    // The copies scheduled before kernel group `group`, into the ring's slots; adds their bytes to `copied`.
    ExpectedVoid record(OpContext& c, uint32 group, const WeightStreamRing& ring, uint32 workgroups, uint64& copied);

private:
    struct ShaderCopy {
        VkBuffer src = VK_NULL_HANDLE;
        uint64 src_offset = 0;
        uint32 slot = 0;
        uint64 dst_offset = 0;  // within the slot
        uint32 segment = 0;
    };
    void list_reads(const ModelConfig& cfg, const DeviceWeights& w, const std::vector<int32>& slot_of);
    uint32 consumer(uint32 seg, uint32 n_layer, const CopyRange& dst) const;  // the segment's first group that reads dst
    const StreamCopySchedule& schedule(const VulkanOptions& opt, uint32 which);

    bool enabled_ = false;
    std::vector<ShaderCopy> copies_;     // every streamed copy of a pass
    std::vector<SlotCopy> slot_copies_;  // the same in slot space (slot * slot_bytes + offset)
    std::vector<CopyGroup> groups_;      // the kernel groups' reads
    std::unique_ptr<StreamCopySchedule> schedules_[2];  // [skip_first]
    std::vector<SlotCopy> schedule_copies_[2];          // the copies each schedule indexes
    int32 active_ = -1;                                 // the schedule of the pass being recorded
};

}  // namespace vk_symbiote
