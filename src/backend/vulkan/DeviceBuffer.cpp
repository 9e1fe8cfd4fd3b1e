#include "backend/vulkan/DeviceBuffer.h"

#include <utility>

namespace vk_symbiote {

Expected<DeviceBuffer> DeviceBuffer::create(VulkanMemory& mem, uint64 bytes, MemoryKind kind) {
    auto b = mem.create_buffer(bytes, kind);
    if (!b) return b.error();
    DeviceBuffer d;
    d.mem_ = &mem;
    d.b_ = *b;
    return d;
}

Expected<DeviceBuffer> DeviceBuffer::import(VulkanMemory& mem, void* ptr, uint64 bytes) {
    auto b = mem.import_host(ptr, bytes);
    if (!b) return b.error();
    DeviceBuffer d;
    d.mem_ = &mem;
    d.b_ = *b;
    d.imported_ = true;
    return d;
}

DeviceBuffer::~DeviceBuffer() { free(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : mem_(std::exchange(o.mem_, nullptr)), b_(std::exchange(o.b_, GpuBuffer{})), imported_(o.imported_) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        free();
        mem_ = std::exchange(o.mem_, nullptr);
        b_ = std::exchange(o.b_, GpuBuffer{});
        imported_ = o.imported_;
    }
    return *this;
}

void DeviceBuffer::free() {
    if (!mem_ || !b_) return;
    if (imported_) mem_->release_import(b_);
    else mem_->destroy_buffer(b_);
    mem_ = nullptr;
}

}  // namespace vk_symbiote
