// AsyncPrefetcher: background I/O threads that read byte ranges of the model file
// into caller-owned buffers with large sequential reads (one pread per contiguous
// extent). Completion is reported through a std::shared_future<ExpectedVoid> and an
// optional callback that runs on the I/O thread just before the future is set.
//
// Reads: before each job the file is checked with ModelSource::check_unchanged() (size
// changed / file gone -> Io error); short reads and I/O errors become Io errors naming
// the file, the byte offset and the job. Nothing hangs: every submitted job completes
// (with an error after shutdown()).
//
// Direct I/O (optional): the file is opened a second time with O_DIRECT and each
// extent is read in 4 KiB-aligned chunks into a per-thread aligned staging buffer,
// then copied; when O_DIRECT is unsupported (open or the first read fails with
// EINVAL, e.g. tmpfs) it falls back to buffered pread for good.
//
// Pack cache (optional, PrefetcherOptions::pack_cache): a job with `cached` set reads
// one pack's stored (compressed) bytes from the compressed pack cache file into a scratch
// buffer of the DecodeStage (DecodeStage.h) on an I/O thread, and hands it to the stage's
// decode_threads, which decompress into the destination and verify the pack's XXH3; the I/O
// thread goes on with the next read meanwhile. With direct_io the cache file is read with
// O_DIRECT straight into the (aligned) scratch buffer; a raw pack read buffered goes straight
// into the destination. A damaged or truncated cache is a Corrupt error naming the cache file
// and the pack; never wrong bytes. The job completes (callback, future) on the decode thread.
//
// RAM held for reads (counted in the budget, staging_bytes_for()): per I/O thread the
// O_DIRECT staging (staging_bytes, with direct_io), plus one O_DIRECT staging for demand
// reads of the model file on the caller's thread (run_now); with a pack cache, threads +
// decode_threads scratch buffers (cache_scratch_bytes() each): every I/O thread reading
// while every decode thread decodes. run_now() hands pack cache reads, and model reads when
// another caller holds the demand staging, to the I/O threads and waits, so the count never
// grows with the number of callers.
//
// Thread-safety: submit(), run_now(), stats() and shutdown() may be called from any
// thread. The destination buffers must stay alive until the job completes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gguf/ModelSource.h"
#include "packs/DecodeStage.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class PackCacheReader;

// Test hook: called before every read of `size` bytes at `file_offset`; returning an
// error makes that read fail with it (read error injection).
using ReadFaultHook = std::function<ExpectedVoid(uint64 file_offset, uint64 size)>;

struct PrefetcherOptions {
    uint32 threads = 2;                     // background I/O threads (>= 1)
    uint32 decode_threads = 1;              // pack cache decode threads (>= 1; unused without a pack cache)
    bool direct_io = false;                 // try O_DIRECT (falls back when unsupported)
    uint64 staging_bytes = uint64(1) << 20; // per-thread staging for O_DIRECT (counts in the RAM budget)
    ReadFaultHook fault_hook;
    // Compressed pack cache of the same model: jobs with ReadJob::cached read from it.
    std::shared_ptr<const PackCacheReader> pack_cache;
};

struct ReadExtent {
    uint64 file_offset = 0;
    uint64 size = 0;
    uint8* dst = nullptr;  // caller-owned, >= size bytes
};

// One pack read from the pack cache and decompressed into dst[0, size) (size must be
// the pack's raw size).
struct CachedPackRead {
    uint64 pack_id = 0;
    uint8* dst = nullptr;  // caller-owned
    uint64 size = 0;
};

struct ReadJob {
    std::vector<ReadExtent> extents;      // reads from the model file
    std::optional<CachedPackRead> cached; // or (exclusive) one pack from the pack cache
    std::string what;     // for messages, e.g. "pack 12 (attention, layer 1)"
    bool urgent = false;  // demand reads run before background prefetches
    std::function<void(const ExpectedVoid&)> on_done;  // runs on the I/O thread
};

struct IoStats {
    uint64 jobs = 0;          // completed jobs
    uint64 reads = 0;         // pread calls
    uint64 bytes_read = 0;    // bytes read from storage (pack cache: the stored, compressed bytes)
    uint64 cache_bytes_read = 0;  // the part of bytes_read that came from the pack cache
    uint64 bytes_decoded = 0; // pack cache: raw bytes produced by decompression
    uint64 packs_decoded = 0; // pack cache: packs decoded (and checked)
    double decode_seconds = 0;  // pack cache: summed wall time of decompression + checksum on the decode threads
    uint64 failures = 0;      // failed jobs
    // Summed wall time of reads on I/O threads (model jobs whole; pack cache jobs: the read,
    // not the decode, not the wait for a scratch buffer).
    double busy_seconds = 0;
    double active_seconds = 0;  // wall time with at least one read in flight (any thread)
    uint32 decode_threads = 0;  // 0 without a pack cache
    double gbps() const { return busy_seconds > 0 ? double(bytes_read) / busy_seconds / 1e9 : 0.0; }
};

class AsyncPrefetcher {
public:
    static Expected<std::unique_ptr<AsyncPrefetcher>> create(std::shared_ptr<const ModelSource> file, const PrefetcherOptions& opts);
    ~AsyncPrefetcher();
    AsyncPrefetcher(const AsyncPrefetcher&) = delete;
    AsyncPrefetcher& operator=(const AsyncPrefetcher&) = delete;

    std::shared_future<ExpectedVoid> submit(ReadJob job);
    // Runs the job on the calling thread (a demand read the caller would only wait for:
    // saves two thread hand-offs). Same checks, callback and statistics as submit().
    ExpectedVoid run_now(ReadJob job);
    // Stops the threads; queued jobs complete with an error. Idempotent.
    void shutdown();

    IoStats stats() const;
    bool direct_io_active() const { return !direct_files_.empty() && !direct_refused_.load(); }
    uint32 threads() const { return uint32(threads_.size()); }
    // RAM the prefetcher may hold for reads with these options: (threads + 1) O_DIRECT
    // staging buffers when direct_io + (threads + decode_threads) cache scratch buffers with
    // a pack cache. Allocated on first use, counted always.
    static uint64 staging_bytes_for(const PrefetcherOptions& opts);
    // The same for a pack cache whose largest stored pack has `max_stored_bytes` (0: no
    // cache; opts.pack_cache is not looked at): the bound before a cache is built is the
    // largest raw pack (a pack that does not shrink is stored raw).
    static uint64 staging_bytes_for(const PrefetcherOptions& opts, uint64 max_stored_bytes);
    // One scratch buffer for pack cache reads: the largest stored pack, aligned for O_DIRECT.
    static uint64 cache_scratch_bytes(const PackCacheReader& cache);
    static uint64 cache_scratch_bytes(uint64 max_stored_bytes);
    uint64 staging_bytes_total() const { return staging_bytes_for(opts_); }

private:
    AsyncPrefetcher(std::shared_ptr<const ModelSource> file, const PrefetcherOptions& opts);
    struct Queued {
        ReadJob job;
        std::promise<ExpectedVoid> promise;
    };
    // O_DIRECT staging of one reading thread, allocated on first use (aligned to 4 KiB).
    struct Buffers {
        std::vector<uint8> staging_owner;
        uint8* staging = nullptr;
    };
    void worker();
    // Counts the job in stats_ (jobs, bytes, failures), runs its callback, sets its future.
    void complete(Queued& q, ExpectedVoid r);
    // Runs a model-file job with `bufs` and records its read time.
    ExpectedVoid run_and_count(const ReadJob& job, Buffers& bufs);
    ExpectedVoid run_job(const ReadJob& job, Buffers& bufs);
    // Pack cache job: checks it, reads the stored bytes (into a scratch buffer of decode_, or
    // a raw pack straight into its destination), then queues the decode; completes the job
    // with the error when a step before the decode fails.
    void start_cached(Queued q);
    ExpectedVoid check_cached(const ReadJob& job) const;
    ExpectedVoid read_cached(const ReadJob& job, uint8*& scratch, const uint8*& stored);
    void decode_cached(Queued& q, uint8* scratch, const uint8* stored, bool stopped);
    ExpectedVoid read_stored_direct(uint64 pack_id, uint8* scratch, const uint8*& stored);
    // Wall time with a read in flight (IoStats::active_seconds): begin / end of one read.
    void read_begins();
    void read_ends(double secs);
    ExpectedVoid read_buffered(const ReadExtent& e, const std::string& what);
    ExpectedVoid read_direct(const ReadExtent& e, const std::string& what, uint8* staging);
    // The O_DIRECT file holding all of [offset, offset + size), or nullptr (bytes a source
    // keeps in memory, or direct reads off).
    const SourceFile* direct_file(uint64 offset, uint64 size) const;

    std::shared_ptr<const ModelSource> file_;
    PrefetcherOptions opts_;
    // The model's files opened with O_DIRECT (fd), at their bases in the source's address
    // space; empty: buffered reads. Closed by the destructor.
    std::vector<SourceFile> direct_files_;
    std::atomic<bool> direct_refused_{false};  // the filesystem refused O_DIRECT: buffered from now on
    std::atomic<int> cache_direct_fd_{-1};  // O_DIRECT fd of the pack cache (-1: buffered); closed by the destructor
    std::atomic<bool> cache_direct_refused_{false};  // the filesystem refused O_DIRECT: buffered from now on
    std::mutex demand_mu_;                  // owns demand_bufs_ (run_now)
    Buffers demand_bufs_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Queued> urgent_, background_;
    bool stopping_ = false;
    IoStats stats_;
    uint32 reading_ = 0;  // reads in flight (active_seconds)
    std::chrono::steady_clock::time_point active_since_;
    std::vector<std::thread> threads_;
    std::unique_ptr<DecodeStage> decode_;  // with a pack cache
};

}  // namespace vk_symbiote
