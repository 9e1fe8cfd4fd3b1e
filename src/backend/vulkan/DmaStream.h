// DmaStream: streamed weights reach their ring slot by transfer commands (WeightStreamRing
// uploads). Zero-copy: the provider's host memory of every streamed tensor is imported once
// (VK_EXT_external_memory_host) and a segment's upload copies from it by DMA; otherwise the
// copy threads fill the slot's host staging from the pinned packs first.
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
    // Bytes of the upload issued ahead for the next pass (0: none).
    uint64 prepared_bytes() const;

    bool zero_copy = false;
    int32 pre_seg = -1;  // segment whose upload into slot 0 a finished forward issued for the next one
    std::vector<std::vector<WeightStreamRing::SourceCopy>> seg_copies;  // zero-copy: per segment, the copies into its slot
    std::vector<std::vector<ImportedRows>> tensor_imports;              // per DeviceWeights::tensors index

private:
    // Pins every streamed tensor of the segment (their packs stay in RAM until copied), then
    // copies the slices into the slot layout in `staging` with the copy pool.
    ExpectedVoid fill_slot(VulkanContext& ctx, WeightProvider& weights, const DeviceWeights& w, uint32 seg, void* staging);
    std::vector<DeviceBuffer> imports_;
};

}  // namespace vk_symbiote
