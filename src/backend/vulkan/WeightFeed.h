// WeightFeed: how a streamed segment's weights reach the ring slot its kernels read, one
// class per way: DmaStream (a transfer upload the recording waits for) and ShaderCopyStream
// (copy.comp dispatches recorded between the kernels, nothing to wait for). Resident
// segments need no feed: their views point at their own buffers (DeviceWeights).
#pragma once

#include "backend/vulkan/VulkanContext.h"

namespace vk_symbiote {

class DeviceWeights;
class WeightProvider;
class WeightStreamRing;

// What a feed works on: the model's weights, their device views and the slots.
struct FeedTarget {
    VulkanContext& ctx;
    WeightStreamRing& ring;
    WeightProvider& weights;
    DeviceWeights& w;
};

class WeightFeed {
public:
    virtual ~WeightFeed() = default;
    // True: the weights cross by an upload, and the recording that reads the slot is a
    // submission of its own that waits for it.
    virtual bool uploads() const = 0;
    // Segment `seg`'s weights into slot `slot` (or on their way there), its views bound to the slot.
    virtual ExpectedVoid feed(FeedTarget& t, uint32 seg, uint32 slot) = 0;
};

}  // namespace vk_symbiote
