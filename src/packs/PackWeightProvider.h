// PackWeightProvider: a WeightProvider that never loads the whole model. Weights are
// served from packs (NomadPackManager) under a RAM budget; embedding rows come from a
// small row cache filled with ranged reads.
//
//  - acquire(id): every slice of the tensor, from its packs, pinned until the
//    WeightHandle dies. Starts the tensor's packs in parallel, and has the manager's
//    oracle / scheduler read the next prefetch_lookahead layers of packs in the
//    background, at most read_ahead_bytes of them on their way at once
//    (NomadPackManager::prefetch_ahead / read_ahead_bytes); reports each pack to the oracle
//    (record_access) so it can judge its predictions.
//  - embedding_row(token): f32 row from an LRU cache of embedding_cache_rows rows.
//  - hint_upcoming(ids): the same window from the manager's position (the hinted
//    tensors are the next ones in the use order, which the oracle knows).
//  - experts_routed(layer, counts): a mixture-of-experts router's choice, for the oracle; only
//    the chosen experts of the layer are read (VitalityOracle: experts).
//
// RAM budget accounting (ram_budget_bytes is a promise): pack buffers + embedding row
// cache + I/O staging + activation_kv_bytes (what the backend will hold) all count.
// What the engine cannot control (code, libc / allocator arenas, thread stacks) is
// kFixedOverheadBytes on top: peak RSS growth <= ram_budget_bytes + kFixedOverheadBytes.
//
// Thread-safety: acquire / embedding_row / hint_upcoming may be called concurrently.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "packs/NomadPackManager.h"
#include "packs/PackPlanner.h"
#include "memory/WeightProvider.h"
#include "model/LoadedModel.h"

namespace vk_symbiote {

class ModelSource;

struct PackOptions {
    uint64 ram_budget_bytes = uint64(16) << 30;  // --ram-gb
    uint64 max_pack_bytes = uint64(32) << 20;    // max_pack_mb
    // Background I/O threads and the size of each O_DIRECT read (PrefetcherOptions): the
    // disk needs several large requests in flight ([tuning] io_threads / io_staging_mb,
    // docs/tuning.md). The staging counts in the RAM budget ((threads + 1) x staging).
    uint32 io_threads = 4;
    uint64 io_staging_bytes = uint64(16) << 20;
    // With a pack cache: threads decoding packs beside the I/O threads ([tuning]
    // decode_threads; DecodeStage.h), and when to read raw instead (ReadModePolicy.h; the
    // switch is reported once through on_read_mode_switch; the engine passes [memory]
    // compressed_reads, default auto).
    uint32 decode_threads = 1;
    CompressedReads compressed_reads = CompressedReads::Always;
    std::function<void(const std::string&)> on_read_mode_switch;
    OracleOptions oracle;                        // --prefetch-lookahead, --eviction-aggression
    uint64 read_ahead_bytes = 0;                 // NomadPackManager::read_ahead_bytes() (0: automatic)
    uint32 embedding_cache_rows = 256;
    // RAM the backend holds for activations + KV cache under the same budget (see
    // estimate_activation_kv_bytes); 0 when the caller accounts for it elsewhere.
    uint64 activation_kv_bytes = 0;
    bool direct_io = false;
    // A compressed pack cache of this model made for this max_pack_bytes
    // (packs/PackCache.h; the engine finds or builds it, PackCacheSetup.h). Set:
    // packs are read from it and decompressed on the I/O threads (checksum verified);
    // empty: packs are read from the model file. Embedding rows always come from the
    // model file. The decompression scratch buffers count against ram_budget_bytes.
    Path pack_cache;
    uint32 pin_wait_ms = 5000;
    ReadFaultHook fault_hook;              // tests: read error injection
};

// RAM a CPU forward pass needs besides weights, in bytes: the paged f32 KV cache of
// kv_tokens positions (0: n_ctx; whole blocks, KvLayout) and activations for n_batch tokens
// incl. one row of logits per token.
uint64 estimate_activation_kv_bytes(const ModelConfig& cfg, uint32 n_ctx, uint32 n_batch, uint64 kv_tokens = 0);

class PackWeightProvider final : public WeightProvider {
public:
    // Code, libc / allocator arenas and thread stacks the engine cannot budget: peak RSS
    // may exceed ram_budget_bytes by at most this much (measured in tests/packs).
    static constexpr uint64 kFixedOverheadBytes = uint64(24) << 20;

    // Errors: those of the GGUF parser / config / planner, Corrupt or NotFound when
    // opts.pack_cache does not open or does not match the model and plan (the message
    // names the cache file and what differs), BudgetTooSmall.
    static Expected<std::unique_ptr<PackWeightProvider>> open(std::shared_ptr<const LoadedModel> model, const PackOptions& opts);
    // Opens and parses the file first (LoadedModel::open without the tokenizer).
    static Expected<std::unique_ptr<PackWeightProvider>> open(const Path& model, const PackOptions& opts);
    // The smallest opts.ram_budget_bytes open() accepts for this model and these options
    // (largest pinned pack set + embedding row cache + activation_kv_bytes + I/O buffers:
    // O_DIRECT staging, decompression scratch with a pack cache).
    static Expected<uint64> minimum_ram_budget(const LoadedModel& model, const PackOptions& opts);
    static Expected<uint64> minimum_ram_budget(const Path& model, const PackOptions& opts);
    // The budget check open() makes, before anything is opened or built (BudgetTooSmall with
    // the minimum). With `cache_planned` (opts.pack_cache not built yet) the cache's
    // decompression scratch counts at its bound, the largest raw pack: a run that open()
    // would refuse once the cache exists is refused before the cache is built.
    static ExpectedVoid check_ram_budget(const LoadedModel& model, const PackOptions& opts, bool cache_planned);
    ~PackWeightProvider() override;

    const ModelConfig& config() const override { return model_->config(); }
    const TensorRegistry& registry() const override { return model_->registry(); }
    Expected<WeightHandle> acquire(TensorId id) override;
    ExpectedVoid embedding_row(uint32 token, float* out) override;
    void hint_upcoming(const std::vector<TensorId>& ids) override;
    // Tells the oracle the router's choice, then reads ahead from there: the chosen experts'
    // packs (the layer's other experts are left on disk), then the next layers' packs with
    // their likely experts.
    void on_experts_routed(uint32 layer, const std::vector<uint32>& tokens_per_expert, uint32 n_tokens) override;
    // Retires the packs every slice of which belongs to one of `ids` (a pack shared with a
    // tensor still in use stays in the scan).
    void retire(const std::vector<TensorId>& ids) override;
    // The RAM pack tier: bytes_read counts compressed bytes when packs come from the pack cache.
    ProviderStats stats() const override;

    NomadPackManager& manager() { return *mgr_; }
    const PackPlan& plan() const { return mgr_->plan(); }
    const ModelSource& file() const { return *file_; }
    // The pack cache packs come from (null: the model file).
    const PackCacheReader* pack_cache() const { return mgr_->pack_cache(); }
    uint64 embedding_cache_bytes() const { return uint64(opts_.embedding_cache_rows) * config().n_embd * sizeof(float); }
    uint64 embedding_cache_hits() const;
    uint64 embedding_cache_misses() const;

private:
    PackWeightProvider() = default;
    Expected<size_t> tensor_index(TensorId id) const;

    PackOptions opts_;
    std::shared_ptr<const LoadedModel> model_;
    std::shared_ptr<const ModelSource> file_;  // model_'s, shared with the pack manager
    std::shared_ptr<NomadPackManager> mgr_;
    const TensorDesc* embd_ = nullptr;

    // Embedding row cache: LRU of f32 rows, guarded by emb_mu_.
    mutable std::mutex emb_mu_;
    std::list<uint32> lru_;  // front = most recent
    struct Row {
        std::vector<float> values;  // [n_embd]
        std::list<uint32>::iterator pos;
    };
    std::unordered_map<uint32, Row> rows_;
    uint64 emb_hits_ = 0, emb_misses_ = 0;
};

}  // namespace vk_symbiote
