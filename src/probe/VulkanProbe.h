// VulkanProbe: the device ceilings of vk_symbiote_benchmark, on one compute queue:
//   host_to_device / device_to_host  vkCmdCopyBuffer from / to host-visible (pinned) memory
//   device_copy                      vkCmdCopyBuffer device-local -> device-local
//   device_memory                    compute-shader read of a >= 1 GiB device-local buffer
//                                    (shaders/probe_read.comp), median of repetitions
//   device_f16_matmul                tiled f16 matmul compute shader (shaders/probe_matmul.comp),
//                                    validated exactly on a small product first, then timed on
//                                    square sizes that grow until one dispatch is long enough
// Times come from GPU timestamps where the queue has them, else the host clock.
//
// Built on the Vulkan backend's device layer (VulkanProbeContext.h); without the Vulkan
// backend (the fuzz build) every call is a Device error, reported as "not measured".
// Blocking; uses the device alone while it runs (run it before the engine is created).
#pragma once

#include <string>

#include "probe/ProbeResults.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote::probe {

struct VulkanProbeOptions {
    int32 device_index = -1;        // -1: prefer discrete, then integrated, virtual, CPU
    bool prefer_integrated = false; // --force-integrated-gpu
    uint64 buffer_bytes = uint64(256) << 20;  // per copy; clamped to the device's limits
    uint32 repetitions = 5;         // copies: best of; compute probes: median of; after one warm-up
    bool compute_probes = true;     // device_memory read and f16 matmul (false: copies only)
    uint64 read_bytes = uint64(1) << 30;  // read probe buffer; clamped to the device's limits
    uint32 matmul_min_n = 512;      // square matmul sizes tried: min_n, 2 min_n, ... up to max_n
    uint32 matmul_max_n = 8192;
    double matmul_min_seconds = 0.02;  // stop growing once one dispatch takes this long
    bool matmul_fp16_math = true;   // f16vec2 arithmetic where the device has shaderFloat16 (false: f32 fma)
};

struct VulkanProbeResults {
    std::string device_name;   // the driver's device name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
    std::string device_type;   // "discrete", "integrated", "virtual", "cpu", "other"
    Bandwidth host_to_device;
    Bandwidth device_to_host;
    Bandwidth device_memory;   // compute-shader read
    Bandwidth device_copy;
    Throughput device_f16_matmul;
};

// The device that probe_vulkan() would pick, without measuring (cheap: instance + enumerate).
// Device error when no loader / no device.
Expected<std::string> vulkan_device_name(const VulkanProbeOptions& opts = {});

// Device error when there is no Vulkan loader or device, or a Vulkan call fails (the message
// names the call and the VkResult).
Expected<VulkanProbeResults> probe_vulkan(const VulkanProbeOptions& opts = {});

}  // namespace vk_symbiote::probe
