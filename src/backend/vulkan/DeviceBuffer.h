// DeviceBuffer: one VulkanMemory buffer (device-local, staging, readback or an imported host
// range) that frees itself. Move-only; the VulkanMemory must outlive it, and the device must
// no longer use the buffer when it goes (VulkanModel waits for idle first).
#pragma once

#include "backend/vulkan/VulkanMemory.h"

namespace vk_symbiote {

class DeviceBuffer {
public:
    DeviceBuffer() = default;
    static Expected<DeviceBuffer> create(VulkanMemory& mem, uint64 bytes, MemoryKind kind);
    // Over host memory [ptr, ptr + bytes) (VulkanMemory::import_host).
    static Expected<DeviceBuffer> import(VulkanMemory& mem, void* ptr, uint64 bytes);
    ~DeviceBuffer();
    DeviceBuffer(DeviceBuffer&& o) noexcept;
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    VkBuffer buffer() const { return b_.buffer; }
    void* mapped() const { return b_.mapped; }
    const GpuBuffer& get() const { return b_; }
    explicit operator bool() const { return bool(b_); }

private:
    void free();
    VulkanMemory* mem_ = nullptr;
    GpuBuffer b_;
    bool imported_ = false;
};

}  // namespace vk_symbiote
