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
// one pack's stored (compressed) bytes from the compressed pack cache file into a
// scratch buffer, decompresses them into the destination and verifies the pack's
// XXH3, all on the thread that runs the job. With direct_io the cache file is read
// with O_DIRECT straight into the (aligned) scratch buffer. A damaged or truncated
// cache is a Corrupt error naming the cache file and the pack; never wrong bytes.
//
// RAM held for reads (counted in the budget, staging_bytes_for()): per I/O thread the
// O_DIRECT staging (staging_bytes, with direct_io) and the cache scratch
// (cache_scratch_bytes(), with a pack cache); plus one O_DIRECT staging for demand
// reads of the model file on the caller's thread (run_now). run_now() hands pack cache
// reads, and model reads when another caller holds the demand staging, to the I/O
// threads and waits, so the count never grows with the number of callers.
//
// Thread-safety: submit(), run_now(), stats() and shutdown() may be called from any
// thread. The destination buffers must stay alive until the job completes.
#pragma once

#include <atomic>
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
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class PackCacheReader;

// Test hook: called before every read of `size` bytes at `file_offset`; returning an
// error makes that read fail with it (read error injection).
using ReadFaultHook = std::function<ExpectedVoid(uint64 file_offset, uint64 size)>;

struct PrefetcherOptions {
    uint32 threads = 2;                     // background I/O threads (>= 1)
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
    uint64 bytes_decoded = 0; // pack cache: raw bytes produced by decompression
    double decode_seconds = 0;  // pack cache: summed wall time of decompression + checksum
    uint64 failures = 0;      // failed jobs
    double busy_seconds = 0;  // summed wall time of jobs on I/O threads
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
    // staging buffers when direct_io + `threads` cache scratch buffers with a pack
    // cache. Allocated on first use, counted always.
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
    // Buffers of one reading thread, allocated on first use (aligned to 4 KiB).
    struct Buffers {
        std::vector<uint8> staging_owner, scratch_owner;
        uint8* staging = nullptr;
        uint8* scratch = nullptr;
    };
    void worker();
    // Runs `job` with `bufs` and records it in stats_ (job count, bytes, time).
    ExpectedVoid run_and_count(const ReadJob& job, Buffers& bufs);
    ExpectedVoid run_job(const ReadJob& job, Buffers& bufs);
    ExpectedVoid run_cached(const ReadJob& job, Buffers& bufs);
    ExpectedVoid read_stored_direct(uint64 pack_id, uint8* scratch, const uint8*& stored);
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
    std::vector<std::thread> threads_;
};

}  // namespace vk_symbiote
