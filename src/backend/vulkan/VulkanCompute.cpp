#include "backend/vulkan/VulkanCompute.h"

#include <algorithm>
#include <cstring>

namespace vk_symbiote {

Expected<std::unique_ptr<VulkanCompute>> VulkanCompute::create(const VulkanDevice& dev, VulkanMemory& mem, uint64 staging_bytes,
                                                               uint32 staging_slots, bool timestamps) {
    std::unique_ptr<VulkanCompute> c(new VulkanCompute(dev, mem));
    VkDevice d = dev.device();
    VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = dev.compute_family();
    VKS_VK_TRY(vkCreateCommandPool(d, &pi, nullptr, &c->pool_));
    pi.queueFamilyIndex = dev.transfer_family();
    VKS_VK_TRY(vkCreateCommandPool(d, &pi, nullptr, &c->transfer_pool_));
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = c->pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VKS_VK_TRY(vkAllocateCommandBuffers(d, &ai, &c->cmd_));
    VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VKS_VK_TRY(vkCreateFence(d, &fi, nullptr, &c->fence_));
    if (timestamps && dev.caps().timestamp_valid_bits > 0) {
        VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
        qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qi.queryCount = 2;
        VKS_VK_TRY(vkCreateQueryPool(d, &qi, nullptr, &c->queries_));
    }
    c->slots_.resize(std::max<uint32>(staging_slots, 1));
    ai.commandPool = c->transfer_pool_;
    for (auto& s : c->slots_) {
        auto b = mem.create_buffer(staging_bytes, MemoryKind::HostStaging);
        if (!b) return b.error();
        s.staging = *b;
        VKS_VK_TRY(vkAllocateCommandBuffers(d, &ai, &s.cmd));
        VKS_VK_TRY(vkCreateFence(d, &fi, nullptr, &s.fence));
    }
    return c;
}

VulkanCompute::~VulkanCompute() {
    VkDevice d = dev_.device();
    vkDeviceWaitIdle(d);
    for (auto& s : slots_) {
        mem_.destroy_buffer(s.staging);
        if (s.fence) vkDestroyFence(d, s.fence, nullptr);
    }
    mem_.destroy_buffer(readback_);
    if (queries_) vkDestroyQueryPool(d, queries_, nullptr);
    if (fence_) vkDestroyFence(d, fence_, nullptr);
    if (pool_) vkDestroyCommandPool(d, pool_, nullptr);
    if (transfer_pool_) vkDestroyCommandPool(d, transfer_pool_, nullptr);
}

ExpectedVoid VulkanCompute::wait_fence(VkFence f, uint64 timeout_ns, const char* what) {
    auto r = wait_and_reset_fence(dev_.device(), f, timeout_ns, what);
    if (!r) return r.error();
    return {};
}

Expected<VkCommandBuffer> VulkanCompute::begin() {
    if (recording_) return make_error(ErrorCode::Internal, "VulkanCompute::begin while already recording");
    VKS_VK_TRY(vkResetCommandBuffer(cmd_, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VKS_VK_TRY(vkBeginCommandBuffer(cmd_, &bi));
    if (queries_) {
        vkCmdResetQueryPool(cmd_, queries_, 0, 2);
        vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, 0);
    }
    recording_ = true;
    return cmd_;
}

ExpectedVoid VulkanCompute::submit_and_wait(uint64 timeout_ns) {
    if (!recording_) return make_error(ErrorCode::Internal, "VulkanCompute::submit_and_wait without begin");
    recording_ = false;
    if (queries_) vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, 1);
    VKS_VK_TRY(vkEndCommandBuffer(cmd_));
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd_;
    VKS_VK_TRY(vkQueueSubmit(dev_.compute_queue(), 1, &si, fence_));
    VKS_TRY(wait_fence(fence_, timeout_ns, "forward command buffer"));
    if (queries_) {
        uint64 ts[2] = {0, 0};
        VKS_VK_TRY(vkGetQueryPoolResults(dev_.device(), queries_, 0, 2, sizeof ts, ts, sizeof(uint64),
                                         VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
        last_gpu_ns_ = timestamp_delta_ns(ts[0], ts[1], dev_.caps().timestamp_valid_bits, dev_.caps().timestamp_period_ns);
    }
    return {};
}

ExpectedVoid VulkanCompute::flush_uploads() {
    for (auto& s : slots_)
        if (s.pending) {
            VKS_TRY(wait_fence(s.fence, uint64(60) * 1000000000ull, "upload"));
            s.pending = false;
        }
    return {};
}

ExpectedVoid VulkanCompute::upload(const void* src, uint64 bytes, VkBuffer dst, uint64 dst_offset) {
    ++upload_calls_;
    const auto* p = static_cast<const char*>(src);
    while (bytes > 0) {
        Slot& s = slots_[next_slot_];
        next_slot_ = (next_slot_ + 1) % uint32(slots_.size());
        if (s.pending) {
            VKS_TRY(wait_fence(s.fence, uint64(60) * 1000000000ull, "upload"));
            s.pending = false;
        }
        const uint64 n = std::min(bytes, s.staging.size);
        std::memcpy(s.staging.mapped, p, n);
        VKS_VK_TRY(vkResetCommandBuffer(s.cmd, 0));
        VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        VKS_VK_TRY(vkBeginCommandBuffer(s.cmd, &bi));
        VkBufferCopy region{0, dst_offset, n};
        vkCmdCopyBuffer(s.cmd, s.staging.buffer, dst, 1, &region);
        VKS_VK_TRY(vkEndCommandBuffer(s.cmd));
        VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        si.commandBufferCount = 1;
        si.pCommandBuffers = &s.cmd;
        VKS_VK_TRY(vkQueueSubmit(dev_.transfer_queue(), 1, &si, s.fence));
        s.pending = true;
        p += n;
        bytes -= n;
        dst_offset += n;
    }
    // Everything uploaded is complete (and visible to later submissions) on return.
    return flush_uploads();
}

ExpectedVoid VulkanCompute::download(const GpuBuffer& src, uint64 src_offset, void* dst, uint64 bytes) {
    if (src.mapped) {
        std::memcpy(dst, static_cast<const char*>(src.mapped) + src_offset, bytes);
        return {};
    }
    if (!readback_ || readback_.size < bytes) {
        mem_.destroy_buffer(readback_);
        auto b = mem_.create_buffer(bytes, MemoryKind::HostReadback);
        if (!b) return b.error();
        readback_ = *b;
    }
    auto cmd = begin();
    if (!cmd) return cmd.error();
    VkBufferCopy region{src_offset, 0, bytes};
    vkCmdCopyBuffer(*cmd, src.buffer, readback_.buffer, 1, &region);
    VKS_TRY(submit_and_wait());
    std::memcpy(dst, readback_.mapped, bytes);
    return {};
}

}  // namespace vk_symbiote
