// Device memory for the Vulkan backend: VulkanBlockSource (and import_host, which wraps
// existing host memory) are the only code that calls vkAllocateMemory; VulkanMemory sub-allocates those blocks with FractalMemoryAllocator
// and binds one VkBuffer per request (a weight slice, the KV cache of a layer, an
// activation buffer, a staging buffer). Buffers used by both the compute and the transfer
// queue family are created VK_SHARING_MODE_CONCURRENT, so no ownership transfer barriers
// are needed between an upload on the transfer queue and its use by compute.
// Thread-safety: create_buffer / destroy_buffer may be called from any thread.
#pragma once

#include <memory>

#include "backend/vulkan/VulkanDevice.h"
#include "memory/FractalMemoryAllocator.h"

namespace vk_symbiote {

class VulkanBlockSource final : public BlockSource {
public:
    VulkanBlockSource(const VulkanDevice& dev, uint32 memory_type, bool map);
    Expected<MemoryBlock> allocate_block(uint64 size) override;
    void free_block(const MemoryBlock& block) override;
    uint64 max_allocation_size() const override;
    std::string name() const override;

private:
    const VulkanDevice& dev_;
    uint32 type_;
    bool map_;
};

enum class MemoryKind { DeviceLocal, HostStaging, HostReadback };

struct GpuBuffer {
    VkBuffer buffer = VK_NULL_HANDLE;
    MemoryAllocation alloc;
    uint64 size = 0;          // bytes usable
    void* mapped = nullptr;   // host address when host-visible
    bool host_visible = false;
    MemoryKind kind = MemoryKind::DeviceLocal;
    explicit operator bool() const { return buffer != VK_NULL_HANDLE; }
};

class VulkanMemory {
public:
    // block_size: bytes per VkDeviceMemory block of the device-local pool.
    static Expected<std::unique_ptr<VulkanMemory>> create(const VulkanDevice& dev, uint64 block_size = uint64(64) << 20);
    ~VulkanMemory();

    // A storage + transfer buffer of `size` bytes (rounded up to 16).
    Expected<GpuBuffer> create_buffer(uint64 size, MemoryKind kind);
    void destroy_buffer(GpuBuffer& b);
    // A transfer-source buffer over existing host memory [ptr, ptr + size)
    // (VK_EXT_external_memory_host): ptr and size must be multiples of
    // min_imported_host_pointer_alignment and the memory must outlive the buffer. The
    // device then copies from it by DMA, no staging copy. Released with release_import().
    Expected<GpuBuffer> import_host(void* ptr, uint64 size);
    void release_import(GpuBuffer& b);

    AllocatorStats device_stats() const { return device_alloc_->stats(); }
    uint64 device_block_size() const { return device_alloc_->block_size(); }
    // Memory of a host-visible kind: device-local memory may itself be host-visible
    // (lavapipe, integrated GPUs, resizable BAR).
    bool device_local_is_host_visible() const { return device_host_visible_; }

private:
    FractalMemoryAllocator& pool(MemoryKind k);
    VulkanMemory(const VulkanDevice& dev) : dev_(dev) {}
    const VulkanDevice& dev_;
    std::unique_ptr<VulkanBlockSource> device_src_, staging_src_, readback_src_;
    std::unique_ptr<FractalMemoryAllocator> device_alloc_, staging_alloc_, readback_alloc_;
    uint64 buffer_alignment_ = 256;
    bool device_host_visible_ = false;
};

}  // namespace vk_symbiote
