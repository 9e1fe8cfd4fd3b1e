// DecodeStage: the decode half of a pack cache read. The I/O threads read a pack's stored
// (compressed) bytes into one of this stage's scratch buffers and queue its decode here; the
// stage's threads decompress into the pack buffer and check its XXH3, while the I/O threads
// already read the next packs. Reading and decoding overlap, and decoding scales with the
// cores, not with the number of requests the disk wants in flight.
//
// RAM: `scratch_count` buffers of `scratch_bytes` (the largest stored pack, aligned for
// O_DIRECT), allocated on first use and counted by AsyncPrefetcher::staging_bytes_for(). An
// I/O thread waits in acquire_scratch() while every buffer holds a pack that was read and is
// not decoded yet: the read-ahead never holds more than the buffers, whatever the decode rate.
//
// Tasks run urgent first (demand reads), then in submission order. The tasks time their own
// decodes (AsyncPrefetcher's IoStats::decode_seconds), so no clock here.
//
// Thread-safety: every member may be called from any thread. shutdown() (also the destructor)
// wakes acquire_scratch() waiters (they get nullptr), lets running tasks finish, and runs the
// tasks still queued, and any submitted later, with `stopped` = true on the caller's thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class DecodeStage {
public:
    // stopped: the stage shut down before the task ran; the task completes its job with an
    // error and does not decode.
    using Task = std::function<void(bool stopped)>;

    DecodeStage(uint32 threads, uint32 scratch_count, uint64 scratch_bytes);
    ~DecodeStage();
    DecodeStage(const DecodeStage&) = delete;
    DecodeStage& operator=(const DecodeStage&) = delete;

    // A free scratch buffer (scratch_bytes, 4 KiB-aligned); blocks while none is free;
    // nullptr after shutdown().
    uint8* acquire_scratch();
    void release_scratch(uint8* p);
    void submit(bool urgent, Task task);
    void shutdown();

    uint32 threads() const { return n_threads_; }

private:
    void worker();

    const uint32 n_threads_;
    const uint64 scratch_bytes_;
    mutable std::mutex mu_;
    std::condition_variable task_cv_, scratch_cv_;
    std::deque<Task> urgent_, background_;
    std::vector<std::vector<uint8>> owners_;  // allocated scratch buffers (owners_.size() <= scratch_count)
    std::vector<uint8*> free_;                // allocated and free
    uint32 scratch_count_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace vk_symbiote
