// VulkanProbe: host<->device copy bandwidth from host-visible (pinned) memory and device
// memory bandwidth, measured with vkCmdCopyBuffer on one queue.
//
// Self-contained on purpose: it loads the Vulkan loader at run time (dlopen of
// libvulkan.so.1) and creates its own instance and device, so the benchmark's ceilings do
// not depend on the engine's Vulkan backend being built or correct, and a machine without
// Vulkan simply reports "not measured" with the reason. Blocking; uses the device alone
// while it runs (run it before the engine is created).
#pragma once

#include <string>

#include "bench/BenchReport.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote::bench {

struct VulkanProbeOptions {
    int32 device_index = -1;        // -1: prefer discrete, then integrated, virtual, CPU
    bool prefer_integrated = false; // --force-integrated-gpu
    uint64 buffer_bytes = uint64(256) << 20;  // per copy; clamped to the device's limits
    uint32 repetitions = 5;         // best of, after one warm-up copy
};

struct VulkanProbeResults {
    std::string device_name;   // e.g. "NVIDIA H100 PCIe" or "llvmpipe (LLVM 15.0.6, 256 bits)"
    std::string device_type;   // "discrete", "integrated", "virtual", "cpu", "other"
    Bandwidth host_to_device;
    Bandwidth device_to_host;
    Bandwidth device_memory;
};

// The device that probe_vulkan() would pick, without measuring (cheap: instance + enumerate).
// Device error when no loader / no device.
Expected<std::string> vulkan_device_name(const VulkanProbeOptions& opts = {});

// Device error when there is no Vulkan loader or device, or a Vulkan call fails (the message
// names the call and the VkResult).
Expected<VulkanProbeResults> probe_vulkan(const VulkanProbeOptions& opts = {});

}  // namespace vk_symbiote::bench
