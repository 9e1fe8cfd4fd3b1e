// VulkanContext: the device-wide objects of one VulkanBackend that its per-model parts use
// (they outlive every VulkanModel). PassCounters: what the forward passes count since prepare().
#pragma once

#include <array>

#include "backend/cpu/ThreadPool.h"
#include "backend/vulkan/ShaderRuntime.h"
#include "backend/vulkan/VulkanCompute.h"
#include "backend/vulkan/VulkanOptions.h"
#include "oracle/HardwareTelemetry.h"
#include "vk_symbiote/DecodeRecording.h"

namespace vk_symbiote {

struct VulkanContext {
    const VulkanOptions& opt;
    const VulkanDevice& dev;
    VulkanMemory& mem;
    VulkanCompute& compute;
    ShaderRuntime& rt;
    cpu::ThreadPool& copy_pool;
    TelemetryMeter& telemetry;
};

struct PassCounters {
    uint64 vram_hits = 0, vram_misses = 0;  // tensor uses served from VRAM / streamed
    double cpu_seconds = 0, wait_seconds = 0;
    std::array<double, 5> rows_waits{};     // VulkanBackend::hybrid_rows_waits()
    uint64 cpu_layer_runs = 0, kv_sync_bytes = 0, cpu_weight_bytes = 0;
    // Mixture of experts: chosen experts whose matrices were VRAM-resident (hits), or that
    // streamed or ran in a CPU layer (misses); one per (pass, layer, chosen expert).
    uint64 expert_vram_hits = 0, expert_vram_misses = 0;
    double host_attention_seconds = 0;      // the host's attention of layers whose KV cache is in RAM
    DecodeRecording last_decode;  // the last one-row ForwardPass's recording (VulkanBackend::stats)
    // One-row batched passes (one sequence's decode step over the KV pool) by path
    // (VulkanBackend::one_row_passes), and the last one's path (-1: none yet).
    std::array<uint64, 3> one_row_passes{};
    int32 one_row_path = -1;
};

}  // namespace vk_symbiote
