// VulkanModel: everything a VulkanBackend holds for one prepared model, owned in one place:
// prepare() builds a new one, and dropping it waits for the device to go idle, then every
// buffer, import and slot frees itself.
#pragma once

#include <memory>

#include "backend/vulkan/BatchHybrid.h"
#include "backend/vulkan/DecodeAhead.h"
#include "backend/vulkan/DeviceKvPool.h"
#include "backend/vulkan/DeviceMoe.h"
#include "backend/vulkan/ExpertCache.h"
#include "backend/vulkan/HostAttention.h"
#include "backend/vulkan/HybridDecode.h"
#include "backend/vulkan/RowsSplit.h"
#include "backend/vulkan/ShaderCopyStream.h"
#include "backend/vulkan/StreamedKvAttention.h"
#include "oracle/KvPlacement.h"

namespace vk_symbiote {

struct VulkanModel {
    VulkanModel(const VulkanDevice& dev, const ModelConfig& model_cfg, bool kv_f16) : device(dev), cfg(model_cfg), buf(model_cfg, kv_f16) {}
    ~VulkanModel() { vkDeviceWaitIdle(device.device()); }  // before the members free their buffers
    VulkanModel(const VulkanModel&) = delete;
    VulkanModel& operator=(const VulkanModel&) = delete;

    const VulkanDevice& device;
    ModelConfig cfg;
    WeightProvider* weights = nullptr;
    DeviceWeights w;                          // resident weights and where every tensor is read
    DmaStream dma;                            // streamed weights by transfer uploads
    std::unique_ptr<WeightStreamRing> ring;   // streaming slots and the command buffer ring
    ShaderCopyStream shader;                  // streamed weights by copy.comp in prompt passes
    ModelBuffers buf;                         // activations, KV cache, exchange buffers
    std::unique_ptr<RowsSplit> rows;          // the rows split's layout (null without zero-copy hybrid)
    std::unique_ptr<HybridDecode> hybrid;     // null without hybrid decode
    uint64 shader_copied = 0;                 // bytes copied by copy.comp since prepare()
    std::unique_ptr<DeviceKvPool> kv;         // the paged KV cache over buf's caches (null: contiguous caches)
    std::unique_ptr<DeviceMoe> moe;           // a mixture of experts' FFN buffers (null: dense model)
    std::unique_ptr<ExpertCache> experts;     // its streamed experts' VRAM cache (null: dense, or every expert resident)
    std::unique_ptr<BatchHybrid> batch;       // the rows split's CPU part of batched passes (null without a pool and rows split)
    KvPlacement kv_place;                     // where each layer's KV cache lives (VulkanBackend::plan_caches)
    std::unique_ptr<HostAttention> host_att;  // the attention of the layers whose cache is in RAM (null: all in VRAM)
    // Their prompt batches' attention on the GPU over host_att's caches (null: never; declared
    // after host_att: its imports of those caches go first)
    std::unique_ptr<StreamedKvAttention> stream_att;
    std::unique_ptr<DecodeAhead> ahead;       // greedy decode queued ahead (null: off or not this placement)
    bool rows_mode() const { return rows && rows->enabled; }
};

}  // namespace vk_symbiote
