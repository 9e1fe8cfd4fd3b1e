#include "probe/VulkanProbe.h"

#include "probe/VulkanComputeProbe.h"
#include "probe/VulkanProbeContext.h"

#include <algorithm>

namespace vk_symbiote::probe {

#if !defined(VKS_HAS_VULKAN)

Expected<std::string> vulkan_device_name(const VulkanProbeOptions&) {
    return make_error(ErrorCode::Device, "Vulkan probe: built without the Vulkan backend");
}
Expected<VulkanProbeResults> probe_vulkan(const VulkanProbeOptions&) {
    return make_error(ErrorCode::Device, "Vulkan probe: built without the Vulkan backend");
}

#else

using namespace detail;

namespace {

// Best-of-`reps` seconds for one copy of `bytes` from src to dst (after one warm-up copy).
Expected<double> time_copy(Context& c, size_t src, size_t dst, uint64 bytes, uint32 reps) {
    double best = 1e30;
    for (uint32 r = 0; r <= reps; ++r) {
        auto s = timed_submit(c, [&](VkCommandBuffer cmd) {
            VkBufferCopy region{0, 0, bytes};
            vkCmdCopyBuffer(cmd, c.buffers[src].buffer, c.buffers[dst].buffer, 1, &region);
        });
        if (!s) return s.error();
        if (r > 0) best = std::min(best, *s);  // r == 0 is the warm-up
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

ExpectedVoid probe_copies(Context& c, const VulkanProbeOptions& opts, VulkanProbeResults& out) {
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

    const uint32 reps = std::max(1u, opts.repetitions);
    const std::string how = std::to_string(bytes >> 20) + " MiB, best of " + std::to_string(reps) + (c.timestamps() ? ", GPU timestamps" : ", host clock");
    auto h2d = time_copy(c, *up, *dev_a, bytes, reps);
    if (!h2d) return h2d.error();
    out.host_to_device = copy_result(bytes, *h2d, "vkCmdCopyBuffer host-visible -> device-local, " + how);
    auto d2h = time_copy(c, *dev_a, *down, bytes, reps);
    if (!d2h) return d2h.error();
    out.device_to_host = copy_result(bytes, *d2h, "vkCmdCopyBuffer device-local -> host-visible, " + how);
    auto d2d = time_copy(c, *dev_a, *dev_b, bytes, reps);
    if (!d2d) return d2d.error();
    out.device_copy = copy_result(2 * bytes, *d2d, "vkCmdCopyBuffer device-local -> device-local (read + write counted), " + how);
    c.free_buffers();
    return {};
}

}  // namespace

Expected<std::string> vulkan_device_name(const VulkanProbeOptions& opts) {
    VulkanDeviceOptions dopt;
    dopt.device_index = opts.device_index;
    dopt.force_integrated_gpu = opts.prefer_integrated;
    auto dev = VulkanDevice::create(dopt);
    if (!dev) return dev.error();
    return (*dev)->caps().device_name;
}

Expected<VulkanProbeResults> probe_vulkan(const VulkanProbeOptions& opts) {
    Context c;
    VKS_TRY(open_context(c, opts));
    VulkanProbeResults out;
    out.device_name = c.props.deviceName;
    out.device_type = type_name(c.props.deviceType);
    VKS_TRY(probe_copies(c, opts, out));
    // The compute probes are optional ceilings: a device that cannot run them keeps the
    // copy figures and says why in the note.
    if (opts.compute_probes) {
        auto rd = probe_device_read(c, opts);
        c.free_buffers();
        if (rd) out.device_memory = *rd;
        else out.device_memory.note = rd.error().message;
        auto mm = probe_f16_matmul(c, opts);
        c.free_buffers();
        if (mm) out.device_f16_matmul = *mm;
        else out.device_f16_matmul.note = mm.error().message;
    } else {
        out.device_memory.note = out.device_f16_matmul.note = "compute probes skipped";
    }
    if (c.props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        const std::string note = "CPU device (" + std::string(c.props.deviceName) + "): host memory and CPU cores";
        auto add = [&](std::string& n) { n = n.empty() ? note : note + "; " + n; };
        for (Bandwidth* b : {&out.host_to_device, &out.device_to_host, &out.device_copy, &out.device_memory})
            if (b->measured) add(b->note);
        if (out.device_f16_matmul.measured) add(out.device_f16_matmul.note);
    }
    return out;
}

#endif

}  // namespace vk_symbiote::probe
