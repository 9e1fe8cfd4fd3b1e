// AsyncPrefetcher: background I/O threads that read byte ranges of the model file
// into caller-owned buffers with large sequential reads (one pread per contiguous
// extent). Completion is reported through a std::shared_future<ExpectedVoid> and an
// optional callback that runs on the I/O thread just before the future is set.
//
// Reads: before each job the file is checked with GGUFLoader::check_unchanged() (size
// changed / file gone -> Io error); short reads and I/O errors become Io errors naming
// the file, the byte offset and the job. Nothing hangs: every submitted job completes
// (with an error after shutdown()).
//
// Direct I/O (optional): the file is opened a second time with O_DIRECT and each
// extent is read in 4 KiB-aligned chunks into a per-thread aligned staging buffer,
// then copied; when O_DIRECT is unsupported (open or the first read fails with
// EINVAL, e.g. tmpfs) it falls back to buffered pread for good.
//
// Thread-safety: submit(), stats() and shutdown() may be called from any thread.
// The destination buffers must stay alive until the job completes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class GGUFLoader;

// Test hook: called before every read of `size` bytes at `file_offset`; returning an
// error makes that read fail with it (read error injection).
using ReadFaultHook = std::function<ExpectedVoid(uint64 file_offset, uint64 size)>;

struct PrefetcherOptions {
    uint32 threads = 2;                     // background I/O threads (>= 1)
    bool direct_io = false;                 // try O_DIRECT (falls back when unsupported)
    uint64 staging_bytes = uint64(1) << 20; // per-thread staging for O_DIRECT (counts in the RAM budget)
    ReadFaultHook fault_hook;
};

struct ReadExtent {
    uint64 file_offset = 0;
    uint64 size = 0;
    uint8* dst = nullptr;  // caller-owned, >= size bytes
};

struct ReadJob {
    std::vector<ReadExtent> extents;
    std::string what;     // for messages, e.g. "pack 12 (attention, layer 1)"
    bool urgent = false;  // demand reads run before background prefetches
    std::function<void(const ExpectedVoid&)> on_done;  // runs on the I/O thread
};

struct IoStats {
    uint64 jobs = 0;          // completed jobs
    uint64 reads = 0;         // pread calls
    uint64 bytes_read = 0;    // payload bytes delivered
    uint64 failures = 0;      // failed jobs
    double busy_seconds = 0;  // summed wall time of jobs on I/O threads
    double gbps() const { return busy_seconds > 0 ? double(bytes_read) / busy_seconds / 1e9 : 0.0; }
};

class AsyncPrefetcher {
public:
    static Expected<std::unique_ptr<AsyncPrefetcher>> create(std::shared_ptr<const GGUFLoader> file, const PrefetcherOptions& opts);
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
    bool direct_io_active() const { return direct_fd_.load() >= 0; }
    uint32 threads() const { return uint32(threads_.size()); }
    // RAM the prefetcher holds for staging (0 without direct I/O).
    uint64 staging_bytes_total() const { return opts_.direct_io ? opts_.staging_bytes * opts_.threads : 0; }

private:
    AsyncPrefetcher(std::shared_ptr<const GGUFLoader> file, const PrefetcherOptions& opts);
    struct Queued {
        ReadJob job;
        std::promise<ExpectedVoid> promise;
    };
    void worker();
    ExpectedVoid run_job(const ReadJob& job, std::vector<uint8>& staging_owner, uint8*& staging);
    ExpectedVoid read_buffered(const ReadExtent& e, const std::string& what);
    ExpectedVoid read_direct(const ReadExtent& e, const std::string& what, uint8* staging);

    std::shared_ptr<const GGUFLoader> file_;
    PrefetcherOptions opts_;
    std::atomic<int> direct_fd_{-1};

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Queued> urgent_, background_;
    bool stopping_ = false;
    IoStats stats_;
    std::vector<std::thread> threads_;
};

}  // namespace vk_symbiote
