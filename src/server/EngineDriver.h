// EngineDriver: the one thread that drives the engine for the server. HTTP threads enqueue
// requests; the driver submits at most `parallel` of them to the engine at once (the rest
// wait, first come first served, up to `max_queue`), runs engine.step() while any is active
// (each step one forward pass over all of them), publishes each one's status to its
// GenerationStream after every step, cancels those whose client went away, and releases
// finished ones (their KV blocks go back to the pool, or stay in the PromptCache for a later
// request that starts with the same tokens).
//
// An engine with an idle period (the pipeline's) gets idle() calls while nothing runs; an
// engine error there, or in a step, is the engine's to end (the pipeline ends every rank).
//
// Thread-safety: enqueue() and snapshot() from any thread; the engine is touched by the driver
// thread only, from construction to stop().
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/GenerationStream.h"
#include "server/PromptCache.h"
#include "server/ServingEngine.h"

namespace vk_symbiote::server {

// Counters since the server started, for /metrics and the chat page.
struct DriverCounters {
    uint64 requests = 0;           // accepted by enqueue()
    uint64 requests_finished = 0;  // ended with stop / length / context limit
    uint64 requests_cancelled = 0; // their client went away
    uint64 requests_failed = 0;
    uint64 prompt_tokens = 0;      // of finished requests
    uint64 cached_prompt_tokens = 0;  // of those, taken from a kept cache instead of computed
    uint64 generated_tokens = 0;
    double busy_seconds = 0;       // time inside engine steps
    uint32 queued = 0;             // waiting for one of the --parallel slots
    uint32 active = 0;             // submitted to the engine (running, or waiting for KV blocks)
    uint32 prompt_cache_entries = 0;  // finished requests whose KV cache is kept (PromptCache)
};

struct DriverSnapshot {
    DriverCounters counters;
    PerformanceMetrics metrics;  // the engine's, refreshed between steps
};

class EngineDriver {
public:
    // prompt_cache: finished requests whose KV cache is kept for later ones (0: none).
    EngineDriver(ServingEngine& engine, uint32 parallel, uint32 max_queue, uint32 prompt_cache);
    ~EngineDriver();
    EngineDriver(const EngineDriver&) = delete;
    EngineDriver& operator=(const EngineDriver&) = delete;

    // Queues a generation; nullptr when max_queue requests wait already.
    std::shared_ptr<GenerationStream> enqueue(GenerationRequest req);
    DriverSnapshot snapshot() const;
    // Cancels what runs, fails what waits, and joins the thread (the destructor does too).
    void stop();

private:
    struct Pending {
        GenerationRequest req;
        std::shared_ptr<GenerationStream> stream;
    };
    struct Active {
        GenerationId id;
        std::shared_ptr<GenerationStream> stream;
        std::vector<uint32> prompt;  // its tokens, for the PromptCache
    };

    enum class Wake { Work, Idle, Stop };
    void run();
    // Work: something is active or waits; Idle: the engine's idle period passed without any.
    Wake wait_for_work();
    void admit();
    void drop_abandoned();
    void step();
    void publish_and_retire();
    void retire(const Active& a, const GenerationStatus& st);
    void keep_or_release(const Active& a, const GenerationStatus& st);
    void release_all_kept();
    void refresh_metrics(bool force);

    ServingEngine& engine_;
    const uint32 parallel_;
    const uint32 max_queue_;
    mutable std::mutex mu_;  // guards pending_, counters_, metrics_, stopping_
    std::condition_variable cv_;
    std::deque<Pending> pending_;
    DriverCounters counters_;
    PerformanceMetrics metrics_;
    bool stopping_ = false;
    std::vector<Active> active_;  // driver thread only
    PromptCache prompt_cache_;    // driver thread only
    std::chrono::steady_clock::time_point metrics_at_;
    std::thread thread_;
};

}  // namespace vk_symbiote::server
