// VulkanComputeProbe: the two compute-shader device probes of VulkanProbe.h (internal to
// src/probe): device-memory read bandwidth (shaders/probe_read.comp) and f16 matmul
// throughput (shaders/probe_matmul.comp). Each creates its buffers and pipeline in the
// shared Context and frees them before returning. Blocking; uses the device alone.
#pragma once

#include "probe/VulkanProbeContext.h"

#ifdef VKS_HAS_VULKAN

namespace vk_symbiote::probe::detail {

// Reads a device-local buffer of up to opts.read_bytes (halved until it can be allocated,
// at least 64 MiB) once per repetition; GB/s of the median repetition.
Expected<Bandwidth> probe_device_read(Context& c, const VulkanProbeOptions& opts);
// Format error when the kernel's small validation product is wrong (the figure would mean
// nothing); Device error when the device cannot run it (no Vulkan 1.2, workgroup limits).
Expected<Throughput> probe_f16_matmul(Context& c, const VulkanProbeOptions& opts);

}  // namespace vk_symbiote::probe::detail

#endif
