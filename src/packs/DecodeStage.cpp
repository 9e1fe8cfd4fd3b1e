#include "packs/DecodeStage.h"

#include <cstdint>

namespace vk_symbiote {

namespace {
constexpr uint64 kAlign = 4096;
}

DecodeStage::DecodeStage(uint32 threads, uint32 scratch_count, uint64 scratch_bytes)
    : n_threads_(threads), scratch_bytes_(scratch_bytes), scratch_count_(scratch_count) {
    owners_.reserve(scratch_count);
    for (uint32 i = 0; i < threads; ++i) threads_.emplace_back([this] { worker(); });
}

DecodeStage::~DecodeStage() { shutdown(); }

uint8* DecodeStage::acquire_scratch() {
    std::unique_lock<std::mutex> lk(mu_);
    scratch_cv_.wait(lk, [&] { return stopping_ || !free_.empty() || owners_.size() < scratch_count_; });
    if (stopping_) return nullptr;
    if (!free_.empty()) {
        uint8* p = free_.back();
        free_.pop_back();
        return p;
    }
    // Allocated on first use: a run that never reads the cache holds none of it.
    std::vector<uint8>& o = owners_.emplace_back(size_t(scratch_bytes_ + kAlign));
    return reinterpret_cast<uint8*>((reinterpret_cast<uintptr_t>(o.data()) + kAlign - 1) / kAlign * kAlign);
}

void DecodeStage::release_scratch(uint8* p) {
    if (!p) return;
    {
        std::lock_guard<std::mutex> lk(mu_);
        free_.push_back(p);
    }
    scratch_cv_.notify_one();
}

void DecodeStage::submit(bool urgent, Task task) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (!stopping_) {
            (urgent ? urgent_ : background_).push_back(std::move(task));
            task_cv_.notify_one();
            return;
        }
    }
    task(/*stopped=*/true);
}

void DecodeStage::shutdown() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stopping_ = true;
    }
    task_cv_.notify_all();
    scratch_cv_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
    std::deque<Task> left;
    {
        std::lock_guard<std::mutex> lk(mu_);
        for (auto* q : {&urgent_, &background_})
            while (!q->empty()) {
                left.push_back(std::move(q->front()));
                q->pop_front();
            }
    }
    for (Task& t : left) t(/*stopped=*/true);
}

void DecodeStage::worker() {
    for (;;) {
        Task task;
        {
            std::unique_lock<std::mutex> lk(mu_);
            task_cv_.wait(lk, [&] { return stopping_ || !urgent_.empty() || !background_.empty(); });
            if (stopping_) return;
            auto& q = !urgent_.empty() ? urgent_ : background_;
            task = std::move(q.front());
            q.pop_front();
        }
        task(/*stopped=*/false);
    }
}

}  // namespace vk_symbiote
