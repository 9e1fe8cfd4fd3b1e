// DeviceKvPool: the Vulkan backend's paged KV cache: the KvBlockPool bookkeeping over the
// device caches of ModelBuffers, whose every layer holds (n_blocks x block_positions) f16 K
// and V rows, block b's position s at row b x block_positions + s (the same block id in every
// layer, as KvLayout's one table per sequence). A copy on write copies the block's valid rows
// of every layer on the device (one submission, waited for: the scheduler's prepare_write
// runs between passes). The pool's copy callback cannot fail; a failed copy is kept and
// returned by the next take_error() (forward_batch's first step).
#pragma once

#include <optional>

#include "backend/KvBlockPool.h"
#include "backend/vulkan/ModelBuffers.h"

namespace vk_symbiote {

class DeviceKvPool {
public:
    DeviceKvPool(VulkanCompute& compute, const ModelBuffers& buf, const KvLayout& layout);
    DeviceKvPool(const DeviceKvPool&) = delete;
    DeviceKvPool& operator=(const DeviceKvPool&) = delete;

    KvBlockPool& pool() { return pool_; }
    // The first copy that failed since the last call (then the caches are not what the tables say).
    ExpectedVoid take_error();
    uint64 copies() const { return copies_; }  // blocks copied on write since creation
    // The pool's copy callback, also for a pool outside driving these blocks (VulkanBackend::copy_kv_block).
    void copy_block(uint32 src, uint32 dst, uint32 n);

private:
    ExpectedVoid record_copy(uint32 src, uint32 dst, uint32 n);

    VulkanCompute& compute_;
    const ModelBuffers& buf_;
    KvBlockPool pool_;
    std::optional<Error> error_;
    uint64 copies_ = 0;
};

}  // namespace vk_symbiote
