// WeightProvider: the narrow interface through which a forward pass obtains weights:
// "give me tensor X of layer L". The forward pass never opens files or allocates
// device memory itself. A tensor may arrive as several row slices (packs); each slice
// is an independent block of consecutive rows, row-major, in the tensor's dtype.
//
// acquire() pins the slices until the returned WeightHandle is destroyed: the provider
// must not evict or move them while a kernel may read them.
#pragma once

#include <atomic>
#include <functional>
#include <vector>

#include "model/TensorRegistry.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct WeightSlice {
    const void* data = nullptr;  // host pointer to rows [row_begin, row_end) x cols, dtype of the tensor
    uint64 row_begin = 0;
    uint64 row_end = 0;
    uint64 pack_id = 0;          // the pack that holds it (for accounting / device residency)
};

struct WeightView {
    TensorId id;
    DType dtype = DType::F32;
    uint64 rows = 0;
    uint64 cols = 0;
    std::vector<WeightSlice> slices;  // sorted by row_begin, covering [0, rows)
};

// Move-only pin on a WeightView; releases the pin on destruction.
class WeightHandle {
public:
    WeightHandle() = default;
    WeightHandle(WeightView v, std::function<void()> release) : view_(std::move(v)), release_(std::move(release)) {}
    WeightHandle(WeightHandle&& o) noexcept : view_(std::move(o.view_)), release_(std::move(o.release_)) { o.release_ = nullptr; }
    WeightHandle& operator=(WeightHandle&& o) noexcept {
        if (this != &o) {
            reset();
            view_ = std::move(o.view_);
            release_ = std::move(o.release_);
            o.release_ = nullptr;
        }
        return *this;
    }
    WeightHandle(const WeightHandle&) = delete;
    WeightHandle& operator=(const WeightHandle&) = delete;
    ~WeightHandle() { reset(); }

    const WeightView& view() const { return view_; }
    const WeightView* operator->() const { return &view_; }
    void reset() {
        if (release_) release_();
        release_ = nullptr;
    }

private:
    WeightView view_;
    std::function<void()> release_;
};

// A snapshot of a provider's reads, for PerformanceMetrics (counters since the provider
// opened; the engine subtracts its snapshot at reset_performance_metrics()). The RAM pack
// tier's fields are 0 for providers without one.
struct ProviderStats {
    uint64 bytes_read = 0;  // weight bytes read from the model file (compressed: the pack cache's)
    uint64 pack_hits = 0;
    uint64 pack_misses = 0;
    uint64 pack_budget_bytes = 0;
    uint64 pack_resident_bytes = 0;
    uint32 lookahead_layers = 0;
    uint64 read_ahead_bytes = 0;  // 0: no cap
    double prediction_hit_rate = 0;
    // Mixture of experts: experts the routers chose that the oracle had predicted before the
    // router ran (hits) or not (misses).
    uint64 expert_hits = 0;
    uint64 expert_misses = 0;
    uint64 routed_expert_bytes = 0;  // WeightProvider::routed_expert_bytes (filled by the engine)
    // Pack reads (packs streamed; 0 otherwise): the I/O threads' summed busy time and the wall
    // time with a read in flight; with a pack cache, the decode threads' summed busy time and
    // count, stored bytes read from the cache and the raw bytes they delivered; reads_raw:
    // packs are read raw from the model file although a cache exists (the read mode's switch).
    double io_busy_seconds = 0;
    double io_active_seconds = 0;
    double decode_busy_seconds = 0;
    uint32 decode_threads = 0;
    uint64 cache_bytes_read = 0;
    uint64 cache_bytes_delivered = 0;
    bool reads_raw = false;
};

class WeightProvider {
public:
    virtual ~WeightProvider() = default;
    virtual const ModelConfig& config() const = 0;
    virtual const TensorRegistry& registry() const = 0;

    // Pins and returns every slice of one tensor (loading it if needed).
    virtual Expected<WeightHandle> acquire(TensorId id) = 0;

    // Reads one embedding row (token_embd row `token`) converted to f32: out[n_embd].
    // The embedding table is never loaded whole.
    virtual ExpectedVoid embedding_row(uint32 token, float* out) = 0;

    // Hint: the forward pass is about to use these tensors in this order (prefetch).
    virtual void hint_upcoming(const std::vector<TensorId>& /*ids*/) {}
    // A mixture-of-experts layer's router chose: of the batch's n_tokens tokens,
    // tokens_per_expert[e] (n_expert entries) chose expert e. The forward pass reads the
    // chosen experts' tensors (count > 0, lowest expert first) next, and no other expert of
    // the layer: routed_expert_bytes() grows by their bytes (each chosen expert once, however
    // many of the batch's tokens chose it), then on_experts_routed() tells the provider.
    void experts_routed(uint32 layer, const std::vector<uint32>& tokens_per_expert, uint32 n_tokens);
    // Bytes of the experts the routers chose, summed over experts_routed() calls since the
    // provider was created: what the forward passes read of the experts (the accounting of
    // bytes per token counts these instead of every expert). Any thread may read it.
    uint64 routed_expert_bytes() const { return routed_expert_bytes_.load(std::memory_order_relaxed); }
    // Hint: the caller will not acquire these tensors again (they live on the device now);
    // replaces the previous set. A provider under a budget gives their memory to others
    // first. Acquiring one anyway still works (it is loaded again).
    virtual void retire(const std::vector<TensorId>& /*ids*/) {}

    // True when slices stay valid at the same host address for the provider's lifetime
    // (nothing is ever evicted) and start at page_alignment() with the bytes up to the next
    // multiple of it readable, so a device may import them once and copy straight from them
    // (VK_EXT_external_memory_host) instead of through staging.
    virtual bool stable_host_memory() const { return false; }
    virtual uint64 page_alignment() const { return 0; }
    virtual ProviderStats stats() const { return {}; }

protected:
    // The router's choice, for a provider under a budget: it reads the chosen experts now and
    // learns which experts are popular.
    virtual void on_experts_routed(uint32 /*layer*/, const std::vector<uint32>& /*tokens_per_expert*/, uint32 /*n_tokens*/) {}

private:
    std::atomic<uint64> routed_expert_bytes_{0};
};

// Bytes of expert `expert` of `layer` (its ExpGate, ExpUp and ExpDown tensors); 0 if none.
uint64 expert_bytes(const TensorRegistry& reg, uint32 layer, uint32 expert);

}  // namespace vk_symbiote
