// SideThread: one helper thread that runs a job beside the calling thread. The hybrid rows
// split records the next exchange's command buffer on it while the calling thread computes
// the CPU's part of the current exchange, so recording (descriptor sets, dispatches, tens of
// microseconds per exchange, four exchanges per layer) leaves the critical path.
//
// Thread-safety: start() and join() from one owner thread; a started job must be joined
// before the next start(). The job must not touch what the owner uses until join().
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class SideThread {
public:
    SideThread();
    ~SideThread();
    SideThread(const SideThread&) = delete;
    SideThread& operator=(const SideThread&) = delete;

    void start(std::function<ExpectedVoid()> job);
    // Waits for the started job (immediately returns success when none was started).
    ExpectedVoid join();

private:
    void loop();

    std::mutex mu_;
    std::condition_variable cv_;
    std::function<ExpectedVoid()> job_;  // guarded by mu_
    ExpectedVoid result_;                // guarded by mu_
    bool pending_ = false, running_ = false, stop_ = false;
    std::thread thread_;  // last: started after the state above exists
};

}  // namespace vk_symbiote
