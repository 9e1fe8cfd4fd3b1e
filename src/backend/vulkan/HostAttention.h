// HostAttention: the attention of the layers whose KV cache lives in RAM (KvPlacement). The
// GPU computes such a layer's norm and Q / K / V projections (rope, biases, head norms, f16
// rounding included) into q and k_new / v_new; those rows come back to the host inside the same
// command buffer; the host appends K / V to the layer's RAM cache and computes causal attention
// for every token and head on its thread pool; the attention output goes up into att, and the
// GPU continues with Wo and the FFN. The RAM caches hold f16 bits where the device's caches
// would be f16 (the rows are f16-rounded already: nothing lost, half the RAM and the bytes a
// decode token reads), else f32. Decode and prompt batches alike (a prompt batch's rows are
// one chunk of n_batch tokens). Not for sliding-window rings (they stay in VRAM).
// Prompt batches may instead attend on the GPU over the same RAM caches streamed in chunks
// (StreamedKvAttention, --ram-kv-prompt): the host then only appends the rows (append). The
// caches are page-aligned so that the device can import them (VK_EXT_external_memory_host).
#pragma once

#include <memory>
#include <vector>

#include "backend/cpu/ThreadPool.h"
#include "backend/vulkan/ModelBuffers.h"
#include "backend/vulkan/WeightStreamRing.h"

namespace vk_symbiote {

class HostAttention {
public:
    // The RAM caches of the layers buf.kv_in_ram() names, for n_ctx positions; exchange
    // buffers for n_batch rows; `threads` workers (0: every hardware thread).
    static Expected<std::unique_ptr<HostAttention>> create(VulkanContext& ctx, const ModelConfig& cfg, const ModelBuffers& buf, uint32 n_ctx,
                                                            uint32 n_batch, uint32 threads);
    // Inside the open recording, after the Q / K / V kernels of n rows: q, k_new, v_new -> host
    // (q_too false: K / V only, for append).
    ExpectedVoid record_download(WeightStreamRing& ring, uint32 n, bool q_too = true);
    // Once that submission finished: K / V rows of positions [pos, pos + n) into layer l's RAM
    // cache, then attention of each token over positions [0, its own] -> the upload buffer.
    ExpectedVoid attend(uint32 layer, uint32 n, uint32 pos);
    // Only the first half of attend: the K / V rows of positions [pos, pos + n) into layer l's
    // RAM cache (the GPU computed the attention: StreamedKvAttention).
    ExpectedVoid append(uint32 layer, uint32 n, uint32 pos);
    // Layer l's K (v: V) cache: host address and bytes (cache_alloc_bytes; null where the cache
    // is on the device), for the device's import.
    uint8* cache(uint32 l, bool v) const { return (v ? v_ : k_)[l].get(); }
    uint64 cache_alloc_bytes() const { return alloc_bytes_; }
    // Bytes per K (or V) row in RAM: kv_dim x 2 (f16 bits) or x 4 (f32).
    uint64 row_bytes() const { return uint64(cfg_.kv_dim()) * elem_; }
    // Inside the next recording: the attention output (n, q_dim) -> att, before Wo reads it.
    ExpectedVoid record_upload(WeightStreamRing& ring, uint32 n);
    // Alignment of the caches' addresses and sizes: a page, a multiple of the host import
    // alignment of the devices seen (VulkanCapabilities::min_imported_host_pointer_alignment).
    static constexpr uint64 kCacheAlign = 4096;
    // RAM the caches may commit (rows of every position of every RAM layer), bytes.
    uint64 cache_bytes() const { return cache_bytes_; }
    // Bytes of one layer's K and V rows in RAM for n_ctx positions (kv_f16: f16 bits, else f32).
    static uint64 layer_bytes(const ModelConfig& cfg, uint32 n_ctx, bool kv_f16) { return 2 * uint64(n_ctx) * cfg.kv_dim() * (kv_f16 ? 2 : 4); }

private:
    HostAttention(const ModelConfig& cfg, const ModelBuffers& buf, uint32 n_ctx, uint32 threads);
    // Byte address of row pos of layer l's K (v: V) cache.
    uint8* row(uint32 l, bool v, uint32 pos) { return (v ? v_ : k_)[l].get() + uint64(pos) * cfg_.kv_dim() * elem_; }
    // n rows of kv_dim floats -> the cache rows from pos (converted to f16 bits when elem_ is 2).
    void store(uint32 l, bool v, uint32 pos, const float* rows, uint32 n);
    // Query head h of token t (q: its row) over positions [0, end) of layer l -> out.
    void attend_head(uint32 l, uint32 h, const float* q, uint32 end, float* scores, float* out);

    const ModelConfig& cfg_;
    const ModelBuffers& buf_;
    uint32 n_ctx_ = 0;
    cpu::ThreadPool pool_;
    // Per layer: (n_ctx, kv_dim) K / V rows of elem_ bytes, null where the cache is on the
    // device. Left uninitialised: pages are committed by the first write, so RAM grows with
    // the context (unless the device's import pins them: StreamedKvAttention). Aligned to
    // kCacheAlign, alloc_bytes_ each (rounded up to it).
    struct FreeAligned {
        void operator()(uint8* p) const;
    };
    std::vector<std::unique_ptr<uint8[], FreeAligned>> k_, v_;
    uint64 alloc_bytes_ = 0;
    uint32 elem_ = 4;             // 2: f16 bits, 4: f32
    uint64 cache_bytes_ = 0;
    DeviceBuffer rb_;             // (n_batch, q_dim + 2 kv_dim) f32: q rows, then K, then V rows (host readback)
    DeviceBuffer up_;             // (n_batch, q_dim) f32: attention output (host staging)
    std::vector<float> scores_;   // (threads, n_ctx) scratch per worker
};

}  // namespace vk_symbiote
