#include "bench/VulkanProbeContext.h"

#ifdef VKS_BENCH_HAVE_VULKAN_HEADERS

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace vk_symbiote::bench::detail {

std::string vk_error(const char* call, VkResult r) {
    return std::string("Vulkan probe: ") + call + " failed (VkResult " + std::to_string(int(r)) + ")";
}

Context::~Context() {
    if (device) {
        free_buffers();
        if (queries) api.DestroyQueryPool(device, queries, nullptr);
        if (fence) api.DestroyFence(device, fence, nullptr);
        if (pool) api.DestroyCommandPool(device, pool, nullptr);
        api.DestroyDevice(device, nullptr);
    }
    if (instance) api.DestroyInstance(instance, nullptr);
    if (lib) dlclose(lib);
}

void Context::free_buffers() {
    for (auto& b : buffers) {
        if (b.buffer) api.DestroyBuffer(device, b.buffer, nullptr);
        if (b.memory) api.FreeMemory(device, b.memory, nullptr);  // unmaps implicitly
    }
    buffers.clear();
}

namespace {

template <class F>
bool load_instance_fn(Context& c, F& out, const char* name) {
    out = reinterpret_cast<F>(c.api.GetInstanceProcAddr(c.instance, name));
    return out != nullptr;
}
template <class F>
bool load_device_fn(Context& c, F& out, const char* name) {
    out = reinterpret_cast<F>(c.api.GetDeviceProcAddr(c.device, name));
    return out != nullptr;
}

int type_rank(VkPhysicalDeviceType t, bool prefer_integrated) {
    switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return prefer_integrated ? 3 : 4;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return prefer_integrated ? 4 : 3;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
        default: return 0;
    }
}

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

ExpectedVoid open_instance(Context& c, const VulkanProbeOptions& opts) {
    c.lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!c.lib) c.lib = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
    if (!c.lib) return make_error(ErrorCode::Device, "Vulkan probe: no Vulkan loader (libvulkan.so.1)");
    c.api.GetInstanceProcAddr = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(c.lib, "vkGetInstanceProcAddr"));
    if (!c.api.GetInstanceProcAddr) return make_error(ErrorCode::Device, "Vulkan probe: loader lacks vkGetInstanceProcAddr");
    if (!load_instance_fn(c, c.api.CreateInstance, "vkCreateInstance"))
        return make_error(ErrorCode::Device, "Vulkan probe: loader lacks vkCreateInstance");

    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "vk_symbiote_benchmark";
    app.apiVersion = VK_API_VERSION_1_2;  // the compute probes' SPIR-V targets Vulkan 1.2
    VkInstanceCreateInfo ici{};
    ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ici.pApplicationInfo = &app;
    VKP_CALL(c.api.CreateInstance(&ici, nullptr, &c.instance));
    bool ok = load_instance_fn(c, c.api.DestroyInstance, "vkDestroyInstance") &&
              load_instance_fn(c, c.api.EnumeratePhysicalDevices, "vkEnumeratePhysicalDevices") &&
              load_instance_fn(c, c.api.GetPhysicalDeviceProperties, "vkGetPhysicalDeviceProperties") &&
              load_instance_fn(c, c.api.GetPhysicalDeviceMemoryProperties, "vkGetPhysicalDeviceMemoryProperties") &&
              load_instance_fn(c, c.api.GetPhysicalDeviceQueueFamilyProperties, "vkGetPhysicalDeviceQueueFamilyProperties") &&
              load_instance_fn(c, c.api.CreateDevice, "vkCreateDevice") &&
              load_instance_fn(c, c.api.GetDeviceProcAddr, "vkGetDeviceProcAddr");
    if (!ok) return make_error(ErrorCode::Device, "Vulkan probe: instance lacks a core 1.0 entry point");
    load_instance_fn(c, c.api.GetPhysicalDeviceFeatures2, "vkGetPhysicalDeviceFeatures2");  // 1.1; optional

    uint32 n = 0;
    VKP_CALL(c.api.EnumeratePhysicalDevices(c.instance, &n, nullptr));
    if (n == 0) return make_error(ErrorCode::Device, "Vulkan probe: no Vulkan device");
    std::vector<VkPhysicalDevice> devs(n);
    VKP_CALL(c.api.EnumeratePhysicalDevices(c.instance, &n, devs.data()));
    if (opts.device_index >= 0) {
        if (uint32(opts.device_index) >= n)
            return make_error(ErrorCode::InvalidArgument, "Vulkan probe: device index " + std::to_string(opts.device_index) + " out of range (" +
                                                              std::to_string(n) + " devices)");
        c.phys = devs[size_t(opts.device_index)];
    } else {
        int best = -1;
        for (VkPhysicalDevice d : devs) {
            VkPhysicalDeviceProperties p;
            c.api.GetPhysicalDeviceProperties(d, &p);
            int r = type_rank(p.deviceType, opts.prefer_integrated);
            if (r > best) {
                best = r;
                c.phys = d;
            }
        }
    }
    c.api.GetPhysicalDeviceProperties(c.phys, &c.props);
    c.api.GetPhysicalDeviceMemoryProperties(c.phys, &c.mem_props);
    return {};
}

namespace {

bool load_device_api(Context& c) {
    Api& a = c.api;
#define VKP_LOAD(name) load_device_fn(c, a.name, "vk" #name)
    return VKP_LOAD(DestroyDevice) && VKP_LOAD(GetDeviceQueue) && VKP_LOAD(CreateBuffer) && VKP_LOAD(DestroyBuffer) &&
           VKP_LOAD(GetBufferMemoryRequirements) && VKP_LOAD(AllocateMemory) && VKP_LOAD(FreeMemory) && VKP_LOAD(BindBufferMemory) &&
           VKP_LOAD(MapMemory) && VKP_LOAD(UnmapMemory) && VKP_LOAD(CreateCommandPool) && VKP_LOAD(DestroyCommandPool) &&
           VKP_LOAD(AllocateCommandBuffers) && VKP_LOAD(BeginCommandBuffer) && VKP_LOAD(EndCommandBuffer) &&
           VKP_LOAD(ResetCommandBuffer) && VKP_LOAD(CmdCopyBuffer) && VKP_LOAD(CmdFillBuffer) && VKP_LOAD(CreateFence) &&
           VKP_LOAD(DestroyFence) && VKP_LOAD(ResetFences) && VKP_LOAD(WaitForFences) && VKP_LOAD(QueueSubmit) &&
           VKP_LOAD(CreateShaderModule) && VKP_LOAD(DestroyShaderModule) && VKP_LOAD(CreateDescriptorSetLayout) &&
           VKP_LOAD(DestroyDescriptorSetLayout) && VKP_LOAD(CreatePipelineLayout) && VKP_LOAD(DestroyPipelineLayout) &&
           VKP_LOAD(CreateComputePipelines) && VKP_LOAD(DestroyPipeline) && VKP_LOAD(CreateDescriptorPool) &&
           VKP_LOAD(DestroyDescriptorPool) && VKP_LOAD(AllocateDescriptorSets) && VKP_LOAD(UpdateDescriptorSets) &&
           VKP_LOAD(CmdBindPipeline) && VKP_LOAD(CmdBindDescriptorSets) && VKP_LOAD(CmdPushConstants) && VKP_LOAD(CmdDispatch) &&
           VKP_LOAD(CmdPipelineBarrier) && VKP_LOAD(CreateQueryPool) && VKP_LOAD(DestroyQueryPool) && VKP_LOAD(CmdResetQueryPool) &&
           VKP_LOAD(CmdWriteTimestamp) && VKP_LOAD(GetQueryPoolResults);
#undef VKP_LOAD
}

}  // namespace

ExpectedVoid open_device(Context& c) {
    uint32 nq = 0;
    c.api.GetPhysicalDeviceQueueFamilyProperties(c.phys, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> qf(nq);
    c.api.GetPhysicalDeviceQueueFamilyProperties(c.phys, &nq, qf.data());
    // The compute queue: the engine's weights are uploaded there or on a transfer queue;
    // the bus is the same either way.
    int chosen = -1;
    for (uint32 i = 0; i < nq; ++i)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            chosen = int(i);
            break;
        }
    if (chosen < 0) return make_error(ErrorCode::Device, std::string("Vulkan probe: ") + c.props.deviceName + " has no compute queue");
    c.queue_family = uint32(chosen);
    c.timestamp_bits = c.props.limits.timestampPeriod > 0 ? qf[size_t(chosen)].timestampValidBits : 0;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueFamilyIndex = c.queue_family;
    qci.queueCount = 1;
    qci.pQueuePriorities = &prio;
    // shaderFloat16 (Vulkan 1.2 core) for the f16vec2 matmul probe, when the device has it.
    VkPhysicalDeviceVulkan12Features f12{};
    f12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    if (c.props.apiVersion >= VK_API_VERSION_1_2 && c.api.GetPhysicalDeviceFeatures2) {
        VkPhysicalDeviceFeatures2 f2{};
        f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
        f2.pNext = &f12;
        c.api.GetPhysicalDeviceFeatures2(c.phys, &f2);
        c.shader_float16 = f12.shaderFloat16 == VK_TRUE;
    }
    VkPhysicalDeviceVulkan12Features enable12{};
    enable12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    enable12.shaderFloat16 = c.shader_float16 ? VK_TRUE : VK_FALSE;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.pNext = c.shader_float16 ? &enable12 : nullptr;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    VKP_CALL(c.api.CreateDevice(c.phys, &dci, nullptr, &c.device));
    if (!load_device_api(c)) return make_error(ErrorCode::Device, "Vulkan probe: device lacks a core 1.0 entry point");
    Api& a = c.api;
    a.GetDeviceQueue(c.device, c.queue_family, 0, &c.queue);
    VkCommandPoolCreateInfo pci{};
    pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = c.queue_family;
    VKP_CALL(a.CreateCommandPool(c.device, &pci, nullptr, &c.pool));
    VkCommandBufferAllocateInfo cai{};
    cai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    cai.commandPool = c.pool;
    cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cai.commandBufferCount = 1;
    VKP_CALL(a.AllocateCommandBuffers(c.device, &cai, &c.cmd));
    VkFenceCreateInfo fci{};
    fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    VKP_CALL(a.CreateFence(c.device, &fci, nullptr, &c.fence));
    if (c.timestamp_bits > 0) {
        VkQueryPoolCreateInfo qi{};
        qi.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
        qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qi.queryCount = 2;
        VKP_CALL(a.CreateQueryPool(c.device, &qi, nullptr, &c.queries));
    }
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
    VKP_CALL(c.api.CreateBuffer(c.device, &bci, nullptr, &b.buffer));
    VkMemoryRequirements req;
    c.api.GetBufferMemoryRequirements(c.device, b.buffer, &req);
    int type = find_memory_type(c, req.memoryTypeBits, want, avoid);
    if (type < 0) return make_error(ErrorCode::Device, std::string("Vulkan probe: no memory type for the ") + what + " buffer");
    VkMemoryAllocateInfo mai{};
    mai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = uint32(type);
    VkResult r = c.api.AllocateMemory(c.device, &mai, nullptr, &b.memory);
    if (r != VK_SUCCESS)
        return make_error(ErrorCode::Device, vk_error("vkAllocateMemory", r) + " for the " + what + " buffer (" + std::to_string(bytes >> 20) + " MiB)");
    VKP_CALL(c.api.BindBufferMemory(c.device, b.buffer, b.memory, 0));
    if (want & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        // Touch every page so the first timed use does not pay for page faults.
        VKP_CALL(c.api.MapMemory(c.device, b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped));
        std::memset(b.mapped, 0x5a, bytes);
    }
    return c.buffers.size() - 1;
}

ExpectedVoid begin_timed(Context& c) {
    VKP_CALL(c.api.ResetCommandBuffer(c.cmd, 0));
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VKP_CALL(c.api.BeginCommandBuffer(c.cmd, &bi));
    if (c.queries) {
        c.api.CmdResetQueryPool(c.cmd, c.queries, 0, 2);
        c.api.CmdWriteTimestamp(c.cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, c.queries, 0);
    }
    return {};
}

Expected<double> finish_timed_submit(Context& c) {
    if (c.queries) c.api.CmdWriteTimestamp(c.cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c.queries, 1);
    VKP_CALL(c.api.EndCommandBuffer(c.cmd));
    VKP_CALL(c.api.ResetFences(c.device, 1, &c.fence));
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &c.cmd;
    auto t0 = std::chrono::steady_clock::now();
    VKP_CALL(c.api.QueueSubmit(c.queue, 1, &si, c.fence));
    VKP_CALL(c.api.WaitForFences(c.device, 1, &c.fence, VK_TRUE, uint64(60) * 1000000000ull));
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!c.queries) return wall;
    uint64 ts[2] = {0, 0};
    VKP_CALL(c.api.GetQueryPoolResults(c.device, c.queries, 0, 2, sizeof ts, ts, sizeof(uint64), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    const uint64 mask = c.timestamp_bits >= 64 ? ~uint64(0) : (uint64(1) << c.timestamp_bits) - 1;
    return double((ts[1] - ts[0]) & mask) * double(c.props.limits.timestampPeriod) * 1e-9;
}

}  // namespace vk_symbiote::bench::detail

#endif
