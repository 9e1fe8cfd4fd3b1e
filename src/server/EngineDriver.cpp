#include "server/EngineDriver.h"

#include <algorithm>

#include "config/Logger.h"

namespace vk_symbiote::server {

namespace {
using Clock = std::chrono::steady_clock;
// How often the engine's metrics (a /proc read among them) are refreshed while it is busy.
constexpr auto kMetricsPeriod = std::chrono::milliseconds(250);
}  // namespace

EngineDriver::EngineDriver(ServingEngine& engine, uint32 parallel, uint32 max_queue, uint32 prompt_cache)
    : engine_(engine), parallel_(std::max<uint32>(parallel, 1)), max_queue_(max_queue), prompt_cache_(prompt_cache) {
    engine_.reset_metrics();  // the server's figures start now (and placement, KV pool are read)
    metrics_ = engine_.metrics();
    thread_ = std::thread([this] { run(); });
}

EngineDriver::~EngineDriver() { stop(); }

// Active generations end cancelled (run() publishes them); queued ones fail, so that no HTTP
// thread waits for a generation that will never run.
void EngineDriver::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::deque<Pending> left;
    {
        std::lock_guard lock(mu_);
        left.swap(pending_);
        counters_.queued = 0;
    }
    for (Pending& p : left) p.stream->fail("the server is shutting down");
}

std::shared_ptr<GenerationStream> EngineDriver::enqueue(GenerationRequest req) {
    auto stream = std::make_shared<GenerationStream>();
    {
        std::lock_guard lock(mu_);
        // Up to --parallel generating (or about to be admitted) and max_queue_ waiting.
        if (stopping_ || pending_.size() + counters_.active >= uint64(max_queue_) + parallel_) return nullptr;
        pending_.push_back({std::move(req), stream});
        counters_.requests++;
        counters_.queued = uint32(pending_.size());
    }
    cv_.notify_all();
    return stream;
}

DriverSnapshot EngineDriver::snapshot() const {
    std::lock_guard lock(mu_);
    return {counters_, metrics_};
}

void EngineDriver::run() {
    for (Wake w = Wake::Work; (w = wait_for_work()) != Wake::Stop;) {
        if (w == Wake::Idle) {
            if (auto ok = engine_.idle(); !ok) VKS_LOG_ERROR("serve: " << ok.error().to_string());
            continue;
        }
        drop_abandoned();
        admit();
        step();
        publish_and_retire();
        refresh_metrics(active_.empty());
    }
    for (const Active& a : active_) {
        engine_.cancel(a.id);
        a.stream->publish(engine_.status(a.id));
        engine_.release(a.id);
    }
    active_.clear();
    release_all_kept();
}

// Sleeps while nothing is active and nothing waits for a slot (at most the engine's idle period).
EngineDriver::Wake EngineDriver::wait_for_work() {
    std::unique_lock lock(mu_);
    const auto ready = [&] { return stopping_ || !active_.empty() || !pending_.empty(); };
    const double idle_s = engine_.idle_period_s();
    if (idle_s <= 0) cv_.wait(lock, ready);
    else if (!cv_.wait_for(lock, std::chrono::duration<double>(idle_s), ready)) return Wake::Idle;
    return stopping_ ? Wake::Stop : Wake::Work;
}

// Queued requests whose client went away leave the queue; active ones are cancelled (the
// engine frees their KV blocks) and retired by publish_and_retire().
void EngineDriver::drop_abandoned() {
    {
        std::lock_guard lock(mu_);
        const auto gone = std::remove_if(pending_.begin(), pending_.end(), [](const Pending& p) { return p.stream->cancelled(); });
        counters_.requests_cancelled += uint64(pending_.end() - gone);
        pending_.erase(gone, pending_.end());
        counters_.queued = uint32(pending_.size());
    }
    for (const Active& a : active_)
        if (a.stream->cancelled()) engine_.cancel(a.id);
}

// Fills the free --parallel slots from the queue, in arrival order.
void EngineDriver::admit() {
    while (active_.size() < parallel_) {
        Pending p;
        {
            std::lock_guard lock(mu_);
            if (pending_.empty()) break;
            p = std::move(pending_.front());
            pending_.pop_front();
            counters_.queued = uint32(pending_.size());
        }
        if (prompt_cache_.capacity() > 0) {
            p.req.keep_kv = true;
            p.req.prefix_from = prompt_cache_.best_match(p.req.prompt_tokens);
        }
        auto id = engine_.submit(p.req);
        if (!id) {
            p.stream->fail(id.error().to_string());
            std::lock_guard lock(mu_);
            counters_.requests_failed++;
            continue;
        }
        active_.push_back({*id, p.stream, std::move(p.req.prompt_tokens)});
    }
    std::lock_guard lock(mu_);
    counters_.active = uint32(active_.size());
}

void EngineDriver::step() {
    if (active_.empty()) return;
    const auto t0 = Clock::now();
    auto ran = engine_.step();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!ran) VKS_LOG_ERROR("serve: a forward pass failed: " << ran.error().to_string());
    // Nothing could run: the active generations wait for KV blocks no step will free.
    if (ran && !*ran)
        for (const Active& a : active_) engine_.cancel(a.id);
    std::lock_guard lock(mu_);
    counters_.busy_seconds += seconds;
}

// Publishes every active one's status and retires the finished ones. A generation waiting for
// KV blocks makes the least recently used kept cache give its blocks back.
void EngineDriver::publish_and_retire() {
    std::vector<Active> still;
    bool waiting = false;
    for (const Active& a : active_) {
        GenerationStatus st = engine_.status(a.id);
        if (!is_done(st)) {
            waiting = waiting || st.waiting;
            a.stream->publish(std::move(st));
            still.push_back(a);
            continue;
        }
        retire(a, st);
        a.stream->publish(std::move(st));
    }
    active_ = std::move(still);
    if (waiting)
        if (auto kept = prompt_cache_.evict_oldest()) engine_.release(*kept);
    std::lock_guard lock(mu_);
    counters_.active = uint32(active_.size());
    counters_.prompt_cache_entries = uint32(prompt_cache_.size());
}

void EngineDriver::retire(const Active& a, const GenerationStatus& st) {
    keep_or_release(a, st);
    std::lock_guard lock(mu_);
    counters_.prompt_tokens += st.prompt_tokens;
    counters_.cached_prompt_tokens += st.cached_prompt_tokens;
    counters_.generated_tokens += st.tokens.size();
    if (st.finish == FinishReason::Cancelled) counters_.requests_cancelled++;
    else if (st.finish == FinishReason::Error) counters_.requests_failed++;
    else counters_.requests_finished++;
}

// A request that ended well keeps its KV cache in the PromptCache (which may release older
// ones); a cancelled or failed one gives it back at once.
void EngineDriver::keep_or_release(const Active& a, const GenerationStatus& st) {
    const bool keep = prompt_cache_.capacity() > 0 && st.finish != FinishReason::Cancelled && st.finish != FinishReason::Error;
    if (!keep) {
        engine_.release(a.id);
        return;
    }
    std::vector<uint32> tokens = a.prompt;
    tokens.insert(tokens.end(), st.tokens.begin(), st.tokens.end());
    for (GenerationId old : prompt_cache_.keep(a.id, std::move(tokens))) engine_.release(old);
}

void EngineDriver::release_all_kept() {
    for (GenerationId id : prompt_cache_.clear()) engine_.release(id);
}

// The engine's metrics every kMetricsPeriod while busy, and whenever it goes idle.
void EngineDriver::refresh_metrics(bool force) {
    const auto now = Clock::now();
    if (!force && now - metrics_at_ < kMetricsPeriod) return;
    metrics_at_ = now;
    PerformanceMetrics m = engine_.metrics();
    std::lock_guard lock(mu_);
    metrics_ = std::move(m);
}

}  // namespace vk_symbiote::server
