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
    // Paged caches (DeviceKvPool): every layer's cache holds `positions` rows (whole blocks of
    // the pool) and a pass buffer (BatchRows) is allocated; 0: one sequence's contiguous caches.
    // Before create_device.
    struct Paged {
        uint32 positions = 0;
        uint32 block_positions = 0;
        uint64 align = 256;  // the pass buffer's binding offsets (minStorageBufferOffsetAlignment)
    };
    void set_paged(const Paged& p) { paged_ = p; }
    const Paged& paged() const { return paged_; }
    uint32 n_batch() const { return n_batch_; }
    uint32 n_ctx() const { return n_ctx_; }
    // Byte offset of the row info in pass_rows (BatchRows::info_offset).
    uint64 pass_info_offset() const;
    // Device bytes of the caches, activations and tables as VramPlan counts them (block: the
    // allocator's block size), the vector table (DeviceVectors) and a paged pass buffer included.
    // in_ram: per layer, 1 where the KV cache lives in RAM (KvPlacement; empty: all in VRAM).
    static uint64 device_bytes(const ModelConfig& cfg, bool kv_f16, uint32 n_ctx, uint32 n_batch, uint64 block, const Paged& paged,
                               const std::vector<uint8>& in_ram = {});
    // Device bytes of layer l's K and V caches (contiguous, as device_bytes counts them).
    static uint64 kv_layer_device_bytes(const ModelConfig& cfg, bool kv_f16, uint32 n_ctx, uint32 n_batch, uint32 l, uint64 block);
    // Layers whose KV cache lives in RAM (KvPlacement::in_ram; contiguous caches only): no
    // device cache, their K / V rows go to k_new / v_new and the host computes their
    // attention. Before create_device.
    void set_kv_in_ram(std::vector<uint8> in_ram) { kv_in_ram_ = std::move(in_ram); }
    bool kv_in_ram(uint32 l) const { return l < kv_in_ram_.size() && kv_in_ram_[l]; }
    bool any_kv_in_ram() const;
    const std::vector<uint8>& kv_in_ram_mask() const { return kv_in_ram_; }
    // Bytes of one K (or V) cache of `rows` rows (a layer's: ModelConfig::kv_rows).
    static uint64 kv_cache_bytes(const ModelConfig& cfg, bool kv_f16, uint32 rows) { return uint64(rows) * cfg.kv_dim() * (kv_f16 ? 2 : 4); }
    ExpectedVoid create_device(VulkanContext& ctx, uint32 n_ctx, uint32 n_batch);
    ExpectedVoid create_host(VulkanContext& ctx);

    bool kv_f16() const { return kv_f16_; }
    const ModelConfig& config() const { return cfg_; }
    // Cache rows of layer l: n_ctx, or a sliding layer's ring (position p at row p % rows), as
    // the CPU backend keeps them (ModelConfig::kv_rows).
    uint32 kv_rows(uint32 l) const { return kv_rows_[l]; }
    // Where tokens [first, first + n) of a forward's batch write their K / V rows: the new-row
    // buffers with f16 caches (one run, from row 0), else the cache rows of their positions.
    struct KvTarget {
        uint32 first = 0, n = 0;
        ActView k, v;
    };
    // The runs of a batch of n tokens at pos: one, or two where a ring wraps (f32 caches).
    struct KvTargets {
        KvTarget run[2];
        uint32 count = 0;
    };
    KvTargets kv_targets(uint32 l, uint32 pos, uint32 n) const;
    ActView k_target(uint32 l, uint32 pos) const { return kv_targets(l, pos, 1).run[0].k; }
    ActView v_target(uint32 l, uint32 pos) const { return kv_targets(l, pos, 1).run[0].v; }
    VkBuffer k_new_buffer() const { return kv_f16_ ? k_new.buffer() : VK_NULL_HANDLE; }
    VkBuffer v_new_buffer() const { return kv_f16_ ? v_new.buffer() : VK_NULL_HANDLE; }
    // k_new / v_new exist: f16 caches, or some layer's rows go to the host.
    bool has_new_rows() const { return kv_f16_ || any_kv_in_ram(); }
    // The rope table of layer l: rope_table_swa for a sliding layer whose rope base / scale differ.
    VkBuffer rope_table_of(uint32 l) const { return rope_table_swa && cfg_.is_sliding(l) ? rope_table_swa.buffer() : rope_table.buffer(); }

    std::vector<DeviceBuffer> k_cache, v_cache;  // per layer: (kv_rows(l), kv_dim) f32, or f16 pairs when kv_f16; empty: in RAM
    DeviceBuffer k_new, v_new;                   // (n_batch, kv_dim) f32 with f16 caches or caches in RAM
    DeviceBuffer x, xn;                          // (n_batch, n_embd) residual stream / normed
    DeviceBuffer q, att;                         // (n_batch, q_dim) queries / attention output
    DeviceBuffer hb;                             // (n_batch, n_ff) silu(gate) * up
    DeviceBuffer logits;                         // (n_batch, n_vocab)
    DeviceBuffer dummy;                          // 4 bytes, bound to unused bindings
    // Split-K attention's partials (SplitKAttention.h); empty where no dispatch can split (an
    // n_ctx of one chunk).
    DeviceBuffer attn_partials;
    DeviceBuffer rope_table;                     // (n_ctx, n_rot / 2, 2) cos / sin (rope_freq_base / scale, the factors)
    DeviceBuffer rope_table_swa;                 // the same with rope_base_swa / rope_scale_swa; empty when equal
    std::vector<float> rope_host, rope_host_swa; // paged: host copies of the two tables (BatchRows gathers rows of them)
    DeviceBuffer pass_rows;                      // paged: the pass buffer (BatchRows::buffer_bytes)
    DeviceBuffer pass_rows_up;                   // paged: host staging of pass_rows' size, copied in by the first command buffer
    // Decode round trips: the token's embedding row (or x from the CPU) goes host -> x through
    // x_up inside the first command buffer, the logits row device -> logits_rb inside the last.
    DeviceBuffer x_up;                           // (max(n_embd, q_dim, n_ff)) host -> device
    DeviceBuffer logits_rb;                      // (n_vocab) device -> host
    std::vector<float> xh;                       // (n_embd) x while the host holds it

private:
    ModelConfig cfg_;
    bool kv_f16_ = false;
    Paged paged_;
    uint32 n_batch_ = 0;
    uint32 n_ctx_ = 0;
    std::vector<uint32> kv_rows_;  // (n_layer)
    std::vector<uint8> kv_in_ram_; // (n_layer) or empty: 1 where the layer's cache is in RAM
};

// Whether sliding layers rope with another base or scale than the others (a second table).
bool has_swa_rope(const ModelConfig& cfg);
// The embedding row of `token` (n_embd floats) as the first layer takes it: times the
// family's embedding scale (Gemma: sqrt(n_embd)).
ExpectedVoid embedding_input(WeightProvider& weights, const ModelConfig& cfg, uint32 token, float* row);

// Floats of the largest part the hybrid decode exchanges between host and device.
uint64 exchange_floats(const ModelConfig& cfg);

}  // namespace vk_symbiote
