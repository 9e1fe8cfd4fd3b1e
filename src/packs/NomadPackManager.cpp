#include "packs/NomadPackManager.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/Units.h"
#include "packs/PackCache.h"
#include "gguf/ModelSource.h"
#include "oracle/PackScheduler.h"

namespace vk_symbiote {

// Holds one pin; the aliasing shared_ptr handed to users owns it.
struct NomadPackManager::PinGuard {
    std::shared_ptr<NomadPackManager> mgr;
    std::shared_ptr<NomadPack> pack;
    ~PinGuard() { mgr->unpin(pack->id()); }
};

NomadPackManager::NomadPackManager(std::shared_ptr<const ModelSource> file, PackPlan plan, PackManagerOptions opts)
    : file_(std::move(file)),
      plan_(std::move(plan)),
      opts_(std::move(opts)),
      oracle_(plan_.packs, opts_.oracle),
      prefetched_(plan_.packs.size(), 0),
      loads_(plan_.packs.size(), 0),
      from_cache_(plan_.packs.size(), 0) {}

namespace {

// The cache must describe exactly the packs of `plan` (same count, same raw sizes).
ExpectedVoid check_cache_matches_plan(const PackCacheReader& c, const PackPlan& plan) {
    bool ok = c.pack_count() == plan.packs.size();
    for (uint64 i = 0; ok && i < plan.packs.size(); ++i) ok = c.raw_bytes(i) == plan.packs[i].byte_size;
    if (!ok) return make_error(ErrorCode::InvalidArgument, c.path().string() + ": the pack cache was not made for this pack plan (" + std::to_string(c.pack_count()) +
                                                               " packs in the cache, " + std::to_string(plan.packs.size()) + " planned)");
    return {};
}

}  // namespace

uint64 NomadPackManager::minimum_budget_bytes(const PackPlan& plan, uint64 reserved_bytes, uint64 staging_bytes) {
    return plan.working_set_bytes + reserved_bytes + staging_bytes;
}

ExpectedVoid NomadPackManager::check_budget(const Path& model, const PackPlan& plan, const PackManagerOptions& opts, uint64 staging) {
    const uint64 min = minimum_budget_bytes(plan, opts.reserved_bytes, staging);
    if (opts.ram_budget_bytes >= min) return {};
    return make_error(ErrorCode::BudgetTooSmall,
                      model.string() + ": RAM budget " + format_gib(opts.ram_budget_bytes) + " is too small: the minimum is " + format_gib_up(min) + " (" +
                          std::to_string(min) + " bytes) = largest set of packs pinned together " + format_gib(plan.working_set_bytes) + " (" +
                          plan.working_set_what + ") + " + opts.reserved_what + " " + format_gib(opts.reserved_bytes) + " + I/O buffers " + format_gib(staging) +
                          " (raise ram_budget_gb / --ram-gb)");
}

Expected<std::shared_ptr<NomadPackManager>> NomadPackManager::create(std::shared_ptr<const ModelSource> file, PackPlan plan, PackManagerOptions opts) {
    if (!file) return make_error(ErrorCode::InvalidArgument, "NomadPackManager: no model file");
    if (plan.packs.empty()) return make_error(ErrorCode::InvalidArgument, file->path().string() + ": pack plan is empty");
    if (const PackCacheReader* c = opts.io.pack_cache.get()) VKS_TRY(check_cache_matches_plan(*c, plan));
    const uint64 staging = AsyncPrefetcher::staging_bytes_for(opts.io);
    VKS_TRY(check_budget(file->path(), plan, opts, staging));
    std::shared_ptr<NomadPackManager> m(new NomadPackManager(file, std::move(plan), std::move(opts)));
    m->pack_budget_ = m->opts_.ram_budget_bytes - m->opts_.reserved_bytes - staging;
    m->entries_.resize(m->plan_.packs.size());
    for (size_t i = 0; i < m->entries_.size(); ++i) m->entries_[i].pack = std::make_shared<NomadPack>(&m->plan_.packs[i]);
    m->ram_.budget_bytes = m->pack_budget_;
    uint64 largest = 0;
    for (const auto& p : m->plan_.packs) largest = std::max(largest, pack_buffer_bytes(p.byte_size));
    // Every I/O thread reading, every decode thread decoding (with a pack cache), one more queued.
    const uint64 in_flight = uint64(std::max(1u, m->opts_.io.threads)) + (m->opts_.io.pack_cache ? m->opts_.io.decode_threads : 0) + 1;
    m->read_ahead_ = m->opts_.read_ahead_bytes ? m->opts_.read_ahead_bytes : in_flight * largest;
    m->read_raw_ = m->opts_.io.pack_cache && m->opts_.compressed_reads == CompressedReads::Never;
    auto io = AsyncPrefetcher::create(m->file_, m->opts_.io);
    if (!io) return io.error();
    m->io_ = std::move(*io);
    return m;
}

NomadPackManager::~NomadPackManager() {
    // Finish / cancel reads first: their completions touch entries_.
    if (io_) io_->shutdown();
}

void NomadPackManager::evict_locked(uint64 id, bool for_prefetch) {
    NomadPack& p = *entries_[id].pack;
    ram_.resident_bytes -= p.buffer_.size();
    ram_.resident_packs--;
    ram_.evictions++;
    if (for_prefetch) ram_.prefetch_evictions++;
    p.buffer_.reset();
    p.state_.store(PackState::OnDisk, std::memory_order_release);
    if (prefetched_[id]) {  // read ahead, never used: a wasted prediction
        prefetched_[id] = 0;
        oracle_.record_access(id, /*was_used=*/false, 0.0f);
    }
}

bool NomadPackManager::evict_one_locked(uint64 incoming) {
    std::vector<uint64> candidates;
    for (uint64 i = 0; i < entries_.size(); ++i) {
        const NomadPack& p = *entries_[i].pack;
        if (i != incoming && p.state() == PackState::InRam && p.pin_count() == 0) candidates.push_back(i);
    }
    const uint64 pos = position_locked();
    const uint64 v = oracle_.choose_victim(candidates, pos);
    if (v == VitalityOracle::kNoPack) return false;
    const bool prefetch = incoming != VitalityOracle::kNoPack;
    if (prefetch && !oracle_.should_evict_for_prefetch(v, incoming, pos)) return false;
    evict_locked(v, prefetch);
    return true;
}

std::string NomadPackManager::pressure_locked() const {
    uint64 pinned = 0, pinned_bytes = 0, loading = 0;
    for (const auto& e : entries_) {
        if (e.pack->pin_count() > 0 && e.pack->state() != PackState::OnDisk) pinned++, pinned_bytes += e.pack->buffer_bytes();
        if (e.pack->state() == PackState::Loading) loading++;
    }
    return "pack budget " + std::to_string(pack_budget_) + " bytes, resident " + std::to_string(ram_.resident_bytes) + " bytes, " + std::to_string(pinned) +
           " pinned packs (" + std::to_string(pinned_bytes) + " bytes), " + std::to_string(loading) + " loads in flight";
}

Expected<bool> NomadPackManager::make_room_locked(std::unique_lock<std::mutex>& lk, uint64 bytes, uint64 incoming) {
    const bool urgent = incoming == VitalityOracle::kNoPack;
    if (bytes > pack_budget_)
        return make_error(ErrorCode::OutOfMemory, file_->path().string() + ": a pack of " + std::to_string(bytes) + " bytes does not fit the pack budget of " +
                                                      std::to_string(pack_budget_) + " bytes");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.pin_wait_ms);
    while (ram_.resident_bytes + bytes > pack_budget_) {
        if (evict_one_locked(incoming)) continue;
        if (!urgent) return false;
        if (cv_.wait_until(lk, deadline) == std::cv_status::timeout && ram_.resident_bytes + bytes > pack_budget_ && !evict_one_locked(VitalityOracle::kNoPack))
            return make_error(ErrorCode::OutOfMemory, file_->path().string() + ": no room for a " + std::to_string(bytes) + "-byte pack after waiting " +
                                                          std::to_string(opts_.pin_wait_ms) + " ms for pinned packs to be released (" + pressure_locked() + ")");
    }
    return true;
}

Expected<ReadJob> NomadPackManager::start_load_locked(uint64 id, bool urgent) {
    Entry& e = entries_[id];
    NomadPack& p = *e.pack;
    auto buf = AlignedBuffer::allocate(p.byte_size());
    if (!buf) return buf.error();
    p.buffer_ = std::move(*buf);
    p.state_.store(PackState::Loading, std::memory_order_release);
    ram_.resident_bytes += p.buffer_.size();
    ram_.resident_packs++;
    ram_.peak_bytes = std::max(ram_.peak_bytes, ram_.resident_bytes);
    loads_[id]++;
    prefetched_[id] = urgent ? 0 : 1;
    e.promise = std::make_shared<std::promise<ExpectedVoid>>();
    e.done = e.promise->get_future().share();

    const PackMetadata& m = p.metadata();
    ReadJob job;
    job.urgent = urgent;
    job.what = "pack " + std::to_string(id) + " (" + pack_type_name(m.type) + (m.layer >= 0 ? ", layer " + std::to_string(m.layer) : std::string()) + ")";
    from_cache_[id] = opts_.io.pack_cache && !read_raw_.load();
    if (from_cache_[id]) {
        job.cached = CachedPackRead{id, p.buffer_.data(), p.byte_size()};  // decompressed on a decode thread
    } else {
        for (const auto& x : PackPlan::extents(m)) job.extents.push_back({x.file_offset, x.size, p.buffer_.data() + x.pack_offset});
    }
    job.on_done = [this, id](const ExpectedVoid& r) { on_load_done(id, r); };
    return job;
}

void NomadPackManager::on_load_done(uint64 id, const ExpectedVoid& r) {
    std::shared_ptr<std::promise<ExpectedVoid>> promise;
    {
        std::lock_guard<std::mutex> lk(mu_);
        Entry& e = entries_[id];
        NomadPack& p = *e.pack;
        if (r) {
            p.state_.store(PackState::InRam, std::memory_order_release);
            ram_.loads++;
            if (const PackCacheReader* c = opts_.io.pack_cache.get(); c && from_cache_[id]) {
                ram_.bytes_loaded += c->stored_bytes(id);
                ram_.cache_bytes_loaded += c->stored_bytes(id);
                ram_.bytes_decompressed += p.byte_size();
            } else {
                ram_.bytes_loaded += p.byte_size();
            }
        } else {
            ram_.resident_bytes -= p.buffer_.size();
            ram_.resident_packs--;
            ram_.load_failures++;
            p.buffer_.reset();
            p.state_.store(PackState::OnDisk, std::memory_order_release);
        }
        promise = std::move(e.promise);
        e.promise.reset();
    }
    if (promise) promise->set_value(r);
    cv_.notify_all();
    if (r && opts_.io.pack_cache && opts_.compressed_reads == CompressedReads::Auto && !read_raw_.load()) judge_read_mode();
}

void NomadPackManager::judge_read_mode() {
    const IoStats io = io_->stats();
    PackReadTelemetry t;
    t.stored_bytes_read = io.cache_bytes_read;
    t.io_active_seconds = io.active_seconds;
    t.raw_bytes_decoded = io.bytes_decoded;
    t.decode_busy_seconds = io.decode_seconds;
    t.decode_threads = io.decode_threads;
    t.packs_decoded = io.packs_decoded;
    if (opts_.telemetry_override) t = opts_.telemetry_override(t);
    const ReadModeVerdict v = ReadModePolicy::judge(t, opts_.io.pack_cache->ratio(), opts_.compressed_reads);
    if (!v.read_raw || read_raw_.exchange(true)) return;  // the first thread to switch reports it
    if (opts_.on_read_mode_switch)
        opts_.on_read_mode_switch(opts_.io.pack_cache->path().string() + ": packs are read raw from the model file from now on: " + v.reason);
}

std::shared_ptr<NomadPack> NomadPackManager::make_pin_locked(uint64 id) {
    auto g = std::make_shared<PinGuard>();
    g->mgr = shared_from_this();
    g->pack = entries_[id].pack;
    return std::shared_ptr<NomadPack>(g, g->pack.get());
}

void NomadPackManager::unpin(uint64 id) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        entries_[id].pack->pins_.fetch_sub(1, std::memory_order_acq_rel);
    }
    cv_.notify_all();
}

Expected<std::shared_ptr<NomadPack>> NomadPackManager::get_or_load_pack(uint64 id) {
    if (id >= entries_.size())
        return make_error(ErrorCode::NotFound, file_->path().string() + ": pack id " + std::to_string(id) + " does not exist (" + std::to_string(entries_.size()) + " packs)");
    std::unique_lock<std::mutex> lk(mu_);
    pos_ = oracle_.use_position(id, pos_);
    prefetched_[id] = 0;  // demanded: the read ahead (if any) was used
    Entry& e = entries_[id];
    bool counted = false;
    for (;;) {
        const PackState st = e.pack->state();
        if (st == PackState::InRam) {
            if (!counted) ram_.hits++;
            e.pack->pins_.fetch_add(1, std::memory_order_acq_rel);
            return make_pin_locked(id);
        }
        if (st == PackState::OnDisk) {
            if (!counted) ram_.misses++;
            counted = true;
            auto room = make_room_locked(lk, e.pack->buffer_bytes(), VitalityOracle::kNoPack);
            if (!room) return room.error();
            if (e.pack->state() != PackState::OnDisk) continue;  // someone else started it while we waited
            auto job = start_load_locked(id, /*urgent=*/true);
            if (!job) return job.error();
            e.pack->pins_.fetch_add(1, std::memory_order_acq_rel);
            lk.unlock();
            // Demand read on this thread: we would only wait for an I/O thread. Other
            // requesters wait on `done` like for any in-flight load.
            ExpectedVoid r = io_->run_now(std::move(*job));
            lk.lock();
            if (!r) {
                e.pack->pins_.fetch_sub(1, std::memory_order_acq_rel);
                return r.error();
            }
            return make_pin_locked(id);
        }
        // Loading (demand or prefetch): wait for that same load, pinned meanwhile.
        if (!counted) ram_.hits++;  // no second read: counted as a hit on the in-flight load
        counted = true;
        e.pack->pins_.fetch_add(1, std::memory_order_acq_rel);
        auto done = e.done;
        lk.unlock();
        ExpectedVoid r = done.get();
        lk.lock();
        if (!r) {
            e.pack->pins_.fetch_sub(1, std::memory_order_acq_rel);
            lk.unlock();
            cv_.notify_all();
            return r.error();
        }
        return make_pin_locked(id);
    }
}

void NomadPackManager::start_prefetch_locked(uint64 id, std::vector<ReadJob>& jobs) {
    auto job = start_load_locked(id, /*urgent=*/false);
    if (!job) {
        ram_.prefetch_skipped++;
        return;
    }
    ram_.prefetch_issued++;
    jobs.push_back(std::move(*job));
}

ExpectedVoid NomadPackManager::prefetch_packs(const std::vector<uint64>& ids) {
    std::vector<ReadJob> jobs;
    {
        std::unique_lock<std::mutex> lk(mu_);
        for (uint64 id : ids) {
            if (id >= entries_.size())
                return make_error(ErrorCode::NotFound, file_->path().string() + ": prefetch of pack id " + std::to_string(id) + ": no such pack");
            if (entries_[id].pack->state() != PackState::OnDisk) continue;
            auto room = make_room_locked(lk, entries_[id].pack->buffer_bytes(), id);
            if (!room || !*room) {
                ram_.prefetch_skipped++;
                continue;
            }
            start_prefetch_locked(id, jobs);
        }
    }
    for (auto& j : jobs) io_->submit(std::move(j));
    return {};
}

ExpectedVoid NomadPackManager::evict_until(uint64 bytes_needed) {
    std::unique_lock<std::mutex> lk(mu_);
    if (bytes_needed > pack_budget_)
        return make_error(ErrorCode::OutOfMemory, file_->path().string() + ": evict_until(" + std::to_string(bytes_needed) + "): more than the whole pack budget of " +
                                                      std::to_string(pack_budget_) + " bytes");
    while (pack_budget_ - ram_.resident_bytes < bytes_needed)
        if (!evict_one_locked(VitalityOracle::kNoPack))
            return make_error(ErrorCode::OutOfMemory, file_->path().string() + ": evict_until(" + std::to_string(bytes_needed) +
                                                          "): the rest is pinned or loading (" + pressure_locked() + ")");
    return {};
}

void NomadPackManager::prefetch_ahead() { prefetch_ahead(std::vector<uint64>{}); }

void NomadPackManager::prefetch_ahead(const std::vector<uint64>& demanded) {
    std::vector<ReadJob> jobs;
    {
        std::lock_guard<std::mutex> lk(mu_);
        const uint64 n = entries_.size();
        ResidencyView view;
        view.residency.resize(n);
        view.pinned.resize(n);
        view.bytes.resize(n);
        for (uint64 i = 0; i < n; ++i) {
            const NomadPack& p = *entries_[i].pack;
            const PackState st = p.state();
            view.residency[i] = st == PackState::InRam ? Residency::InRam : st == PackState::Loading ? Residency::Loading : Residency::OnDisk;
            view.pinned[i] = p.pin_count() > 0;
            view.bytes[i] = p.buffer_bytes();
        }
        view.free_bytes = pack_budget_ - std::min(pack_budget_, ram_.resident_bytes);
        ScheduleRequest req;
        req.cursor = pos_;
        for (uint64 id : demanded)
            if (id >= n) return;
        if (!demanded.empty()) {
            // A primary use: the window starts after the demanded packs; a later use point
            // (a norm pack's second use) sits before the pack at its position.
            req.cursor = oracle_.use_position(demanded.front(), pos_);
            req.skip = oracle_.primary_use(demanded.front(), pos_) ? demanded.size() : 0;
        }
        req.lookahead = oracle_.effective_lookahead();
        req.max_bytes = read_ahead_ == PackManagerOptions::kNoReadAheadCap ? 0 : read_ahead_;
        const ScheduleOrders orders = PackScheduler::schedule(oracle_, req, view);
        for (uint64 v : orders.unload)
            if (entries_[v].pack->state() == PackState::InRam && entries_[v].pack->pin_count() == 0) evict_locked(v, /*for_prefetch=*/true);
        ram_.prefetch_skipped += orders.skipped;
        ram_.prefetch_capped += orders.capped;
        for (uint64 id : orders.prefetch) {
            const NomadPack& p = *entries_[id].pack;
            if (p.state() != PackState::OnDisk || ram_.resident_bytes + p.buffer_bytes() > pack_budget_) {
                ram_.prefetch_skipped++;
                continue;
            }
            start_prefetch_locked(id, jobs);
        }
    }
    for (auto& j : jobs) io_->submit(std::move(j));
}

void NomadPackManager::record_access(uint64 pack_id, bool was_used) {
    if (pack_id >= entries_.size()) return;
    const IoStats io = io_->stats();  // before mu_: the I/O threads take mu_ under their own lock
    std::lock_guard<std::mutex> lk(mu_);
    // What a prediction of the pack was worth: its score from the layer in use now, with
    // the disk rate measured so far.
    HardwareTelemetry t;
    if (io.busy_seconds > 0) t.disk_read_bps = double(ram_.bytes_loaded) / io.busy_seconds;
    const uint32 layer = oracle_.slot_of(oracle_.pack_at(position_locked()));
    const float score = oracle_.score_pack(plan_.packs[pack_id], {}, layer, t).score;
    const uint64 at = oracle_.use_position(pack_id, access_pos_);
    if (was_used && at < access_pos_) oracle_.update_model();  // a new pass began: judge the last one
    oracle_.record_access(pack_id, was_used, score);
    if (was_used) access_pos_ = at;
}

void NomadPackManager::record_routing(uint32 layer, const std::vector<uint32>& counts, uint32 n_tokens) {
    std::lock_guard<std::mutex> lk(mu_);
    oracle_.record_routing(layer, counts, n_tokens);
}

void NomadPackManager::retire_packs(const std::vector<uint64>& pack_ids) {
    std::lock_guard<std::mutex> lk(mu_);
    oracle_.set_retired(pack_ids);
}

OracleStats NomadPackManager::oracle_stats() const {
    std::lock_guard<std::mutex> lk(mu_);
    return oracle_.stats();
}

uint64 NomadPackManager::pack_loads(uint64 pack_id) const {
    std::lock_guard<std::mutex> lk(mu_);
    return pack_id < loads_.size() ? loads_[pack_id] : 0;
}

float NomadPackManager::ram_utilization() const {
    std::lock_guard<std::mutex> lk(mu_);
    return pack_budget_ ? float(double(ram_.resident_bytes) / double(pack_budget_)) : 0.0f;
}

std::vector<uint64> NomadPackManager::get_loaded_pack_ids() const {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<uint64> ids;
    for (uint64 i = 0; i < entries_.size(); ++i)
        if (entries_[i].pack->state() == PackState::InRam) ids.push_back(i);
    return ids;
}

PackTierStats NomadPackManager::get_ram_stats() const {
    IoStats io = io_->stats();
    std::lock_guard<std::mutex> lk(mu_);
    PackTierStats s = ram_;
    for (const auto& e : entries_)
        if (e.pack->pin_count() > 0 && e.pack->state() == PackState::InRam) s.pinned_packs++;
    s.io_seconds = io.busy_seconds;
    s.io_active_seconds = io.active_seconds;
    s.decode_seconds = io.decode_seconds;
    s.decode_threads = io.decode_threads;
    s.reads_raw = read_raw_.load() && opts_.io.pack_cache;
    return s;
}

}  // namespace vk_symbiote
