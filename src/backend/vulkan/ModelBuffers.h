// ModelBuffers: a model's activations and KV cache on the device, and the host-visible
// buffers of the decode round trips. Sizes in floats unless said; all f32.
#pragma once

#include <vector>

#include "backend/Backend.h"
#include "backend/vulkan/DeviceBuffer.h"
#include "backend/vulkan/VramPlan.h"
#include "backend/vulkan/VulkanContext.h"
#include "backend/vulkan/VulkanOps.h"

namespace vk_symbiote {

class ModelBuffers {
public:
    // kv_f16: f16 KV caches (half the VRAM; the values are f16-rounded anyway, as llama.cpp's
    // default cache); the K / V matmuls then write the forward's rows into k_new / v_new.
    ModelBuffers(const ModelConfig& cfg, bool kv_f16) : cfg_(cfg), kv_f16_(kv_f16) {}
    // Device bytes of the caches and activations as VramPlan counts them (block: the allocator's block size).
    static uint64 device_bytes(const ModelConfig& cfg, bool kv_f16, uint32 n_ctx, uint32 n_batch, uint64 block);
    static uint64 kv_cache_bytes(const ModelConfig& cfg, bool kv_f16, uint32 n_ctx) {
        return uint64(n_ctx) * cfg.kv_dim() * (kv_f16 ? 2 : 4);
    }
    ExpectedVoid create_device(VulkanContext& ctx, uint32 n_ctx, uint32 n_batch);
    ExpectedVoid create_host(VulkanContext& ctx);

    bool kv_f16() const { return kv_f16_; }
    // Where a forward's K / V rows go, and the attention's new-row buffers (null with f32 caches).
    ActView k_target(uint32 l, uint32 pos) const { return kv_target(k_cache[l], k_new, pos); }
    ActView v_target(uint32 l, uint32 pos) const { return kv_target(v_cache[l], v_new, pos); }
    VkBuffer k_new_buffer() const { return kv_f16_ ? k_new.buffer() : VK_NULL_HANDLE; }
    VkBuffer v_new_buffer() const { return kv_f16_ ? v_new.buffer() : VK_NULL_HANDLE; }

    std::vector<DeviceBuffer> k_cache, v_cache;  // per layer: (n_ctx, kv_dim) f32, or f16 pairs when kv_f16
    DeviceBuffer k_new, v_new;                   // (n_batch, kv_dim) f32 with f16 caches
    DeviceBuffer x, xn;                          // (n_batch, n_embd) residual stream / normed
    DeviceBuffer q, att;                         // (n_batch, q_dim) queries / attention output
    DeviceBuffer hb;                             // (n_batch, n_ff) silu(gate) * up
    DeviceBuffer logits;                         // (n_batch, n_vocab)
    DeviceBuffer dummy;                          // 4 bytes, bound to unused bindings
    DeviceBuffer rope_table;                     // (n_ctx, n_rot / 2, 2) cos / sin
    // Decode round trips: the token's embedding row (or x from the CPU) goes host -> x through
    // x_up inside the first command buffer, the logits row device -> logits_rb inside the last.
    DeviceBuffer x_up;                           // (max(n_embd, q_dim, n_ff)) host -> device
    DeviceBuffer logits_rb;                      // (n_vocab) device -> host
    std::vector<float> xh;                       // (n_embd) x while the host holds it

private:
    ActView kv_target(const DeviceBuffer& cache, const DeviceBuffer& fresh, uint32 pos) const {
        return kv_f16_ ? ActView{fresh.buffer(), 0, cfg_.kv_dim()} : ActView{cache.buffer(), pos * cfg_.kv_dim(), cfg_.kv_dim()};
    }
    ModelConfig cfg_;
    bool kv_f16_ = false;
};

// Floats of the largest part the hybrid decode exchanges between host and device.
uint64 exchange_floats(const ModelConfig& cfg);

}  // namespace vk_symbiote
