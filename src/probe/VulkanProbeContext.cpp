#include "probe/VulkanProbeContext.h"

#ifdef VKS_HAS_VULKAN

#include <chrono>
#include <cstring>

namespace vk_symbiote::probe::detail {

std::string vk_error(const char* call, VkResult r) {
    return std::string("Vulkan probe: ") + call + " failed (VkResult " + std::to_string(int(r)) + ")";
}

Context::~Context() {
    if (dev) free_buffers();
    compute.reset();
    mem.reset();
    dev.reset();
}

void Context::free_buffers() {
    for (auto& b : buffers) {
        if (b.buffer) vkDestroyBuffer(device(), b.buffer, nullptr);
        if (b.memory) vkFreeMemory(device(), b.memory, nullptr);  // unmaps implicitly
    }
    buffers.clear();
}

namespace {

// Memory type index with all of `want`, preferring none of `avoid`; -1 if none.
int find_memory_type(const Context& c, uint32 type_bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid) {
    int fallback = -1;
    for (uint32 i = 0; i < c.mem_props.memoryTypeCount; ++i) {
        if (!(type_bits & (1u << i))) continue;
        VkMemoryPropertyFlags f = c.mem_props.memoryTypes[i].propertyFlags;
        if ((f & want) != want) continue;
        if (!(f & avoid)) return int(i);
        if (fallback < 0) fallback = int(i);
    }
    return fallback;
}

}  // namespace

const char* type_name(VkPhysicalDeviceType t) {
    switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
        default: return "other";
    }
}

ExpectedVoid open_context(Context& c, const VulkanProbeOptions& opts) {
    VulkanDeviceOptions dopt;
    dopt.device_index = opts.device_index;
    dopt.force_integrated_gpu = opts.prefer_integrated;
    auto dev = VulkanDevice::create(dopt);
    if (!dev) return dev.error();
    c.dev = std::move(*dev);
    vkGetPhysicalDeviceProperties(c.dev->physical(), &c.props);
    vkGetPhysicalDeviceMemoryProperties(c.dev->physical(), &c.mem_props);
    auto mem = VulkanMemory::create(*c.dev);
    if (!mem) return mem.error();
    c.mem = std::move(*mem);
    // The probes copy with vkCmdCopyBuffer into their own buffers: one small staging slot.
    auto compute = VulkanCompute::create(*c.dev, *c.mem, uint64(1) << 20, 1, true);
    if (!compute) return compute.error();
    c.compute = std::move(*compute);
    return {};
}

Expected<size_t> make_buffer(Context& c, uint64 bytes, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid, const char* what, uint32 use) {
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = bytes;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    if (use & kStorage) bci.usage |= VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    c.buffers.push_back({});
    Context::Buf& b = c.buffers.back();
    b.bytes = bytes;
    VKP_CALL(vkCreateBuffer(c.device(), &bci, nullptr, &b.buffer));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(c.device(), b.buffer, &req);
    int type = find_memory_type(c, req.memoryTypeBits, want, avoid);
    if (type < 0) return make_error(ErrorCode::Device, std::string("Vulkan probe: no memory type for the ") + what + " buffer");
    VkMemoryAllocateInfo mai{};
    mai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = uint32(type);
    VkResult r = vkAllocateMemory(c.device(), &mai, nullptr, &b.memory);
    if (r != VK_SUCCESS)
        return make_error(ErrorCode::Device, vk_error("vkAllocateMemory", r) + " for the " + what + " buffer (" + std::to_string(bytes >> 20) + " MiB)");
    VKP_CALL(vkBindBufferMemory(c.device(), b.buffer, b.memory, 0));
    if (want & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        // Touch every page so the first timed use does not pay for page faults.
        VKP_CALL(vkMapMemory(c.device(), b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped));
        std::memset(b.mapped, 0x5a, bytes);
    }
    return c.buffers.size() - 1;
}

Expected<double> finish_timed_submit(Context& c) {
    auto t0 = std::chrono::steady_clock::now();
    VKS_TRY(c.compute->submit_and_wait(uint64(60) * 1000000000ull));
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!c.timestamps()) return wall;
    return double(c.compute->last_gpu_time_ns()) * 1e-9;
}

}  // namespace vk_symbiote::probe::detail

#endif
