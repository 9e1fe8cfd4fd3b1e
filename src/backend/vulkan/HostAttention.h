// HostAttention: the attention of the layers whose KV cache lives in RAM (KvPlacement). The
// GPU computes such a layer's norm and Q / K / V projections (rope, biases, head norms, f16
// rounding included) into q and k_new / v_new; those rows come back to the host inside the same
// command buffer; the host appends K / V to the layer's RAM cache and computes causal attention
// for every token and head on its thread pool; the attention output goes up into att, and the
// GPU continues with Wo and the FFN. Decode and prompt batches alike (a prompt batch's rows are
// one chunk of n_batch tokens). Not for sliding-window rings (they stay in VRAM).
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
    // Inside the open recording, after the Q / K / V kernels of n rows: q, k_new, v_new -> host.
    ExpectedVoid record_download(WeightStreamRing& ring, uint32 n);
    // Once that submission finished: K / V rows of positions [pos, pos + n) into layer l's RAM
    // cache, then attention of each token over positions [0, its own] -> the upload buffer.
    ExpectedVoid attend(uint32 layer, uint32 n, uint32 pos);
    // Inside the next recording: the attention output (n, q_dim) -> att, before Wo reads it.
    ExpectedVoid record_upload(WeightStreamRing& ring, uint32 n);
    // RAM the caches may commit (f32 rows of every position of every RAM layer), bytes.
    uint64 cache_bytes() const { return cache_bytes_; }
    // Host bytes of the RAM caches of `in_ram` layers for n_ctx positions (f32 K and V rows).
    static uint64 cache_bytes(const ModelConfig& cfg, uint32 n_ctx, const std::vector<uint8>& in_ram);

private:
    HostAttention(const ModelConfig& cfg, const ModelBuffers& buf, uint32 n_ctx, uint32 threads);
    float* k_row(uint32 l, uint32 pos) { return k_[l].get() + uint64(pos) * cfg_.kv_dim(); }
    float* v_row(uint32 l, uint32 pos) { return v_[l].get() + uint64(pos) * cfg_.kv_dim(); }

    const ModelConfig& cfg_;
    const ModelBuffers& buf_;
    uint32 n_ctx_ = 0;
    cpu::ThreadPool pool_;
    // Per layer: (n_ctx, kv_dim) f32 K / V rows, null where the cache is on the device. Left
    // uninitialised: pages are committed by the first write, so RAM grows with the context.
    std::vector<std::unique_ptr<float[]>> k_, v_;
    uint64 cache_bytes_ = 0;
    DeviceBuffer rb_;             // (n_batch, q_dim + 2 kv_dim) f32: q rows, then K, then V rows (host readback)
    DeviceBuffer up_;             // (n_batch, q_dim) f32: attention output (host staging)
    std::vector<float> scores_;   // (threads, n_ctx) scratch per worker
};

}  // namespace vk_symbiote
