// GenerationStream: one request's generation as the HTTP thread sees it, handed over from the
// engine driver thread. The driver publishes the engine's status after every step (the text
// and tokens so far, stop strings already removed); the HTTP thread waits for a newer version
// and sends what it has not sent yet. Either side may end it: the driver when the generation
// finished or failed, the HTTP side when its client went away (cancel(): the driver cancels
// the sequence, whose KV blocks go back to the pool).
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "vk_symbiote/Generation.h"

namespace vk_symbiote::server {

class GenerationStream {
public:
    // Driver side: the latest status (its finish reason set once the generation ended).
    void publish(GenerationStatus status);
    // Driver side: the generation could not run (the error is the request's answer).
    void fail(std::string error);

    // HTTP side: waits until the status is newer than `seen_version` or `timeout` passed; true
    // with the status (and its version in seen_version) when newer.
    bool wait_newer(uint64& seen_version, GenerationStatus& out, std::chrono::milliseconds timeout);
    // HTTP side: the client is gone; the driver cancels the generation at its next step.
    void cancel();
    bool cancelled() const;
    // The whole generation, blocking until it ended (non-streamed answers).
    GenerationStatus wait_finished();

    // Set when the generation failed before producing a status, else empty.
    std::string failure() const;

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    GenerationStatus status_;
    uint64 version_ = 0;
    bool cancelled_ = false;
    std::string failure_;
};

// True when the generation ended (finished, failed, or cancelled).
bool is_done(const GenerationStatus& s);

}  // namespace vk_symbiote::server
