// VulkanBackend: the Backend (prepare / forward / reset) on Vulkan compute. In this
// version everything is resident: prepare() uploads every weight tensor's slices into
// device buffers (one per slice, split further to respect maxStorageBufferRange) through
// the staging ring, and allocates the KV cache and activations; forward() records one
// command buffer per step, submits, waits with a timeout, and reads back the logits.
// Embedding rows come from the WeightProvider (host) and are copied in the same command
// buffer. Thread-safety: one caller at a time.
#pragma once

#include <map>
#include <memory>
#include <utility>

#include "backend/Backend.h"
#include "backend/vulkan/VulkanCompute.h"
#include "backend/vulkan/VulkanOps.h"

namespace vk_symbiote {

struct VulkanOptions {
    int32 device_index = -1;
    bool force_integrated_gpu = false;
    Path shader_dir;              // hot reload source (empty: off)
    Path pipeline_cache_path;     // persistent VkPipelineCache (empty: none)
    ShaderSpecialization spec;
    bool enable_profiling = true;
    // Round Q, K and V to f16 precision (storage stays f32), as llama.cpp's default f16 KV
    // cache does: for comparing with the reference at its own precision (CpuBackend's
    // KvPrecision::F16Rounded). Off: pure f32.
    bool kv_f16_rounding = false;  // timestamp queries around every forward (GPU time)
    uint64 vram_budget_bytes = 0; // 0: the device-local budget reported by the device
    bool enable_validation = false;
    uint64 fence_timeout_ns = uint64(120) * 1000000000ull;
};

class VulkanBackend final : public Backend {
public:
    static Expected<std::unique_ptr<VulkanBackend>> create(const VulkanOptions& opt);
    ~VulkanBackend() override;

    std::string name() const override { return "vulkan (" + dev_->caps().device_name + ")"; }
    ExpectedVoid prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) override;
    ExpectedVoid forward(const ForwardRequest& req) override;
    void reset() override { pos_ = 0; }
    uint32 n_ctx() const override { return n_ctx_; }

    // GPU time of the last forward / of every forward since prepare (0 when profiling is
    // off or the compute queue has no timestamps).
    uint64 last_gpu_time_ns() const { return compute_->last_gpu_time_ns(); }
    uint64 total_gpu_time_ns() const { return total_gpu_ns_; }
    std::string device_name() const { return dev_->caps().device_name; }
    const VulkanDevice& device() const { return *dev_; }
    // Device memory obtained from vkAllocateMemory (bytes_reserved) and sub-allocated.
    AllocatorStats device_memory_stats() const { return mem_->device_stats(); }
    ShaderRuntime& shaders() { return *rt_; }
    // Bytes of device memory this backend needs for `weights` at (n_ctx, n_batch).
    static uint64 required_bytes(const WeightProvider& weights, uint32 n_ctx, uint32 n_batch, uint64 max_range);
    // Where tensor `id` lives on the device (nullptr before prepare / unknown).
    const DeviceWeight* device_weight(TensorId id) const;

private:
    explicit VulkanBackend(VulkanOptions opt) : opt_(std::move(opt)) {}
    Expected<GpuBuffer> alloc(uint64 bytes);
    ExpectedVoid upload_tensor(WeightProvider& w, TensorId id);
    ExpectedVoid record_layer(OpContext& c, uint32 layer, uint32 n, uint32 pos);
    void release();

    VulkanOptions opt_;
    std::unique_ptr<VulkanDevice> dev_;
    std::unique_ptr<VulkanMemory> mem_;
    std::unique_ptr<VulkanCompute> compute_;
    std::unique_ptr<ShaderRuntime> rt_;
    WeightProvider* weights_ = nullptr;
    ModelConfig cfg_;
    std::map<std::pair<uint32, int32>, DeviceWeight> dweights_;
    std::vector<GpuBuffer> buffers_;  // everything this backend allocated
    std::vector<GpuBuffer> k_cache_, v_cache_;  // per layer: (n_ctx, kv_dim) f32
    GpuBuffer x_, xn_, q_, att_, hb_, logits_, dummy_, rope_table_;
    uint32 n_ctx_ = 0, n_batch_ = 0, pos_ = 0;
    uint64 total_gpu_ns_ = 0;
};

}  // namespace vk_symbiote
