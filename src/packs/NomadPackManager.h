// NomadPackManager: pack residency in RAM (disk -> RAM), pinning while in use, eviction
// under the RAM budget, and statistics. (The Vulkan backend keeps its own VRAM residency.)
//
// RAM tier: a pack is read from the model file by the AsyncPrefetcher into an aligned
// buffer (NomadPack), or, when opts.io.pack_cache is set, read from the compressed pack
// cache on an I/O thread and decompressed (checksum verified) into that buffer on a decode
// thread. Read mode (ReadModePolicy.h, opts.compressed_reads): after each pack decoded the
// manager judges the I/O and decode telemetry; once compressed reads deliver fewer bytes per
// second than raw reads would, every later load reads the pack's extents from the model file
// (the cache holds the same bytes), for the rest of the run, and opts.on_read_mode_switch is
// called once with the reason.
// Budget: the sum of resident pack buffers (PackState::Loading and InRam,
// pack_buffer_bytes each) never exceeds pack_budget_bytes() = ram_budget_bytes -
// reserved_bytes - I/O buffers (AsyncPrefetcher::staging_bytes_for: O_DIRECT staging
// and decompression scratch).
//
// Pinning: every std::shared_ptr<NomadPack> returned by get_or_load_pack() is a pin;
// a pinned pack is never evicted and its buffer never freed until the last copy of
// that pointer dies. A pin keeps the manager alive (it may outlive its owner).
// A pack is never loaded twice at once: concurrent requests wait for the same load.
//
// Decisions come from a VitalityOracle (src/oracle) the manager owns, built from its
// plan and opts.oracle (lookahead, eviction aggression), and consulted under the
// manager's lock (the oracle needs the manager's cursor and residency, which that lock
// guards; one oracle per plan, so no sharing is needed). The manager keeps the mechanism:
// reads, buffers, pins, counters.
// Eviction (suited to the cyclic per-token scan, NOT least-recently-used): the manager
// knows the use order (PackMetadata::order) and the current position (the order of
// the last demanded pack); a demand load evicts the oracle's choose_victim(), the
// unpinned pack whose next use is furthest away (Belady). On a cyclic scan this keeps a
// fixed resident set and streams the rest through the remaining space. A prefetch
// evicts only what should_evict_for_prefetch() allows (eviction_aggression: 1 = any
// pack needed later than the one it brings in, 0 = none), and is skipped (counted)
// otherwise. prefetch_ahead() runs the PackScheduler over the lookahead window, with at
// most read_ahead_bytes() of it on its way at once.
//
// Running out of budget is a value: a demand load evicts, then waits up to
// pin_wait_ms for a pin to be released or a load to finish, then returns
// ErrorCode::OutOfMemory. A budget below the minimum working set (largest set of packs
// pinned together + reserved bytes + staging) is refused by create() with
// ErrorCode::BudgetTooSmall and the minimum in GB.
//
// Thread-safety: every public member may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "packs/AsyncPrefetcher.h"
#include "packs/PackPlanner.h"
#include "packs/ReadModePolicy.h"
#include "packs/WeightPack.h"
#include "oracle/VitalityOracle.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ModelSource;

// Counters of the RAM tier. Snapshot by value.
struct PackTierStats {
    uint64 budget_bytes = 0;
    uint64 resident_bytes = 0;  // now
    uint64 peak_bytes = 0;      // high-water mark of resident_bytes
    uint64 resident_packs = 0;
    uint64 pinned_packs = 0;
    uint64 loads = 0;           // completed disk reads
    uint64 load_failures = 0;
    uint64 evictions = 0;
    uint64 bytes_loaded = 0;    // bytes read from disk (pack cache: compressed bytes)
    uint64 bytes_decompressed = 0;  // with a pack cache: raw pack bytes produced from bytes_loaded
    uint64 hits = 0;            // requests served from this tier
    uint64 misses = 0;          // requests that had to load
    uint64 prefetch_issued = 0;
    uint64 prefetch_skipped = 0;  // no room without evicting a pack needed sooner
    uint64 prefetch_capped = 0;   // window packs left for later: past read_ahead_bytes()
    uint64 prefetch_evictions = 0;  // evictions made to give room to a prefetch (part of `evictions`)
    double io_seconds = 0;      // busy time of the I/O threads
    // Pack cache reads (0 without a pack cache): wall time with a read in flight, the decode
    // threads' summed busy time and their count, the stored bytes read from the cache (part of
    // bytes_loaded); reads_raw: loads read raw from the model file (compressed_reads never,
    // or the switch of ReadModePolicy happened).
    double io_active_seconds = 0;
    double decode_seconds = 0;
    uint32 decode_threads = 0;
    uint64 cache_bytes_loaded = 0;
    bool reads_raw = false;
    double gbps() const { return io_seconds > 0 ? double(bytes_loaded) / io_seconds / 1e9 : 0.0; }
};

struct PackManagerOptions {
    uint64 ram_budget_bytes = uint64(16) << 30;
    // RAM the caller holds under the same budget besides pack buffers (embedding row
    // cache, activations, KV cache); subtracted from the pack budget.
    uint64 reserved_bytes = 0;
    std::string reserved_what = "other engine buffers";
    PrefetcherOptions io;
    uint32 pin_wait_ms = 5000;  // how long a demand load waits for space before OutOfMemory
    OracleOptions oracle;                // lookahead window and eviction aggression
    // Bytes of the window that may be on their way at once (see read_ahead_bytes());
    // 0: automatic, kNoReadAheadCap: the whole lookahead window.
    uint64 read_ahead_bytes = 0;
    static constexpr uint64 kNoReadAheadCap = ~uint64(0);
    // With a pack cache: when to read raw instead (ReadModePolicy.h; the engine's option
    // defaults to auto, the library to always); on_read_mode_switch is called once (on a decode
    // thread) with the reason when the manager switches to raw reads, e.g. to log it.
    CompressedReads compressed_reads = CompressedReads::Always;
    std::function<void(const std::string&)> on_read_mode_switch;
    // Tests: replaces the measured telemetry the read mode is judged from (synthetic rates).
    std::function<PackReadTelemetry(const PackReadTelemetry& measured)> telemetry_override;
};

class NomadPackManager : public std::enable_shared_from_this<NomadPackManager> {
public:
    // Errors: InvalidArgument (no file, empty plan, opts.io.pack_cache made for another
    // plan), BudgetTooSmall (names the minimum).
    static Expected<std::shared_ptr<NomadPackManager>> create(std::shared_ptr<const ModelSource> file, PackPlan plan, PackManagerOptions opts);
    ~NomadPackManager();
    NomadPackManager(const NomadPackManager&) = delete;
    NomadPackManager& operator=(const NomadPackManager&) = delete;

    // Smallest ram_budget_bytes create() accepts.
    static uint64 minimum_budget_bytes(const PackPlan& plan, uint64 reserved_bytes, uint64 staging_bytes);
    // BudgetTooSmall naming `model` when opts.ram_budget_bytes is below that minimum (with
    // opts.reserved_bytes and `staging` bytes of I/O buffers): the message gives the minimum
    // in GiB rounded up (a value --ram-gb accepts) and in bytes, and what it is made of.
    static ExpectedVoid check_budget(const Path& model, const PackPlan& plan, const PackManagerOptions& opts, uint64 staging);

    // Returns the pack resident in RAM and pinned (pin = the returned pointer). Blocks
    // while it loads. Errors: NotFound (bad id), Io (read failed / file changed),
    // OutOfMemory (no space within pin_wait_ms).
    Expected<std::shared_ptr<NomadPack>> get_or_load_pack(uint64 pack_id);
    // Starts background loads of the given packs when there is room (best effort).
    // Errors only for unknown ids.
    ExpectedVoid prefetch_packs(const std::vector<uint64>& pack_ids);
    // Prefetches the oracle's lookahead window through the PackScheduler: the packs used
    // after `demanded` (consecutive packs the caller is about to demand, e.g. one tensor's;
    // the window starts at their next use from the manager's position), covering
    // effective_lookahead() layers; evicts what the scheduler orders, then queues the
    // reads earliest first. Best effort.
    void prefetch_ahead(const std::vector<uint64>& demanded);
    // The same from the manager's own position (the last demanded pack's).
    void prefetch_ahead();
    // Tells the oracle that `pack_id` is used now (was_used) or that a prediction was
    // dropped; the first use of a new pass (the order went back) runs update_model().
    void record_access(uint64 pack_id, bool was_used);
    OracleStats oracle_stats() const;
    // A mixture-of-experts layer's router chose (VitalityOracle::record_routing): from here
    // the window holds exactly the chosen experts of that layer.
    void record_routing(uint32 layer, const std::vector<uint32>& counts, uint32 n_tokens);
    // The oracle's retired set (VitalityOracle::set_retired): packs nobody will demand again;
    // they are evicted first. Replaces the previous set.
    void retire_packs(const std::vector<uint64>& pack_ids);
    // Times the pack was read into RAM (tests: no pack is read twice in one pass).
    uint64 pack_loads(uint64 pack_id) const;
    // Evicts unpinned packs (furthest next use first) until `bytes_needed` bytes of the
    // pack budget are free. OutOfMemory if pinned / in-flight packs make that impossible.
    ExpectedVoid evict_until(uint64 bytes_needed);
    float ram_utilization() const;
    std::vector<uint64> get_loaded_pack_ids() const;  // InRam, ascending
    PackTierStats get_ram_stats() const;
    IoStats io_stats() const { return io_->stats(); }
    bool direct_io_active() const { return io_->direct_io_active(); }
    // The compressed pack cache packs are read from (null: the model file).
    const PackCacheReader* pack_cache() const { return opts_.io.pack_cache.get(); }
    // True once loads read raw from the model file although a pack cache is open.
    bool reads_raw() const { return read_raw_.load(); }

    const PackPlan& plan() const { return plan_; }
    uint64 pack_budget_bytes() const { return pack_budget_; }
    // The read-ahead cap prefetch_ahead() gives the PackScheduler: by default (I/O
    // threads + 1) x the largest pack buffer - every I/O thread busy plus the next read
    // queued; with a pack cache also + decode threads (each decoding a pack). Not the whole lookahead window: a pack read ahead holds RAM the resident set
    // would keep, so on a model larger than RAM each window byte is read once more per pass;
    // and reading a pack takes far longer than computing it, so the disk only needs its
    // queue kept full (figures: docs/tuning.md).
    uint64 read_ahead_bytes() const { return read_ahead_; }
    size_t pack_count() const { return plan_.packs.size(); }

private:
    NomadPackManager(std::shared_ptr<const ModelSource> file, PackPlan plan, PackManagerOptions opts);
    struct Entry {
        std::shared_ptr<NomadPack> pack;
        std::shared_ptr<std::promise<ExpectedVoid>> promise;  // set while Loading
        std::shared_future<ExpectedVoid> done;                // valid while Loading
    };
    struct PinGuard;

    uint64 position_locked() const { return pos_; }
    // Makes room for `bytes` in the RAM budget. Demand (incoming == kNoPack): evicts
    // anything unpinned, waits for pins / loads, OutOfMemory on timeout. Prefetch of
    // `incoming`: evicts only what the oracle's aggression rule allows, never waits; false
    // when there is no room.
    Expected<bool> make_room_locked(std::unique_lock<std::mutex>& lk, uint64 bytes, uint64 incoming);
    bool evict_one_locked(uint64 incoming);
    void evict_locked(uint64 id, bool for_prefetch);
    Expected<ReadJob> start_load_locked(uint64 id, bool urgent);
    // A background load of `id` appended to `jobs` (submitted after the lock is released), counted
    // as issued, or as skipped when it cannot start.
    void start_prefetch_locked(uint64 id, std::vector<ReadJob>& jobs);
    void on_load_done(uint64 id, const ExpectedVoid& r);
    // After a pack decoded: ReadModePolicy on the I/O telemetry; switches to raw reads once.
    void judge_read_mode();
    std::shared_ptr<NomadPack> make_pin_locked(uint64 id);  // pin count already incremented
    void unpin(uint64 id);
    std::string pressure_locked() const;

    std::shared_ptr<const ModelSource> file_;
    PackPlan plan_;
    PackManagerOptions opts_;
    uint64 pack_budget_ = 0;
    uint64 read_ahead_ = 0;  // read_ahead_bytes()
    std::unique_ptr<AsyncPrefetcher> io_;

    mutable std::mutex mu_;
    std::condition_variable cv_;  // pin released, load finished, pack evicted
    std::vector<Entry> entries_;  // indexed by pack id
    uint64 pos_ = 0;              // scan position: the use position of the last demanded pack (distance 0)
    VitalityOracle oracle_;       // guarded by mu_
    std::vector<uint8> prefetched_;  // per pack: read by a prefetch and not demanded since
    std::vector<uint64> loads_;      // per pack: reads started
    std::vector<uint8> from_cache_;  // per pack: the load in flight / done reads the pack cache
    std::atomic<bool> read_raw_{false};  // loads read raw from the model file (see reads_raw())
    uint64 access_pos_ = 0;          // use position of the last record_access(used) pack
    PackTierStats ram_;
};

}  // namespace vk_symbiote
