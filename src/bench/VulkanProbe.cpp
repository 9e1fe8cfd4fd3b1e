#include "bench/VulkanProbe.h"

#if __has_include(<vulkan/vulkan.h>)
#define VKS_BENCH_HAVE_VULKAN_HEADERS 1
#define VK_NO_PROTOTYPES 1
#include <vulkan/vulkan.h>
#include <dlfcn.h>
#endif

#include <algorithm>
#include <chrono>
#include <vector>

namespace vk_symbiote::bench {

#if !defined(VKS_BENCH_HAVE_VULKAN_HEADERS)

Expected<std::string> vulkan_device_name(const VulkanProbeOptions&) {
    return make_error(ErrorCode::Device, "Vulkan probe: built without Vulkan headers");
}
Expected<VulkanProbeResults> probe_vulkan(const VulkanProbeOptions&) {
    return make_error(ErrorCode::Device, "Vulkan probe: built without Vulkan headers");
}

#else

namespace {

std::string vk_error(const char* call, VkResult r) { return std::string("Vulkan probe: ") + call + " failed (VkResult " + std::to_string(int(r)) + ")"; }

#define VKP_CALL(expr)                                                      \
    do {                                                                    \
        VkResult vkp_r_ = (expr);                                           \
        if (vkp_r_ != VK_SUCCESS) return make_error(ErrorCode::Device, vk_error(#expr, vkp_r_)); \
    } while (0)

// The entry points this probe uses, loaded from the loader / instance / device.
struct Api {
    PFN_vkGetInstanceProcAddr GetInstanceProcAddr = nullptr;
    PFN_vkCreateInstance CreateInstance = nullptr;
    PFN_vkDestroyInstance DestroyInstance = nullptr;
    PFN_vkEnumeratePhysicalDevices EnumeratePhysicalDevices = nullptr;
    PFN_vkGetPhysicalDeviceProperties GetPhysicalDeviceProperties = nullptr;
    PFN_vkGetPhysicalDeviceMemoryProperties GetPhysicalDeviceMemoryProperties = nullptr;
    PFN_vkGetPhysicalDeviceQueueFamilyProperties GetPhysicalDeviceQueueFamilyProperties = nullptr;
    PFN_vkCreateDevice CreateDevice = nullptr;
    PFN_vkGetDeviceProcAddr GetDeviceProcAddr = nullptr;
    PFN_vkDestroyDevice DestroyDevice = nullptr;
    PFN_vkGetDeviceQueue GetDeviceQueue = nullptr;
    PFN_vkCreateBuffer CreateBuffer = nullptr;
    PFN_vkDestroyBuffer DestroyBuffer = nullptr;
    PFN_vkGetBufferMemoryRequirements GetBufferMemoryRequirements = nullptr;
    PFN_vkAllocateMemory AllocateMemory = nullptr;
    PFN_vkFreeMemory FreeMemory = nullptr;
    PFN_vkBindBufferMemory BindBufferMemory = nullptr;
    PFN_vkMapMemory MapMemory = nullptr;
    PFN_vkUnmapMemory UnmapMemory = nullptr;
    PFN_vkCreateCommandPool CreateCommandPool = nullptr;
    PFN_vkDestroyCommandPool DestroyCommandPool = nullptr;
    PFN_vkAllocateCommandBuffers AllocateCommandBuffers = nullptr;
    PFN_vkBeginCommandBuffer BeginCommandBuffer = nullptr;
    PFN_vkEndCommandBuffer EndCommandBuffer = nullptr;
    PFN_vkResetCommandBuffer ResetCommandBuffer = nullptr;
    PFN_vkCmdCopyBuffer CmdCopyBuffer = nullptr;
    PFN_vkCreateFence CreateFence = nullptr;
    PFN_vkDestroyFence DestroyFence = nullptr;
    PFN_vkResetFences ResetFences = nullptr;
    PFN_vkWaitForFences WaitForFences = nullptr;
    PFN_vkQueueSubmit QueueSubmit = nullptr;
};

// Owns every Vulkan object of one probe; destroyed in reverse order of creation.
struct Context {
    void* lib = nullptr;
    Api api;
    VkInstance instance = VK_NULL_HANDLE;
    VkPhysicalDevice phys = VK_NULL_HANDLE;
    VkPhysicalDeviceProperties props{};
    VkPhysicalDeviceMemoryProperties mem_props{};
    uint32 queue_family = 0;
    VkDevice device = VK_NULL_HANDLE;
    VkQueue queue = VK_NULL_HANDLE;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    struct Buf {
        VkBuffer buffer = VK_NULL_HANDLE;
        VkDeviceMemory memory = VK_NULL_HANDLE;
    };
    std::vector<Buf> buffers;

    Context() = default;
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
    ~Context() {
        if (device) {
            for (auto& b : buffers) {
                if (b.buffer) api.DestroyBuffer(device, b.buffer, nullptr);
                if (b.memory) api.FreeMemory(device, b.memory, nullptr);
            }
            if (fence) api.DestroyFence(device, fence, nullptr);
            if (pool) api.DestroyCommandPool(device, pool, nullptr);
            api.DestroyDevice(device, nullptr);
        }
        if (instance) api.DestroyInstance(instance, nullptr);
        if (lib) dlclose(lib);
    }
};

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

const char* type_name(VkPhysicalDeviceType t) {
    switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
        default: return "other";
    }
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

// Loader, instance and the chosen physical device.
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
    app.apiVersion = VK_API_VERSION_1_1;
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
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueFamilyIndex = c.queue_family;
    qci.queueCount = 1;
    qci.pQueuePriorities = &prio;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    VKP_CALL(c.api.CreateDevice(c.phys, &dci, nullptr, &c.device));
    Api& a = c.api;
    bool ok = load_device_fn(c, a.DestroyDevice, "vkDestroyDevice") && load_device_fn(c, a.GetDeviceQueue, "vkGetDeviceQueue") &&
              load_device_fn(c, a.CreateBuffer, "vkCreateBuffer") && load_device_fn(c, a.DestroyBuffer, "vkDestroyBuffer") &&
              load_device_fn(c, a.GetBufferMemoryRequirements, "vkGetBufferMemoryRequirements") &&
              load_device_fn(c, a.AllocateMemory, "vkAllocateMemory") && load_device_fn(c, a.FreeMemory, "vkFreeMemory") &&
              load_device_fn(c, a.BindBufferMemory, "vkBindBufferMemory") && load_device_fn(c, a.MapMemory, "vkMapMemory") &&
              load_device_fn(c, a.UnmapMemory, "vkUnmapMemory") && load_device_fn(c, a.CreateCommandPool, "vkCreateCommandPool") &&
              load_device_fn(c, a.DestroyCommandPool, "vkDestroyCommandPool") &&
              load_device_fn(c, a.AllocateCommandBuffers, "vkAllocateCommandBuffers") &&
              load_device_fn(c, a.BeginCommandBuffer, "vkBeginCommandBuffer") && load_device_fn(c, a.EndCommandBuffer, "vkEndCommandBuffer") &&
              load_device_fn(c, a.ResetCommandBuffer, "vkResetCommandBuffer") && load_device_fn(c, a.CmdCopyBuffer, "vkCmdCopyBuffer") &&
              load_device_fn(c, a.CreateFence, "vkCreateFence") && load_device_fn(c, a.DestroyFence, "vkDestroyFence") &&
              load_device_fn(c, a.ResetFences, "vkResetFences") && load_device_fn(c, a.WaitForFences, "vkWaitForFences") &&
              load_device_fn(c, a.QueueSubmit, "vkQueueSubmit");
    if (!ok) return make_error(ErrorCode::Device, "Vulkan probe: device lacks a core 1.0 entry point");
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
    return {};
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

// Creates a transfer buffer of `bytes` in memory with `want` flags; returns its index in c.buffers.
Expected<size_t> make_buffer(Context& c, uint64 bytes, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid, const char* what) {
    VkBufferCreateInfo bci{};
    bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bci.size = bytes;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    c.buffers.push_back({});
    Context::Buf& b = c.buffers.back();
    VKP_CALL(c.api.CreateBuffer(c.device, &bci, nullptr, &b.buffer));
    VkMemoryRequirements req;
    c.api.GetBufferMemoryRequirements(c.device, b.buffer, &req);
    int type = find_memory_type(c, req.memoryTypeBits, want, avoid);
    if (type < 0) return make_error(ErrorCode::Device, std::string("Vulkan probe: no memory type for the ") + what + " buffer");
    VkMemoryAllocateInfo mai{};
    mai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = uint32(type);
    VKP_CALL(c.api.AllocateMemory(c.device, &mai, nullptr, &b.memory));
    VKP_CALL(c.api.BindBufferMemory(c.device, b.buffer, b.memory, 0));
    if (want & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        // Touch every page so the first timed copy does not pay for page faults.
        void* p = nullptr;
        VKP_CALL(c.api.MapMemory(c.device, b.memory, 0, VK_WHOLE_SIZE, 0, &p));
        std::fill_n(static_cast<uint8*>(p), bytes, uint8(0x5a));
        c.api.UnmapMemory(c.device, b.memory);
    }
    return c.buffers.size() - 1;
}

// Best-of-`reps` seconds for one copy of `bytes` from src to dst (after one warm-up copy).
Expected<double> time_copy(Context& c, size_t src, size_t dst, uint64 bytes, uint32 reps) {
    double best = 1e30;
    for (uint32 r = 0; r <= reps; ++r) {
        VKP_CALL(c.api.ResetCommandBuffer(c.cmd, 0));
        VkCommandBufferBeginInfo bi{};
        bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        VKP_CALL(c.api.BeginCommandBuffer(c.cmd, &bi));
        VkBufferCopy region{0, 0, bytes};
        c.api.CmdCopyBuffer(c.cmd, c.buffers[src].buffer, c.buffers[dst].buffer, 1, &region);
        VKP_CALL(c.api.EndCommandBuffer(c.cmd));
        VKP_CALL(c.api.ResetFences(c.device, 1, &c.fence));
        VkSubmitInfo si{};
        si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
        si.commandBufferCount = 1;
        si.pCommandBuffers = &c.cmd;
        auto t0 = std::chrono::steady_clock::now();
        VKP_CALL(c.api.QueueSubmit(c.queue, 1, &si, c.fence));
        VKP_CALL(c.api.WaitForFences(c.device, 1, &c.fence, VK_TRUE, uint64(60) * 1000000000ull));
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0) best = std::min(best, s);  // r == 0 is the warm-up
    }
    return best;
}

Bandwidth copy_result(uint64 bytes_moved, double seconds, std::string method) {
    Bandwidth b;
    b.bytes = bytes_moved;
    b.gbps = seconds > 0 ? double(bytes_moved) / seconds / 1e9 : 0;
    b.measured = seconds > 0;
    b.method = std::move(method);
    return b;
}

}  // namespace

Expected<std::string> vulkan_device_name(const VulkanProbeOptions& opts) {
    Context c;
    VKS_TRY(open_instance(c, opts));
    return std::string(c.props.deviceName);
}

Expected<VulkanProbeResults> probe_vulkan(const VulkanProbeOptions& opts) {
    Context c;
    VKS_TRY(open_instance(c, opts));
    VKS_TRY(open_device(c));
    VulkanProbeResults out;
    out.device_name = c.props.deviceName;
    out.device_type = type_name(c.props.deviceType);

    // Stay well inside the smallest heap (device-local heaps of integrated GPUs can be small).
    uint64 bytes = std::max<uint64>(opts.buffer_bytes, 1 << 20);
    for (uint32 h = 0; h < c.mem_props.memoryHeapCount; ++h) bytes = std::min<uint64>(bytes, c.mem_props.memoryHeaps[h].size / 8);
    bytes = bytes / 4096 * 4096;
    if (bytes == 0) return make_error(ErrorCode::Device, "Vulkan probe: memory heaps too small");
    const VkMemoryPropertyFlags kDev = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags kHost = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    auto dev_a = make_buffer(c, bytes, kDev, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, "device-local");
    if (!dev_a) return dev_a.error();
    auto dev_b = make_buffer(c, bytes, kDev, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, "second device-local");
    if (!dev_b) return dev_b.error();
    auto up = make_buffer(c, bytes, kHost, kDev, "host-visible upload");
    if (!up) return up.error();
    auto down = make_buffer(c, bytes, kHost | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, kDev, "host-cached readback");
    if (!down) down = make_buffer(c, bytes, kHost, kDev, "host-visible readback");
    if (!down) return down.error();

    uint32 reps = std::max(1u, opts.repetitions);
    std::string mib = std::to_string(bytes >> 20) + " MiB";
    auto h2d = time_copy(c, *up, *dev_a, bytes, reps);
    if (!h2d) return h2d.error();
    out.host_to_device = copy_result(bytes, *h2d, "vkCmdCopyBuffer host-visible -> device-local, " + mib + ", best of " + std::to_string(reps));
    auto d2h = time_copy(c, *dev_a, *down, bytes, reps);
    if (!d2h) return d2h.error();
    out.device_to_host = copy_result(bytes, *d2h, "vkCmdCopyBuffer device-local -> host-visible, " + mib + ", best of " + std::to_string(reps));
    auto d2d = time_copy(c, *dev_a, *dev_b, bytes, reps);
    if (!d2d) return d2d.error();
    out.device_memory = copy_result(2 * bytes, *d2d, "vkCmdCopyBuffer device-local -> device-local, " + mib + " (read + write counted), best of " + std::to_string(reps));
    if (c.props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        std::string note = "CPU device (" + std::string(c.props.deviceName) + "): all three are host memory copies";
        out.host_to_device.note = out.device_to_host.note = out.device_memory.note = note;
    }
    return out;
}

#endif

}  // namespace vk_symbiote::bench
