// StreamedKvAttention: the GPU's attention of a prompt batch for a layer whose KV cache lives in
// RAM (HostAttention's caches, imported by the device through VK_EXT_external_memory_host).
// The cached rows [0, pos) cross into a fixed device scratch in chunks of chunk_keys() keys (the
// RAM rows as they are: f16 bits or f32; copies recorded in the compute command buffer, the
// copy of chunk c + 1 into the other half of the scratch beside the kernel of chunk c); each
// chunk is attended by attention_flash.comp's STREAM variant for every row and head of the
// batch, which carries each (row, head)'s online softmax (running max, sum, unnormalized
// output) from one chunk to the next in a state buffer; the batch's own rows (f32 in k_new /
// v_new, causal) come last and finish into att. The softmax is exact over every key (the flash
// kernel's online rescaling across chunks instead of split-K's partials per chunk: the state
// is one (head_dim + 2) row per (row, head) however long the context); no n x n score matrix.
// The host still appends the batch's K / V rows to its caches (HostAttention::append).
// Decode rows stay on the host (one row's attention is memory-bound there: no copy wins).
// Where: VulkanOptions::ram_kv_prompt (--ram-kv-prompt), shapes the flash kernel runs
// (head_dim a multiple of 4, at most 128) and devices that import host memory.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "backend/vulkan/DeviceBuffer.h"
#include "backend/vulkan/VulkanContext.h"
#include "backend/vulkan/VulkanOps.h"

namespace vk_symbiote {

class HostAttention;
class ModelBuffers;
class WeightStreamRing;

// Keys per streamed chunk (at most n_ctx): the scratch holds two chunks of K and V rows.
constexpr uint32 kStreamChunkKeys = 1024;
// --ram-kv-prompt auto: batches of at least this many rows (one flash query block) attend on
// the GPU; smaller ones (decode, short speculative verifications) on the host. A CPU device
// (lavapipe) never: its "GPU" kernels run on the same cores, slower than the host's attention.
constexpr uint32 kStreamMinRows = 32;

// One STREAM dispatch: the rows attend over keys [key_lo, key_hi), key j at row j - key_lo of
// k / v (f16: f16 bits, else f32; kv_dim per row); state_in: continue each row's softmax from
// `state`; finish: write the outputs to out (else the state).
struct StreamChunk {
    uint32 key_lo = 0, key_hi = 0;
    bool f16 = false;
    bool state_in = false;
    bool finish = false;
};
// The chunk's dispatch over shape s (no window: sliding caches never leave VRAM; q / out views
// from element 0). state: (n_tokens, n_head, head_dim + 2) f32.
ExpectedVoid op_attention_stream(OpContext& c, const AttentionShape& s, const StreamChunk& ch, ActView q, VkBuffer k, VkBuffer v,
                                 VkBuffer state, ActView out);
// Whether the STREAM kernel runs shape s on the device of c (the flash kernel's limits).
bool stream_supported(const OpContext& c, const AttentionShape& s);

class StreamedKvAttention {
public:
    // Device bytes of the scratch: {one half of K or V (4 of them), the state}, for the VRAM plan.
    static std::array<uint64, 2> buffer_bytes(const ModelConfig& cfg, bool kv_f16, uint32 n_ctx, uint32 n_batch);
    // Null (no error) where the option is cpu or the device cannot (or, for these caches, will
    // not: a warning) import host memory; else the scratch and the imports of host's caches.
    static Expected<std::unique_ptr<StreamedKvAttention>> create(VulkanContext& ctx, const ModelConfig& cfg, const HostAttention& host,
                                                                 uint32 n_ctx, uint32 n_batch);
    // Whether a batch of n rows attends here (the option, the row threshold, the shape).
    bool takes(const OpContext& c, uint32 n) const;
    // Inside the open recording, after the Q / K / V kernels of n rows at positions
    // [pos, pos + n) of layer l: the chunks, then the own rows into buf.att; a barrier after.
    ExpectedVoid record(OpContext& c, WeightStreamRing& ring, const ModelBuffers& buf, uint32 l, uint32 n, uint32 pos);
    uint32 chunk_keys() const { return chunk_; }
    uint64 rows_attended() const { return rows_; }      // prompt rows attended here since create()
    uint64 bytes_streamed() const { return bytes_; }    // RAM cache bytes copied to the scratch since create()

private:
    StreamedKvAttention(const ModelConfig& cfg, RamKvPrompt how, bool cpu_device) : cfg_(cfg), how_(how), cpu_device_(cpu_device) {}
    AttentionShape shape(uint32 n, uint32 pos) const;

    const ModelConfig& cfg_;
    RamKvPrompt how_;
    bool cpu_device_;         // the device is a CPU implementation (auto: host attention)
    uint32 chunk_ = 0;        // keys per chunk
    uint64 row_bytes_ = 0;    // bytes per K (or V) row in RAM
    bool f16_ = false;        // the RAM rows are f16 bits
    std::vector<DeviceBuffer> k_import_, v_import_;  // per layer: the RAM cache as a transfer source (empty: on the device)
    std::array<DeviceBuffer, 2> k_, v_;              // the scratch halves: (chunk, kv_dim) rows each
    DeviceBuffer state_;                             // (n_batch, n_head, head_dim + 2) f32
    uint64 rows_ = 0, bytes_ = 0;
};

}  // namespace vk_symbiote
