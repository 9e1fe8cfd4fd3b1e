#include "server/GenerationStream.h"

namespace vk_symbiote::server {

bool is_done(const GenerationStatus& s) { return s.finish != FinishReason::None; }

void GenerationStream::publish(GenerationStatus status) {
    {
        std::lock_guard lock(mu_);
        status_ = std::move(status);
        ++version_;
    }
    cv_.notify_all();
}

void GenerationStream::fail(std::string error) {
    {
        std::lock_guard lock(mu_);
        failure_ = error;
        status_.known = true;
        status_.finish = FinishReason::Error;
        status_.error = std::move(error);
        ++version_;
    }
    cv_.notify_all();
}

bool GenerationStream::wait_newer(uint64& seen_version, GenerationStatus& out, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return version_ > seen_version; })) return false;
    seen_version = version_;
    out = status_;
    return true;
}

void GenerationStream::cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
}

bool GenerationStream::cancelled() const {
    std::lock_guard lock(mu_);
    return cancelled_;
}

GenerationStatus GenerationStream::wait_finished() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return is_done(status_); });
    return status_;
}

std::string GenerationStream::failure() const {
    std::lock_guard lock(mu_);
    return failure_;
}

}  // namespace vk_symbiote::server
