#include "backend/vulkan/VulkanMemory.h"

#include <algorithm>

namespace vk_symbiote {

namespace {
// Indirect: a kernel may write another's group counts (DeviceMoe's routed expert dispatches).
constexpr VkBufferUsageFlags kUsage =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT;

VkBufferCreateInfo buffer_info(const VulkanDevice& dev, uint64 size, const uint32* families) {
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = size;
    bi.usage = kUsage;
    if (dev.has_transfer_queue()) {
        bi.sharingMode = VK_SHARING_MODE_CONCURRENT;
        bi.queueFamilyIndexCount = 2;
        bi.pQueueFamilyIndices = families;
    } else {
        bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    }
    return bi;
}
}  // namespace

VulkanBlockSource::VulkanBlockSource(const VulkanDevice& dev, uint32 memory_type, bool map)
    : dev_(dev), type_(memory_type), map_(map) {}

Expected<MemoryBlock> VulkanBlockSource::allocate_block(uint64 size) {
    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = size;
    ai.memoryTypeIndex = type_;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    VKS_VK_TRY(vkAllocateMemory(dev_.device(), &ai, nullptr, &mem));
    MemoryBlock b{reinterpret_cast<uint64>(mem), nullptr, size};
    if (map_) {
        VkResult r = vkMapMemory(dev_.device(), mem, 0, VK_WHOLE_SIZE, 0, &b.mapped);
        if (r != VK_SUCCESS) {
            vkFreeMemory(dev_.device(), mem, nullptr);
            return vk_error(r, "vkMapMemory(block)", __FILE__, __LINE__);
        }
    }
    return b;
}

void VulkanBlockSource::free_block(const MemoryBlock& block) {
    // vkFreeMemory implicitly unmaps.
    vkFreeMemory(dev_.device(), reinterpret_cast<VkDeviceMemory>(block.native), nullptr);
}

uint64 VulkanBlockSource::max_allocation_size() const { return dev_.caps().max_allocation_size; }

std::string VulkanBlockSource::name() const { return "vulkan memory type " + std::to_string(type_); }

Expected<std::unique_ptr<VulkanMemory>> VulkanMemory::create(const VulkanDevice& dev, uint64 block_size) {
    std::unique_ptr<VulkanMemory> m(new VulkanMemory(dev));
    // Probe the memory requirements of our buffer kind once.
    const uint32 fams[2] = {dev.compute_family(), dev.transfer_family()};
    auto bi = buffer_info(dev, 4096, fams);
    VkBuffer probe = VK_NULL_HANDLE;
    VKS_VK_TRY(vkCreateBuffer(dev.device(), &bi, nullptr, &probe));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(dev.device(), probe, &req);
    vkDestroyBuffer(dev.device(), probe, nullptr);
    m->buffer_alignment_ = std::max<uint64>({req.alignment, dev.caps().min_storage_buffer_offset_alignment, 256});

    auto dl = dev.find_memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (!dl) dl = dev.find_memory_type(req.memoryTypeBits, 0);
    if (!dl) return dl.error();
    const auto dl_flags = dev.memory_type_flags(*dl);
    // Mapped access is used only for coherent memory (no flush / invalidate calls needed).
    m->device_host_visible_ = (dl_flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (dl_flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    auto st = dev.find_memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    if (!st) return st.error();
    auto rb = dev.find_memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                   VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (!rb) return rb.error();
    m->device_src_ = std::make_unique<VulkanBlockSource>(dev, *dl, m->device_host_visible_);
    m->staging_src_ = std::make_unique<VulkanBlockSource>(dev, *st, true);
    m->readback_src_ = std::make_unique<VulkanBlockSource>(dev, *rb, true);
    m->device_alloc_ = std::make_unique<FractalMemoryAllocator>(*m->device_src_, block_size, m->buffer_alignment_);
    m->staging_alloc_ = std::make_unique<FractalMemoryAllocator>(*m->staging_src_, uint64(32) << 20, m->buffer_alignment_);
    m->readback_alloc_ = std::make_unique<FractalMemoryAllocator>(*m->readback_src_, uint64(8) << 20, m->buffer_alignment_);
    return m;
}

VulkanMemory::~VulkanMemory() = default;

FractalMemoryAllocator& VulkanMemory::pool(MemoryKind k) {
    return k == MemoryKind::DeviceLocal ? *device_alloc_ : k == MemoryKind::HostStaging ? *staging_alloc_ : *readback_alloc_;
}

Expected<GpuBuffer> VulkanMemory::create_buffer(uint64 size, MemoryKind kind) {
    if (size == 0) return make_error(ErrorCode::InvalidArgument, "VulkanMemory: buffer of 0 bytes");
    size = (size + 15) / 16 * 16;
    const uint32 fams[2] = {dev_.compute_family(), dev_.transfer_family()};
    auto bi = buffer_info(dev_, size, fams);
    GpuBuffer b;
    b.size = size;
    VKS_VK_TRY(vkCreateBuffer(dev_.device(), &bi, nullptr, &b.buffer));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(dev_.device(), b.buffer, &req);
    b.kind = kind;
    auto& fa = pool(kind);
    auto a = fa.allocate(req.size, std::max<uint64>(req.alignment, buffer_alignment_));
    if (!a) {
        vkDestroyBuffer(dev_.device(), b.buffer, nullptr);
        return a.error();
    }
    b.alloc = *a;
    b.mapped = a->mapped;
    b.host_visible = a->mapped != nullptr;
    VkResult r = vkBindBufferMemory(dev_.device(), b.buffer, reinterpret_cast<VkDeviceMemory>(a->native), a->offset);
    if (r != VK_SUCCESS) {
        fa.free(*a);
        vkDestroyBuffer(dev_.device(), b.buffer, nullptr);
        return vk_error(r, "vkBindBufferMemory", __FILE__, __LINE__);
    }
    return b;
}

void VulkanMemory::destroy_buffer(GpuBuffer& b) {
    if (!b.buffer) return;
    vkDestroyBuffer(dev_.device(), b.buffer, nullptr);
    pool(b.kind).free(b.alloc);
    b = GpuBuffer{};
}

Expected<GpuBuffer> VulkanMemory::import_host(void* ptr, uint64 size) {
    const uint64 align = dev_.caps().min_imported_host_pointer_alignment;
    if (!dev_.caps().external_memory_host || align == 0)
        return make_error(ErrorCode::Unsupported, "Vulkan: the device cannot import host memory (no VK_EXT_external_memory_host)");
    if (reinterpret_cast<uintptr_t>(ptr) % align || size == 0 || size % align)
        return make_error(ErrorCode::InvalidArgument, "Vulkan: host import of " + std::to_string(size) + " bytes is not aligned to " + std::to_string(align));
    VkDevice d = dev_.device();
    auto props_fn = reinterpret_cast<PFN_vkGetMemoryHostPointerPropertiesEXT>(vkGetDeviceProcAddr(d, "vkGetMemoryHostPointerPropertiesEXT"));
    if (!props_fn) return make_error(ErrorCode::Unsupported, "Vulkan: vkGetMemoryHostPointerPropertiesEXT missing");
    VkMemoryHostPointerPropertiesEXT hp{VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT};
    VKS_VK_TRY(props_fn(d, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT, ptr, &hp));
    VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
    ext.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.pNext = &ext;
    bi.size = size;
    bi.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;  // storage: copy.comp reads it
    const uint32 fams[2] = {dev_.compute_family(), dev_.transfer_family()};
    bi.sharingMode = dev_.has_transfer_queue() ? VK_SHARING_MODE_CONCURRENT : VK_SHARING_MODE_EXCLUSIVE;
    bi.queueFamilyIndexCount = dev_.has_transfer_queue() ? 2 : 0;
    bi.pQueueFamilyIndices = dev_.has_transfer_queue() ? fams : nullptr;
    GpuBuffer b;
    VKS_VK_TRY(vkCreateBuffer(d, &bi, nullptr, &b.buffer));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(d, b.buffer, &req);
    auto type = dev_.find_memory_type(req.memoryTypeBits & hp.memoryTypeBits, 0, VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    if (!type) {
        vkDestroyBuffer(d, b.buffer, nullptr);
        return type.error();
    }
    VkImportMemoryHostPointerInfoEXT imp{VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT};
    imp.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
    imp.pHostPointer = ptr;
    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.pNext = &imp;
    ai.allocationSize = size;
    ai.memoryTypeIndex = *type;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    VkResult r = vkAllocateMemory(d, &ai, nullptr, &mem);
    if (r == VK_SUCCESS) r = vkBindBufferMemory(d, b.buffer, mem, 0);
    if (r != VK_SUCCESS) {
        if (mem) vkFreeMemory(d, mem, nullptr);
        vkDestroyBuffer(d, b.buffer, nullptr);
        return vk_error(r, "host memory import", __FILE__, __LINE__);
    }
    b.alloc.native = reinterpret_cast<uint64>(mem);
    b.alloc.size = size;
    b.size = size;
    b.kind = MemoryKind::HostStaging;
    return b;
}

void VulkanMemory::release_import(GpuBuffer& b) {
    if (!b.buffer) return;
    vkDestroyBuffer(dev_.device(), b.buffer, nullptr);
    vkFreeMemory(dev_.device(), reinterpret_cast<VkDeviceMemory>(b.alloc.native), nullptr);
    b = GpuBuffer{};
}

}  // namespace vk_symbiote
