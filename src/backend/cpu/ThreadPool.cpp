#include "backend/cpu/ThreadPool.h"

#include <algorithm>

namespace vk_symbiote::cpu {

ThreadPool::ThreadPool(uint32 n_threads) {
    if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
    n_workers_ = n_threads;
    threads_.reserve(n_workers_ - 1);
    for (uint32 w = 1; w < n_workers_; ++w) threads_.emplace_back([this, w] { worker_loop(w); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_ = true;
    }
    start_cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void ThreadPool::drain(uint32 worker) {
    for (;;) {
        uint32 t = next_task_.fetch_add(1, std::memory_order_relaxed);
        if (t >= n_tasks_) return;
        (*fn_)(t, worker);
    }
}

void ThreadPool::worker_loop(uint32 worker) {
    uint64 seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lk(mu_);
            start_cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
        }
        drain(worker);
        {
            std::lock_guard<std::mutex> lk(mu_);
            if (--busy_ == 0) done_cv_.notify_one();
        }
    }
}

void ThreadPool::run(uint32 n_tasks, const TaskFn& fn) {
    if (n_tasks == 0) return;
    if (n_workers_ == 1 || n_tasks == 1) {
        for (uint32 t = 0; t < n_tasks; ++t) fn(t, 0);
        return;
    }
    {
        std::lock_guard<std::mutex> lk(mu_);
        fn_ = &fn;
        n_tasks_ = n_tasks;
        next_task_.store(0, std::memory_order_relaxed);
        busy_ = n_workers_ - 1;
        ++generation_;
    }
    start_cv_.notify_all();
    drain(0);
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return busy_ == 0; });
    fn_ = nullptr;
}

void ThreadPool::parallel_for(uint64 n, uint64 grain, const std::function<void(uint64, uint64, uint32)>& fn, uint64 max_chunk) {
    if (n == 0) return;
    grain = std::max<uint64>(1, grain);
    uint64 chunk = std::max<uint64>(grain, std::min(max_chunk, (n + uint64(n_workers_) * 4 - 1) / (uint64(n_workers_) * 4)));
    uint64 n_chunks = (n + chunk - 1) / chunk;
    run(uint32(n_chunks), [&](uint32 t, uint32 w) {
        uint64 b = uint64(t) * chunk;
        fn(b, std::min(n, b + chunk), w);
    });
}

}  // namespace vk_symbiote::cpu
