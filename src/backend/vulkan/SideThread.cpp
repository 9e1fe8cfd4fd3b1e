#include "backend/vulkan/SideThread.h"

namespace vk_symbiote {

SideThread::SideThread() : thread_([this] { loop(); }) {}

SideThread::~SideThread() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void SideThread::start(std::function<ExpectedVoid()> job) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        job_ = std::move(job);
        pending_ = running_ = true;
        result_ = {};
    }
    cv_.notify_all();
}

ExpectedVoid SideThread::join() {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !running_; });
    return result_;
}

void SideThread::loop() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
        cv_.wait(lk, [&] { return stop_ || pending_; });
        if (stop_) return;
        pending_ = false;
        auto job = std::move(job_);
        lk.unlock();
        ExpectedVoid r = job();
        lk.lock();
        result_ = std::move(r);
        running_ = false;
        cv_.notify_all();
    }
}

}  // namespace vk_symbiote
