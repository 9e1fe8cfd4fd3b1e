#include "packs/PackWeightProvider.h"

#include "common/HalfFloat.h"
#include "common/Units.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "model/KvLayout.h"
#include "packs/PackCache.h"
#include "gguf/ModelSource.h"

namespace vk_symbiote {

uint64 estimate_activation_kv_bytes(const ModelConfig& c, uint32 n_ctx, uint32 n_batch, uint64 kv_tokens) {
    // The paged KV cache exactly as the CPU backend allocates it (whole blocks; every position of
    // every layer, sliding layers included).
    const uint64 kv = KvLayout::for_tokens(c, kv_tokens ? kv_tokens : n_ctx).bytes();
    // Per token: residual, normed input, projection out (n_embd each), q and attention out (q_dim
    // each: wider than n_embd when head_dim > n_embd / n_head), k, v, 2 x ffn hidden, logits;
    // plus one row of attention scores per head over the context.
    // With experts, instead of the FFN hidden the mixture's buffers (backend/cpu/MoeFfn): router
    // logits, the choices, gathered rows, gate, up and expert output.
    const uint64 ffn = c.is_moe() ? uint64(c.n_expert) + 2ull * c.n_expert_used + 2ull * c.n_embd + 2ull * c.n_ff_expert : 2ull * c.n_ff;
    const uint64 per_token = uint64(3) * c.n_embd + 2ull * c.q_dim() + 2ull * c.kv_dim() + ffn + c.n_vocab + uint64(c.n_head) * n_ctx;
    return kv + uint64(n_batch) * per_token * sizeof(float);
}

namespace {

// The I/O threads' options for `opts` (with the pack cache for `plan` opened, when set): one
// place, so that open() and minimum_ram_budget() count the same staging.
Expected<PrefetcherOptions> io_options(const PackOptions& opts, const ModelSource& file, const PackPlan& plan) {
    PrefetcherOptions io;
    io.threads = opts.io_threads;
    io.decode_threads = opts.decode_threads;
    io.staging_bytes = opts.io_staging_bytes;
    io.direct_io = opts.direct_io;
    io.fault_hook = opts.fault_hook;
    if (!opts.pack_cache.empty()) {
        auto cache = PackCacheReader::open(opts.pack_cache, file, plan);
        if (!cache) return cache.error();
        io.pack_cache = std::move(*cache);
    }
    return io;
}

// The manager's budget and what it reserves besides packs (embedding row cache, the
// backend's activations / KV cache).
PackManagerOptions budget_options(const LoadedModel& model, const PackOptions& opts) {
    PackManagerOptions mo;
    const uint64 embedding_cache = uint64(opts.embedding_cache_rows) * model.config().n_embd * sizeof(float);
    mo.ram_budget_bytes = opts.ram_budget_bytes;
    mo.reserved_bytes = embedding_cache + opts.activation_kv_bytes;
    mo.reserved_what = "embedding row cache " + format_gib(embedding_cache) + " + activations/KV";
    return mo;
}

}  // namespace

PackWeightProvider::~PackWeightProvider() = default;

Expected<std::unique_ptr<PackWeightProvider>> PackWeightProvider::open(std::shared_ptr<const LoadedModel> model, const PackOptions& opts) {
    std::unique_ptr<PackWeightProvider> p(new PackWeightProvider());
    p->opts_ = opts;
    p->model_ = std::move(model);
    p->file_ = p->model_->source_shared();
    const Path& path = p->model_->path();
    p->embd_ = p->registry().find({TensorRole::TokenEmbd, -1});
    if (!p->embd_) return make_error(ErrorCode::NotFound, path.string() + ": tensor 'token_embd.weight' missing");

    PackPlanOptions po;
    po.max_pack_bytes = opts.max_pack_bytes;
    auto plan = plan_packs(p->registry(), po);
    if (!plan) return make_error(plan.error().code, path.string() + ": max_pack_mb: " + plan.error().message);

    PackManagerOptions mo = budget_options(*p->model_, opts);
    auto io = io_options(opts, *p->file_, *plan);
    if (!io) return io.error();
    mo.io = std::move(*io);
    mo.pin_wait_ms = opts.pin_wait_ms;
    mo.oracle = opts.oracle;
    mo.oracle.experts_per_token = p->config().n_expert_used;
    mo.read_ahead_bytes = opts.read_ahead_bytes;
    mo.compressed_reads = opts.compressed_reads;
    mo.on_read_mode_switch = opts.on_read_mode_switch;
    auto mgr = NomadPackManager::create(p->file_, std::move(*plan), std::move(mo));
    if (!mgr) return mgr.error();
    p->mgr_ = std::move(*mgr);
    return p;
}

Expected<std::unique_ptr<PackWeightProvider>> PackWeightProvider::open(const Path& model, const PackOptions& opts) {
    auto m = LoadedModel::open(model, false);
    if (!m) return m.error();
    return open(std::move(*m), opts);
}

Expected<uint64> PackWeightProvider::minimum_ram_budget(const LoadedModel& model, const PackOptions& opts) {
    auto plan = plan_packs(model.registry(), {opts.max_pack_bytes});
    if (!plan) return make_error(plan.error().code, model.path().string() + ": max_pack_mb: " + plan.error().message);
    const uint64 reserved = uint64(opts.embedding_cache_rows) * model.config().n_embd * sizeof(float) + opts.activation_kv_bytes;
    auto io = io_options(opts, model.source(), *plan);
    if (!io) return io.error();
    const uint64 staging = AsyncPrefetcher::staging_bytes_for(*io);
    return NomadPackManager::minimum_budget_bytes(*plan, reserved, staging);
}

ExpectedVoid PackWeightProvider::check_ram_budget(const LoadedModel& model, const PackOptions& opts, bool cache_planned) {
    auto plan = plan_packs(model.registry(), {opts.max_pack_bytes});
    if (!plan) return make_error(plan.error().code, model.path().string() + ": max_pack_mb: " + plan.error().message);
    PackOptions without_cache = opts;
    without_cache.pack_cache.clear();
    auto io = io_options(without_cache, model.source(), *plan);
    if (!io) return io.error();
    const uint64 staging = AsyncPrefetcher::staging_bytes_for(*io, cache_planned ? plan->largest_pack_bytes : 0);
    return NomadPackManager::check_budget(model.path(), *plan, budget_options(model, opts), staging);
}

Expected<uint64> PackWeightProvider::minimum_ram_budget(const Path& model, const PackOptions& opts) {
    auto m = LoadedModel::open(model, false);
    if (!m) return m.error();
    return minimum_ram_budget(**m, opts);
}

Expected<size_t> PackWeightProvider::tensor_index(TensorId id) const {
    const auto& ts = registry().tensors();
    for (size_t i = 0; i < ts.size(); ++i)
        if (ts[i].id == id) return i;
    return make_error(ErrorCode::NotFound, file_->path().string() + ": no tensor " + tensor_name(id) + " in this model");
}

Expected<WeightHandle> PackWeightProvider::acquire(TensorId id) {
    auto idx = tensor_index(id);
    if (!idx) return idx.error();
    const auto& refs = plan().tensor_packs[*idx];
    if (refs.empty())
        return make_error(ErrorCode::InvalidArgument, file_->path().string() + ": tensor '" + tensor_name(id) +
                                                          "' is not served as packs (the embedding table is read by rows: use embedding_row)");
    const TensorDesc& d = registry().tensors()[*idx];

    // The tensor's packs (consecutive in the use order) are used now: tell the oracle
    // first, so "predicted" means predicted before this demand. Then the rest of the
    // tensor's packs in parallel with its first, then the oracle's window after them.
    std::vector<uint64> ids;
    for (const auto& r : refs)
        if (ids.empty() || ids.back() != r.pack_id) ids.push_back(r.pack_id);
    for (uint64 pid : ids) mgr_->record_access(pid, /*was_used=*/true);
    VKS_TRY(mgr_->prefetch_packs(std::vector<uint64>(ids.begin() + 1, ids.end())));
    mgr_->prefetch_ahead(ids);

    auto pins = std::make_shared<std::vector<std::shared_ptr<NomadPack>>>();
    pins->reserve(ids.size());
    for (uint64 pid : ids) {
        auto p = mgr_->get_or_load_pack(pid);
        if (!p) return make_error(p.error().code, p.error().message + " (while loading tensor '" + d.name + "')");
        pins->push_back(std::move(*p));
    }
    WeightView v;
    v.id = id;
    v.dtype = d.dtype;
    v.rows = d.rows;
    v.cols = d.cols;
    size_t k = 0;
    for (const auto& r : refs) {
        while ((*pins)[k]->id() != r.pack_id) ++k;
        const NomadPack& p = *(*pins)[k];
        const PackSlice& s = p.metadata().slices[r.slice];
        v.slices.push_back({p.slice_data(r.slice), s.row_begin, s.row_end, r.pack_id});
    }
    return WeightHandle(std::move(v), [pins]() mutable { pins->clear(); });
}

ExpectedVoid PackWeightProvider::embedding_row(uint32 token, float* out) {
    if (token >= config().n_vocab)
        return make_error(ErrorCode::InvalidArgument, file_->path().string() + ": token id " + std::to_string(token) + " out of range (n_vocab " + std::to_string(config().n_vocab) + ")");
    const uint64 n = config().n_embd;
    {
        std::lock_guard<std::mutex> lk(emb_mu_);
        auto it = rows_.find(token);
        if (it != rows_.end()) {
            lru_.splice(lru_.begin(), lru_, it->second.pos);
            std::memcpy(out, it->second.values.data(), n * sizeof(float));
            emb_hits_++;
            return {};
        }
        emb_misses_++;
    }
    // Ranged read of one row, outside the lock (pread is thread-safe).
    VKS_TRY(file_->check_unchanged());
    std::vector<float> row(n);
    const uint64 rb = embd_->row_bytes();
    if (embd_->dtype == DType::F32) {
        VKS_TRY(file_->read_range(embd_->file_offset + uint64(token) * rb, rb, row.data()));
    } else {
        std::vector<uint16> raw(n);
        VKS_TRY(file_->read_range(embd_->file_offset + uint64(token) * rb, rb, raw.data()));
        for (uint64 i = 0; i < n; ++i) row[i] = embd_->dtype == DType::F16 ? f16_to_f32(raw[i]) : bf16_to_f32(raw[i]);
    }
    std::memcpy(out, row.data(), n * sizeof(float));
    if (opts_.embedding_cache_rows == 0) return {};
    std::lock_guard<std::mutex> lk(emb_mu_);
    if (rows_.count(token)) return {};  // another thread cached it meanwhile
    if (rows_.size() >= opts_.embedding_cache_rows) {
        rows_.erase(lru_.back());
        lru_.pop_back();
    }
    lru_.push_front(token);
    rows_.emplace(token, Row{std::move(row), lru_.begin()});
    return {};
}

void PackWeightProvider::hint_upcoming(const std::vector<TensorId>&) {
    // The oracle knows the use order: the hinted tensors are the next ones of the scan, so
    // the window from the manager's position covers them (best effort: a failed read
    // resurfaces at acquire()).
    mgr_->prefetch_ahead();
}

void PackWeightProvider::on_experts_routed(uint32 layer, const std::vector<uint32>& tokens_per_expert, uint32 n_tokens) {
    mgr_->record_routing(layer, tokens_per_expert, n_tokens);
    mgr_->prefetch_ahead();
}

void PackWeightProvider::retire(const std::vector<TensorId>& ids) {
    // A pack retires when every slice it holds belongs to a retired tensor (a fused tensor's
    // row ranges are separate tensors: counted by registry index, not by GGUF name).
    std::map<uint64, std::set<uint32>> covered;  // pack id -> its retired slices
    for (TensorId id : ids) {
        auto idx = tensor_index(id);
        if (!idx) continue;
        for (const TensorPackRef& r : plan().tensor_packs[*idx]) covered[r.pack_id].insert(r.slice);
    }
    std::vector<uint64> packs;
    for (const auto& [pid, slices] : covered)
        if (slices.size() == mgr_->plan().packs[pid].slices.size()) packs.push_back(pid);
    mgr_->retire_packs(packs);
}

uint64 PackWeightProvider::embedding_cache_hits() const {
    std::lock_guard<std::mutex> lk(emb_mu_);
    return emb_hits_;
}

uint64 PackWeightProvider::embedding_cache_misses() const {
    std::lock_guard<std::mutex> lk(emb_mu_);
    return emb_misses_;
}

ProviderStats PackWeightProvider::stats() const {
    const PackTierStats s = mgr_->get_ram_stats();
    const OracleStats o = mgr_->oracle_stats();
    const uint64 cap = mgr_->read_ahead_bytes();
    return {.bytes_read = s.bytes_loaded,
            .pack_hits = s.hits,
            .pack_misses = s.misses,
            .pack_budget_bytes = mgr_->pack_budget_bytes(),
            .pack_resident_bytes = s.resident_bytes,
            .lookahead_layers = o.effective_lookahead,
            .read_ahead_bytes = cap == PackManagerOptions::kNoReadAheadCap ? 0 : cap,
            .prediction_hit_rate = o.hit_rate,
            .expert_hits = o.expert_hits,
            .expert_misses = o.expert_misses,
            .routed_expert_bytes = 0,
            .io_busy_seconds = s.io_seconds,
            .io_active_seconds = s.io_active_seconds,
            .decode_busy_seconds = s.decode_seconds,
            .decode_threads = s.decode_threads,
            .cache_bytes_read = s.cache_bytes_loaded,
            .cache_bytes_delivered = s.bytes_decompressed,
            .reads_raw = s.reads_raw};
}

}  // namespace vk_symbiote
