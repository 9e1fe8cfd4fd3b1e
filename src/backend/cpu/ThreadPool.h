// ThreadPool: a persistent pool for the CPU kernels. run(n, fn) calls fn(task, worker) for
// every task in [0, n) (tasks handed out by an atomic counter) and returns when all are done;
// the caller is worker 0, so per-worker scratch needs no locks. Not reentrant: one run() at
// a time, never from inside a task.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::cpu {

class ThreadPool {
public:
    // n_threads == 0: one per hardware thread. n_threads == 1: no helper threads at all.
    explicit ThreadPool(uint32 n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    uint32 size() const { return n_workers_; }

    using TaskFn = std::function<void(uint32 task, uint32 worker)>;
    void run(uint32 n_tasks, const TaskFn& fn);

    // Splits [0, n) into chunks of at least `grain` items (and about 4 per worker so the
    // tail balances, but at most max_chunk items when that is >= grain), calling
    // fn(begin, end, worker) for each chunk.
    void parallel_for(uint64 n, uint64 grain, const std::function<void(uint64 begin, uint64 end, uint32 worker)>& fn, uint64 max_chunk = ~uint64(0));

private:
    void worker_loop(uint32 worker);
    void drain(uint32 worker);

    uint32 n_workers_ = 1;
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable start_cv_;
    std::condition_variable done_cv_;
    uint64 generation_ = 0;      // bumped for every run(); guarded by mu_
    bool stop_ = false;          // guarded by mu_
    uint32 busy_ = 0;            // helpers still inside the current run; guarded by mu_
    const TaskFn* fn_ = nullptr; // the current run's function; valid while busy_ > 0 or in run()
    uint32 n_tasks_ = 0;
    std::atomic<uint32> next_task_{0};
};

}  // namespace vk_symbiote::cpu
