// Backend: one compute backend (CPU, Vulkan) with calm's three verbs:
// prepare (allocate KV cache and activations for a context size), forward (run a
// batch of tokens at consecutive positions through the model), and reset (empty the
// KV cache). A backend pulls weights from a WeightProvider; it owns its KV cache.
// A backend with a paged KV cache (kv_pool()) also runs forward_batch: one pass over the
// weights for the tokens of many sequences, each sequence's K / V in its own blocks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/KvBlockPool.h"
#include "memory/WeightProvider.h"
#include "model/ModelConfig.h"
#include "vk_symbiote/Common.h"
#include "vk_symbiote/DecodeRecording.h"

namespace vk_symbiote {

// One device's part of a placement across several devices: its layers, where they live, and
// its memory against its own budget.
struct DevicePartStats {
    std::string device;              // the device's name
    int32 device_index = -1;
    uint32 first_layer = 0;          // layers [first_layer, first_layer + n_layers)
    uint32 n_layers = 0;
    bool embeds = false;             // the embedding rows enter here (the first device)
    bool head = false;               // the output norm and head run here (the last device)
    uint32 vram_resident_layers = 0;
    uint32 streamed_layers = 0;
    uint64 weight_bytes_vram_resident = 0;
    uint64 weight_bytes_uploaded = 0;      // host -> device since prepare()
    uint64 vram_budget_bytes = 0;
    uint64 device_memory_peak = 0;         // bytes obtained from the device allocator (never given back)
    uint64 activation_bytes_in = 0;        // residual rows copied in from the previous device since prepare()
    std::string placement;                 // the device's own one-line placement
};

// A snapshot of what a backend did and where it placed the model, read by the engine for
// PerformanceMetrics. Counters run since prepare(); the engine subtracts the snapshot it took
// at reset_performance_metrics(). Fields that do not apply to a backend stay 0.
struct BackendStats {
    // Counters since prepare().
    uint64 gpu_time_ns = 0;
    uint64 weight_bytes_uploaded = 0;      // host -> device
    uint64 vram_hits = 0;                  // tensor uses served from VRAM
    uint64 vram_misses = 0;                // tensor uses that streamed
    uint64 expert_vram_hits = 0;           // chosen experts found VRAM-resident (mixture of experts)
    uint64 expert_vram_misses = 0;         // chosen experts streamed or computed in a CPU layer
    uint64 hybrid_cpu_weight_bytes = 0;    // weight bytes the hybrid decode's CPU part computed
    // KV caches in RAM (Vulkan): prompt rows attended on the GPU over the streamed caches (per
    // row and layer) and the cache bytes streamed for them (StreamedKvAttention).
    uint64 ram_kv_gpu_rows = 0, ram_kv_streamed_bytes = 0;
    std::vector<KernelTime> kernel_times;  // per shader variant, with --enable-profiling
    DecodeRecording decode_recording;      // the last one-row pass (Vulkan)
    // The CPU path: dense weight bytes every forward pass reads from RAM (the engine counts
    // passes, and adds a mixture's chosen experts: WeightProvider::routed_expert_bytes).
    uint64 cpu_weight_bytes_per_pass = 0;
    // The placement now (PerformanceMetrics' fields of the same names).
    uint32 n_layers = 0;
    uint32 vram_resident_layers = 0;
    uint32 streamed_layers = 0;
    uint32 decode_cpu_layers = 0;
    uint32 decode_cpu_kv_heads = 0;
    uint32 decode_kv_heads = 0;
    bool decode_head_on_cpu = false;
    uint64 weight_bytes_vram_resident = 0;
    uint64 device_memory_reserved = 0;     // bytes obtained from the device allocator
    double telemetry_cpu_weight_gbps = 0;
    double telemetry_gpu_weight_gbps = 0;
    double telemetry_host_to_device_gbps = 0;
    // The last forward pass's streaming timeline (--enable-profiling; see PerformanceMetrics).
    uint64 stream_span_ns = 0;
    uint64 stream_upload_busy_ns = 0;
    uint64 stream_compute_busy_ns = 0;
    uint64 stream_overlap_ns = 0;
    std::string placement;                 // one line, e.g. "all in VRAM"; hybrid decode state
    // Several devices (--devices; MultiDeviceBackend): each device's part, in layer order (empty
    // with one device). The fields above are then the sums over the devices.
    std::vector<DevicePartStats> devices;
};

struct ForwardRequest {
    const uint32* tokens = nullptr;  // [n_tokens]
    uint32 n_tokens = 0;
    uint32 pos = 0;                  // position of tokens[0]; KV cache holds [0, pos)
    bool all_logits = false;         // true: logits for every token; false: last token only
    float* logits = nullptr;         // out: [all_logits ? n_tokens : 1][n_vocab]
};

// One sequence's part of a batched forward pass (Backend::forward_batch).
struct SeqChunk {
    // The sequence's blocks in kv_pool(), made writable for [pos, pos + n_tokens) by
    // KvBlockPool::prepare_write; positions [0, pos) hold the sequence's K / V.
    const KvBlockTable* kv = nullptr;
    const uint32* tokens = nullptr;  // [n_tokens] at positions [pos, pos + n_tokens)
    uint32 n_tokens = 0;
    uint32 pos = 0;
    bool all_logits = false;   // true: logits for every token; false: the last token only
    float* logits = nullptr;   // out: nullptr (none wanted), else [all_logits ? n_tokens : 1][n_vocab]
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;
    // Allocates the KV cache for up to n_ctx positions and the activations for batches
    // of up to n_batch tokens.
    virtual ExpectedVoid prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) = 0;
    virtual ExpectedVoid forward(const ForwardRequest& req) = 0;
    // Empty the KV cache (a new sequence starts at position 0).
    virtual void reset() = 0;
    virtual uint32 n_ctx() const = 0;
    // The paged KV cache forward_batch reads and writes; nullptr: this backend has none and
    // runs one sequence at a time through forward().
    virtual KvBlockPool* kv_pool() { return nullptr; }
    // One forward pass over the chunks of several sequences (at most n_batch tokens in all):
    // every weight matrix is applied to all their tokens at once, each token attends to its
    // own sequence's positions. Each chunk's logits are those forward() would give it alone.
    virtual ExpectedVoid forward_batch(const std::vector<SeqChunk>& chunks) {
        (void)chunks;
        return make_error(ErrorCode::Unsupported, name() + ": no batched forward pass over several sequences (no paged KV cache)");
    }
    // Non-const: a backend may read device-side totals through non-const accessors.
    virtual BackendStats stats() { return {}; }
};

}  // namespace vk_symbiote
