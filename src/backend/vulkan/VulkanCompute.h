// VulkanCompute: one reusable command buffer on the compute queue with a fence and a
// timestamp pair (GPU time per submission), plus uploads through a ring of host-visible
// staging buffers on the transfer queue (or the compute queue when there is none).
// Buffers are created CONCURRENT across the two families (VulkanMemory), and upload()
// waits for its fence before returning, so no semaphore or ownership transfer is needed
// between an upload and later compute work.
// Thread-safety: none (one recording thread).
#pragma once

#include <memory>
#include <vector>

#include "backend/vulkan/VulkanMemory.h"

namespace vk_symbiote {

class VulkanCompute {
public:
    static Expected<std::unique_ptr<VulkanCompute>> create(const VulkanDevice& dev, VulkanMemory& mem,
                                                           uint64 staging_bytes = uint64(8) << 20, uint32 staging_slots = 2,
                                                           bool timestamps = true);
    ~VulkanCompute();

    // Starts recording the compute command buffer (the previous submission must be done).
    Expected<VkCommandBuffer> begin();
    // Ends, submits, waits up to timeout_ns. VK_TIMEOUT / VK_ERROR_DEVICE_LOST -> Error.
    ExpectedVoid submit_and_wait(uint64 timeout_ns = uint64(60) * 1000000000ull);
    // GPU time of the last submission in ns (0 when the queue has no timestamps).
    uint64 last_gpu_time_ns() const { return last_gpu_ns_; }

    // Copies `bytes` from host memory to dst at dst_offset through the staging ring.
    ExpectedVoid upload(const void* src, uint64 bytes, VkBuffer dst, uint64 dst_offset);
    // Calls of upload() since creation: each one a submission the host waits for.
    uint64 upload_calls() const { return upload_calls_; }
    // Copies from a device buffer to host memory (via a readback buffer when not mapped).
    ExpectedVoid download(const GpuBuffer& src, uint64 src_offset, void* dst, uint64 bytes);

private:
    struct Slot {
        GpuBuffer staging;
        VkCommandBuffer cmd = VK_NULL_HANDLE;
        VkFence fence = VK_NULL_HANDLE;
        bool pending = false;
    };
    VulkanCompute(const VulkanDevice& dev, VulkanMemory& mem) : dev_(dev), mem_(mem) {}
    ExpectedVoid wait_fence(VkFence f, uint64 timeout_ns, const char* what);
    ExpectedVoid flush_uploads();

    const VulkanDevice& dev_;
    VulkanMemory& mem_;
    VkCommandPool pool_ = VK_NULL_HANDLE, transfer_pool_ = VK_NULL_HANDLE;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    VkQueryPool queries_ = VK_NULL_HANDLE;
    bool recording_ = false;
    uint64 last_gpu_ns_ = 0;
    std::vector<Slot> slots_;
    uint32 next_slot_ = 0;
    uint64 upload_calls_ = 0;
    GpuBuffer readback_;
};

}  // namespace vk_symbiote
