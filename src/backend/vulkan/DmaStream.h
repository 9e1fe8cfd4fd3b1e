// DmaStream: streamed weights reach their ring slot by transfer commands (WeightStreamRing
// uploads). Zero-copy: the provider's host memory of every streamed tensor is imported once
// (VK_EXT_external_memory_host) and a segment's upload copies from it by DMA; otherwise the
// copy threads fill the slot's host staging from the pinned packs first. A mixture of
// experts' expert matrices are not part of their segment's upload: once the router chose,
// feed_experts() brings the chosen ones into their places in the same slot.
#pragma once

#include <vector>

#include "backend/vulkan/DeviceWeights.h"
#include "backend/vulkan/WeightFeed.h"

namespace vk_symbiote {

class DmaStream final : public WeightFeed {
public:
    // Imported rows [row_begin, row_end) of one provider slice of a streamed tensor.
    struct ImportedRows {
        VkBuffer buffer = VK_NULL_HANDLE;
        uint64 row_begin = 0, row_end = 0;
    };
    // Zero-copy: imports every streamed slice (covering it up to the next multiple of the
    // import alignment; the provider guarantees that padding is readable).
    ExpectedVoid import_streamed(VulkanContext& ctx, WeightProvider& weights, const DeviceWeights& w);
    // Acquires slot s, uploads segment `seg` into it and binds the segment's views to it.
    bool uploads() const override { return true; }
    ExpectedVoid feed(FeedTarget& t, uint32 seg, uint32 s) override;
    // An expert matrix to upload: its DeviceWeights::tensors index and the slot offset of the
    // expert place it goes to (VramPlan::expert_base + j x expert_place_bytes).
    struct PlacedTensor {
        size_t tensor = 0;
        uint64 place = 0;
    };
    // The expert matrices `tensors` (streamed in segment seg, whose feed() went into slot s and
    // whose readers finished) into their places in slot s, in one upload; the open recording
    // (or, on a transfer queue, the next submission of slot s) gets them.
    ExpectedVoid feed_experts(FeedTarget& t, uint32 seg, uint32 s, const std::vector<PlacedTensor>& tensors);
    // An expert matrix: uploaded only when chosen (feed_experts), never with its segment.
    static bool routed(const VramTensor& t) { return t.id.expert >= 0; }
    // Bytes of the upload issued ahead for the next pass (0: none).
    uint64 prepared_bytes() const;

    bool zero_copy = false;
    int32 pre_seg = -1;  // segment whose upload into slot 0 a finished forward issued for the next one
    std::vector<std::vector<WeightStreamRing::SourceCopy>> seg_copies;  // zero-copy: per segment, the copies into its slot (every tensor)
    std::vector<std::vector<WeightStreamRing::SourceCopy>> feed_copies; // zero-copy: the same without the experts (what feed() uploads)
    std::vector<std::vector<WeightStreamRing::SourceCopy>> tensor_copies;  // zero-copy: per tensor index, an expert's copies (relative to its place)
    std::vector<std::vector<ImportedRows>> tensor_imports;              // per DeviceWeights::tensors index

private:
    // Pins the tensors (their packs stay in RAM until copied), then copies the slices into the
    // slot layout in `staging` with the copy pool, each tensor's pieces shifted by its `place`
    // (0 for dense tensors, whose offsets are the slot's). Returns the slot ranges filled.
    Expected<std::vector<VkBufferCopy>> fill_slot(VulkanContext& ctx, WeightProvider& weights, const DeviceWeights& w, const std::vector<PlacedTensor>& tensors,
                                                  void* staging);
    std::vector<DeviceBuffer> imports_;
};

}  // namespace vk_symbiote
