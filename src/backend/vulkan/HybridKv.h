// HybridKv: which KV rows are valid on which side when a CPU backend computes some layers (or
// some KV heads of every layer) of the decode. Per (layer, KV head): rows [0, n) valid on the
// CPU's cache / on the device's; sync() copies the rows the other side wrote before a side reads.
// Rows are positions; a sliding layer's caches are rings on both sides (of different sizes), of
// which only the positions both still hold are copied.
#pragma once

#include <vector>

#include "backend/cpu/CpuBackend.h"
#include "backend/vulkan/ModelBuffers.h"

namespace vk_symbiote {

class HybridKv {
public:
    HybridKv(const ModelConfig& cfg, VulkanCompute& compute, ModelBuffers& buf, CpuBackend& cpu, uint64& sync_bytes);
    // KV rows [0, upto) of `layer`: the CPU's cache gets KV heads [0, cpu_heads) and the
    // device's heads [gpu_from, n_head_kv) valid (rows the other side computed are copied).
    ExpectedVoid sync(uint32 layer, uint32 upto, uint32 cpu_heads, uint32 gpu_from);
    // Rows [pos, pos + n) were just written by the CPU for heads [0, cpu_heads) and by the
    // GPU for heads [gpu_from, n_head_kv).
    void mark(uint32 layer, uint32 pos, uint32 n, uint32 cpu_heads, uint32 gpu_from);

private:
    // Device rows of positions [lo, upto) of cache v (0: K, 1: V) of `layer` merged with the host's.
    ExpectedVoid merge(uint32 layer, int v, uint32 lo, uint32 upto, uint32 cpu_heads, uint32 gpu_from, bool keep_device, bool to_gpu);
    // n elements of `dev` from element dev_at <-> tmp_ from element at (f16 caches through half_).
    ExpectedVoid download_rows(const DeviceBuffer& dev, uint64 dev_at, uint64 at, uint64 n);
    ExpectedVoid upload_rows(const DeviceBuffer& dev, uint64 at, uint64 dev_at, uint64 n);
    const ModelConfig& cfg_;
    VulkanCompute& compute_;
    ModelBuffers& buf_;
    CpuBackend& cpu_;
    uint64& sync_bytes_;
    std::vector<uint32> cpu_valid_, gpu_valid_;  // per (layer, KV head): KV rows [0, n) valid on that side
    std::vector<float> tmp_;
    std::vector<uint16> half_;
};

}  // namespace vk_symbiote
