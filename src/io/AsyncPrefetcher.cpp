#include "io/AsyncPrefetcher.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "gguf/GGUFLoader.h"

namespace vk_symbiote {

namespace {
constexpr uint64 kDirectAlign = 4096;
constexpr uint64 align_up(uint64 v, uint64 a) { return (v + a - 1) / a * a; }
constexpr uint64 align_down(uint64 v, uint64 a) { return v / a * a; }
}

AsyncPrefetcher::AsyncPrefetcher(std::shared_ptr<const GGUFLoader> file, const PrefetcherOptions& opts) : file_(std::move(file)), opts_(opts) {}

Expected<std::unique_ptr<AsyncPrefetcher>> AsyncPrefetcher::create(std::shared_ptr<const GGUFLoader> file, const PrefetcherOptions& opts) {
    if (!file) return make_error(ErrorCode::InvalidArgument, "AsyncPrefetcher: no model file");
    if (opts.threads == 0 || opts.threads > 64)
        return make_error(ErrorCode::InvalidArgument, "io_threads: " + std::to_string(opts.threads) + " is out of range [1, 64]");
    if (opts.direct_io && (opts.staging_bytes < kDirectAlign || opts.staging_bytes % kDirectAlign != 0))
        return make_error(ErrorCode::InvalidArgument, "io staging_bytes: " + std::to_string(opts.staging_bytes) + " must be a non-zero multiple of 4096");
    std::unique_ptr<AsyncPrefetcher> p(new AsyncPrefetcher(file, opts));
    if (opts.direct_io) {
        int fd = ::open(p->file_->path().c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
        p->direct_fd_ = fd;  // -1: unsupported here, buffered reads
    }
    for (uint32 i = 0; i < opts.threads; ++i) p->threads_.emplace_back([q = p.get()] { q->worker(); });
    return p;
}

AsyncPrefetcher::~AsyncPrefetcher() {
    shutdown();
    int fd = direct_fd_.exchange(-1);
    if (fd >= 0) ::close(fd);
}

void AsyncPrefetcher::shutdown() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
    // Jobs still queued after the workers left: complete them with an error.
    std::deque<Queued> left;
    {
        std::lock_guard<std::mutex> lk(mu_);
        for (auto* q : {&urgent_, &background_})
            while (!q->empty()) {
                left.push_back(std::move(q->front()));
                q->pop_front();
            }
    }
    for (auto& q : left) {
        ExpectedVoid r = make_error(ErrorCode::Io, file_->path().string() + ": " + q.job.what + ": I/O stopped before the read ran");
        if (q.job.on_done) q.job.on_done(r);
        q.promise.set_value(r);
    }
}

std::shared_future<ExpectedVoid> AsyncPrefetcher::submit(ReadJob job) {
    Queued q;
    q.job = std::move(job);
    std::shared_future<ExpectedVoid> f = q.promise.get_future().share();
    {
        std::unique_lock<std::mutex> lk(mu_);
        if (!stopping_) {
            (q.job.urgent ? urgent_ : background_).push_back(std::move(q));
            lk.unlock();
            cv_.notify_one();
            return f;
        }
    }
    ExpectedVoid r = make_error(ErrorCode::Io, file_->path().string() + ": " + q.job.what + ": I/O is shut down");
    if (q.job.on_done) q.job.on_done(r);
    q.promise.set_value(r);
    return f;
}

ExpectedVoid AsyncPrefetcher::run_now(ReadJob job) {
    std::vector<uint8> staging_owner;
    uint8* staging = nullptr;
    auto t0 = std::chrono::steady_clock::now();
    ExpectedVoid r = run_job(job, staging_owner, staging);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
        std::lock_guard<std::mutex> lk(mu_);
        stats_.jobs++;
        stats_.busy_seconds += secs;
        if (r) {
            for (auto& e : job.extents) stats_.bytes_read += e.size;
        } else {
            stats_.failures++;
        }
    }
    if (job.on_done) job.on_done(r);
    return r;
}

IoStats AsyncPrefetcher::stats() const {
    std::lock_guard<std::mutex> lk(mu_);
    return stats_;
}

void AsyncPrefetcher::worker() {
    std::vector<uint8> staging_owner;
    uint8* staging = nullptr;
    for (;;) {
        Queued q;
        {
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait(lk, [&] { return stopping_ || !urgent_.empty() || !background_.empty(); });
            if (stopping_) return;
            auto& src = !urgent_.empty() ? urgent_ : background_;
            q = std::move(src.front());
            src.pop_front();
        }
        auto t0 = std::chrono::steady_clock::now();
        ExpectedVoid r = run_job(q.job, staging_owner, staging);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        {
            std::lock_guard<std::mutex> lk(mu_);
            stats_.jobs++;
            stats_.busy_seconds += secs;
            if (r) {
                for (auto& e : q.job.extents) stats_.bytes_read += e.size;
            } else {
                stats_.failures++;
            }
        }
        if (q.job.on_done) q.job.on_done(r);
        q.promise.set_value(std::move(r));
    }
}

ExpectedVoid AsyncPrefetcher::run_job(const ReadJob& job, std::vector<uint8>& staging_owner, uint8*& staging) {
    VKS_TRY(file_->check_unchanged());
    for (const auto& e : job.extents) {
        if (opts_.fault_hook) {
            auto r = opts_.fault_hook(e.file_offset, e.size);
            if (!r) return make_error(r.error().code, file_->path().string() + ": " + job.what + ": read of " + std::to_string(e.size) + " bytes at " +
                                                          std::to_string(e.file_offset) + " failed: " + r.error().message);
        }
        if (direct_fd_.load() >= 0) {
            if (!staging) {
                staging_owner.resize(size_t(opts_.staging_bytes + kDirectAlign));
                staging = reinterpret_cast<uint8*>(align_up(reinterpret_cast<uintptr_t>(staging_owner.data()), kDirectAlign));
            }
            VKS_TRY(read_direct(e, job.what, staging));
        } else {
            VKS_TRY(read_buffered(e, job.what));
        }
        std::lock_guard<std::mutex> lk(mu_);
        stats_.reads++;
    }
    return {};
}

ExpectedVoid AsyncPrefetcher::read_buffered(const ReadExtent& e, const std::string& what) {
    auto r = file_->read_range(e.file_offset, e.size, e.dst);
    if (!r) return make_error(r.error().code, what + ": " + r.error().message);
    return {};
}

// O_DIRECT: aligned offset, length and address. Reads [align_down(off), ...) in chunks
// of the staging size and copies the wanted bytes out.
ExpectedVoid AsyncPrefetcher::read_direct(const ReadExtent& e, const std::string& what, uint8* staging) {
    const uint64 end = e.file_offset + e.size;
    uint64 pos = align_down(e.file_offset, kDirectAlign);
    while (pos < end) {
        const uint64 want = std::min<uint64>(opts_.staging_bytes, align_up(end - pos, kDirectAlign));
        ssize_t r = ::pread(direct_fd_.load(), staging, size_t(want), off_t(pos));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EINVAL) {  // O_DIRECT refused by this filesystem: buffered for good
            int fd = direct_fd_.exchange(-1);
            if (fd >= 0) ::close(fd);
            ReadExtent rest{std::max(pos, e.file_offset), end - std::max(pos, e.file_offset), e.dst + (std::max(pos, e.file_offset) - e.file_offset)};
            return read_buffered(rest, what);
        }
        if (r < 0) return make_error(ErrorCode::Io, file_->path().string() + ": " + what + ": read at byte " + std::to_string(pos) + " failed: " + std::strerror(errno));
        const uint64 got_end = pos + uint64(r);
        const uint64 copy_begin = std::max(pos, e.file_offset);
        const uint64 copy_end = std::min(got_end, end);
        if (copy_end > copy_begin) std::memcpy(e.dst + (copy_begin - e.file_offset), staging + (copy_begin - pos), size_t(copy_end - copy_begin));
        if (got_end >= end) break;
        if (uint64(r) < want)  // short read before `end`: the file ends early
            return make_error(ErrorCode::Io, file_->path().string() + ": " + what + ": unexpected end of file at byte " + std::to_string(got_end) +
                                                 " (the model file was truncated or replaced while running)");
        pos = got_end;  // still aligned: a full chunk was read
    }
    return {};
}

}  // namespace vk_symbiote
