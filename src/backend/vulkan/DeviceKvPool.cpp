#include "backend/vulkan/DeviceKvPool.h"

#include <vector>

namespace vk_symbiote {

DeviceKvPool::DeviceKvPool(VulkanCompute& compute, const ModelBuffers& buf, const KvLayout& layout)
    : compute_(compute), buf_(buf), pool_(layout, [this](uint32 src, uint32 dst, uint32 n) { copy_block(src, dst, n); }, buf.kv_f16() ? 2 : 4) {}

ExpectedVoid DeviceKvPool::take_error() {
    if (!error_) return {};
    Error e = *error_;
    error_.reset();
    return e;
}

void DeviceKvPool::copy_block(uint32 src, uint32 dst, uint32 n) {
    auto r = record_copy(src, dst, n);
    if (!r && !error_) error_ = r.error();
    ++copies_;
}

ExpectedVoid DeviceKvPool::record_copy(uint32 src, uint32 dst, uint32 n) {
    if (n == 0) return {};
    const uint64 P = pool_.block_positions(), row = ModelBuffers::kv_cache_bytes(buf_.config(), buf_.kv_f16(), 1);
    auto cmd = compute_.begin();
    if (!cmd) return cmd.error();
    const VkBufferCopy region{src * P * row, dst * P * row, n * row};
    // After every earlier submission's writes: a pass queued ahead (DecodeAhead) may still write
    // the K / V row past its sequence's positions into a block this copy fills.
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    vkCmdPipelineBarrier(*cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0,
                         nullptr, 0, nullptr);
    for (size_t l = 0; l < buf_.k_cache.size(); ++l) {
        vkCmdCopyBuffer(*cmd, buf_.k_cache[l].buffer(), buf_.k_cache[l].buffer(), 1, &region);
        vkCmdCopyBuffer(*cmd, buf_.v_cache[l].buffer(), buf_.v_cache[l].buffer(), 1, &region);
    }
    return compute_.submit_and_wait();
}

}  // namespace vk_symbiote
