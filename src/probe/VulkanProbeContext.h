// VulkanProbeContext: what the device probes share (internal to src/probe), on the Vulkan
// backend's device layer: VulkanDevice (instance, device choice, compute queue, caps) and
// VulkanCompute (one command buffer timed by a pair of GPU timestamps). Built only with the
// Vulkan backend (VKS_HAS_VULKAN).
// The probes' buffers are dedicated allocations in the memory type each probe names (e.g.
// host-visible and not device-local for the upload source), not the backend's sub-allocated
// pools, so a copy measures exactly the path it is named after.
// Ownership: Context owns every object it creates and destroys them in reverse order.
// Thread-safety: none (one probe at a time).
#pragma once

#ifdef VKS_HAS_VULKAN

#include <memory>
#include <string>
#include <vector>

#include "backend/vulkan/VulkanCompute.h"
#include "backend/vulkan/VulkanDevice.h"
#include "backend/vulkan/VulkanMemory.h"
#include "probe/VulkanProbe.h"

namespace vk_symbiote::probe::detail {

std::string vk_error(const char* call, VkResult r);

#define VKP_CALL(expr)                                                                                   \
    do {                                                                                                 \
        VkResult vkp_r_ = (expr);                                                                        \
        if (vkp_r_ != VK_SUCCESS) return make_error(ErrorCode::Device, ::vk_symbiote::probe::detail::vk_error(#expr, vkp_r_)); \
    } while (0)

struct Context {
    std::unique_ptr<VulkanDevice> dev;
    std::unique_ptr<VulkanMemory> mem;       // VulkanCompute's staging only
    std::unique_ptr<VulkanCompute> compute;  // the timed command buffer on the compute queue
    VkPhysicalDeviceProperties props{};
    VkPhysicalDeviceMemoryProperties mem_props{};
    struct Buf {
        VkBuffer buffer = VK_NULL_HANDLE;
        VkDeviceMemory memory = VK_NULL_HANDLE;
        uint64 bytes = 0;
        void* mapped = nullptr;  // host-visible buffers stay mapped
    };
    std::vector<Buf> buffers;

    Context() = default;
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
    ~Context();
    void free_buffers();  // destroys every buffer made so far
    VkDevice device() const { return dev->device(); }
    bool timestamps() const { return dev->caps().timestamp_valid_bits > 0; }
    bool shader_float16() const { return dev->caps().shader_float16; }
};

const char* type_name(VkPhysicalDeviceType t);
// The device VulkanDevice picks for `opts` (discrete, then integrated, virtual, CPU), its
// compute queue and a timed command buffer; shaderFloat16 enabled where the device has it.
ExpectedVoid open_context(Context& c, const VulkanProbeOptions& opts);

enum BufferUse : uint32 { kTransfer = 1, kStorage = 2 };
// A buffer of `bytes` in memory with all `want` flags (preferring none of `avoid`); returns
// its index in c.buffers. Host-visible buffers are mapped and their pages touched.
Expected<size_t> make_buffer(Context& c, uint64 bytes, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid, const char* what,
                             uint32 use = kTransfer);

// Ends, submits and waits for the command buffer begun by timed_submit(); seconds between
// its two GPU timestamps, or the host wall time of submit + wait when the queue has none.
Expected<double> finish_timed_submit(Context& c);

// Records with `record(cmd)` between a pair of timestamps, submits, waits; see
// finish_timed_submit().
template <class F>
Expected<double> timed_submit(Context& c, F&& record) {
    auto cmd = c.compute->begin();
    if (!cmd) return cmd.error();
    record(*cmd);
    return finish_timed_submit(c);
}

}  // namespace vk_symbiote::probe::detail

#endif
