// VulkanProbeContext: the Vulkan objects the benchmark's device probes share (internal to
// src/bench). The loader is opened at run time (dlopen of libvulkan.so.1) and every entry
// point is fetched by name, so the probes do not depend on the engine's Vulkan backend and
// a machine without Vulkan reports "not measured" with the reason.
// Ownership: Context owns every object it creates and destroys them in reverse order.
// Thread-safety: none (one probe at a time).
#pragma once

#if __has_include(<vulkan/vulkan.h>)
#define VKS_BENCH_HAVE_VULKAN_HEADERS 1
#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES 1
#endif
#include <vulkan/vulkan.h>

#include <string>
#include <vector>

#include "bench/VulkanProbe.h"

namespace vk_symbiote::bench::detail {

std::string vk_error(const char* call, VkResult r);

#define VKP_CALL(expr)                                                                                   \
    do {                                                                                                 \
        VkResult vkp_r_ = (expr);                                                                        \
        if (vkp_r_ != VK_SUCCESS) return make_error(ErrorCode::Device, ::vk_symbiote::bench::detail::vk_error(#expr, vkp_r_)); \
    } while (0)

// The entry points the probes use, loaded from the loader / instance / device.
struct Api {
#define VKP_FN(name) PFN_vk##name name = nullptr;
    VKP_FN(GetInstanceProcAddr) VKP_FN(CreateInstance) VKP_FN(DestroyInstance) VKP_FN(EnumeratePhysicalDevices)
    VKP_FN(GetPhysicalDeviceProperties) VKP_FN(GetPhysicalDeviceMemoryProperties) VKP_FN(GetPhysicalDeviceQueueFamilyProperties)
    VKP_FN(GetPhysicalDeviceFeatures2) VKP_FN(CreateDevice) VKP_FN(GetDeviceProcAddr)
    // device level
    VKP_FN(DestroyDevice) VKP_FN(GetDeviceQueue) VKP_FN(CreateBuffer) VKP_FN(DestroyBuffer) VKP_FN(GetBufferMemoryRequirements)
    VKP_FN(AllocateMemory) VKP_FN(FreeMemory) VKP_FN(BindBufferMemory) VKP_FN(MapMemory) VKP_FN(UnmapMemory)
    VKP_FN(CreateCommandPool) VKP_FN(DestroyCommandPool) VKP_FN(AllocateCommandBuffers) VKP_FN(BeginCommandBuffer)
    VKP_FN(EndCommandBuffer) VKP_FN(ResetCommandBuffer) VKP_FN(CmdCopyBuffer) VKP_FN(CmdFillBuffer) VKP_FN(CreateFence)
    VKP_FN(DestroyFence) VKP_FN(ResetFences) VKP_FN(WaitForFences) VKP_FN(QueueSubmit)
    VKP_FN(CreateShaderModule) VKP_FN(DestroyShaderModule) VKP_FN(CreateDescriptorSetLayout) VKP_FN(DestroyDescriptorSetLayout)
    VKP_FN(CreatePipelineLayout) VKP_FN(DestroyPipelineLayout) VKP_FN(CreateComputePipelines) VKP_FN(DestroyPipeline)
    VKP_FN(CreateDescriptorPool) VKP_FN(DestroyDescriptorPool) VKP_FN(AllocateDescriptorSets) VKP_FN(UpdateDescriptorSets)
    VKP_FN(CmdBindPipeline) VKP_FN(CmdBindDescriptorSets) VKP_FN(CmdPushConstants) VKP_FN(CmdDispatch) VKP_FN(CmdPipelineBarrier)
    VKP_FN(CreateQueryPool) VKP_FN(DestroyQueryPool) VKP_FN(CmdResetQueryPool) VKP_FN(CmdWriteTimestamp) VKP_FN(GetQueryPoolResults)
#undef VKP_FN
};

struct Context {
    void* lib = nullptr;
    Api api;
    VkInstance instance = VK_NULL_HANDLE;
    VkPhysicalDevice phys = VK_NULL_HANDLE;
    VkPhysicalDeviceProperties props{};
    VkPhysicalDeviceMemoryProperties mem_props{};
    uint32 queue_family = 0;
    uint32 timestamp_bits = 0;    // of queue_family; 0: no timestamps (time with the host clock)
    bool shader_float16 = false;  // enabled on the device (Vulkan 1.2 shaderFloat16)
    VkDevice device = VK_NULL_HANDLE;
    VkQueue queue = VK_NULL_HANDLE;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    VkQueryPool queries = VK_NULL_HANDLE;  // 2 timestamps, when timestamp_bits > 0
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
};

const char* type_name(VkPhysicalDeviceType t);
// Loader, instance (Vulkan 1.2 requested) and the chosen physical device.
ExpectedVoid open_instance(Context& c, const VulkanProbeOptions& opts);
// Logical device with one compute queue, command buffer, fence, timestamp pool; enables
// shaderFloat16 where the device has it.
ExpectedVoid open_device(Context& c);

enum BufferUse : uint32 { kTransfer = 1, kStorage = 2 };
// A buffer of `bytes` in memory with all `want` flags (preferring none of `avoid`); returns
// its index in c.buffers. Host-visible buffers are mapped and their pages touched.
Expected<size_t> make_buffer(Context& c, uint64 bytes, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid, const char* what,
                             uint32 use = kTransfer);

// The two halves of timed_submit(): begin the command buffer and write the start
// timestamp; write the end timestamp, submit, wait (60 s) and read the time.
ExpectedVoid begin_timed(Context& c);
Expected<double> finish_timed_submit(Context& c);

// Records with `record(cmd)` between a pair of timestamps, submits, waits. Returns the GPU
// time in seconds from the timestamps, or the host wall time of submit + wait when the
// queue has no timestamps.
template <class F>
Expected<double> timed_submit(Context& c, F&& record) {
    VKS_TRY(begin_timed(c));
    record(c.cmd);
    return finish_timed_submit(c);
}

}  // namespace vk_symbiote::bench::detail

#endif
