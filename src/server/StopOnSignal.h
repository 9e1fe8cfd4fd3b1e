// StopOnSignal: SIGINT / SIGTERM end `vk_symbiote serve` cleanly: the signal handler only
// writes a byte to a pipe (async-signal-safe); a watcher thread reads it and calls the stop
// function (httplib's stop is not safe inside a handler). Restores the previous handlers when
// destroyed.
#pragma once

#include <csignal>
#include <functional>
#include <thread>

namespace vk_symbiote::server {

class StopOnSignal {
public:
    explicit StopOnSignal(std::function<void()> stop);
    ~StopOnSignal();
    StopOnSignal(const StopOnSignal&) = delete;
    StopOnSignal& operator=(const StopOnSignal&) = delete;

private:
    std::thread watcher_;
    struct sigaction old_int_ {}, old_term_ {};
};

}  // namespace vk_symbiote::server
