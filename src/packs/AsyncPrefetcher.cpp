#include "packs/AsyncPrefetcher.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "packs/PackCache.h"
#include "gguf/ModelSource.h"

namespace vk_symbiote {

namespace {
constexpr uint64 kDirectAlign = 4096;
constexpr uint64 align_up(uint64 v, uint64 a) { return (v + a - 1) / a * a; }
constexpr uint64 align_down(uint64 v, uint64 a) { return v / a * a; }

// Bytes a job moves from storage: the model extents, or the pack's stored bytes.
uint64 job_bytes(const ReadJob& job, const PackCacheReader* cache) {
    if (job.cached) return cache ? cache->stored_bytes(job.cached->pack_id) : 0;
    uint64 n = 0;
    for (const auto& e : job.extents) n += e.size;
    return n;
}

// `owner` resized to hold `bytes` at a 4 KiB-aligned address; returns that address.
uint8* aligned_in(std::vector<uint8>& owner, uint64 bytes) {
    owner.resize(size_t(bytes + kDirectAlign));
    return reinterpret_cast<uint8*>(align_up(reinterpret_cast<uintptr_t>(owner.data()), kDirectAlign));
}
}  // namespace

uint64 AsyncPrefetcher::cache_scratch_bytes(uint64 max_stored_bytes) {
    // An unaligned stored range spans at most one extra block at each end.
    return align_up(max_stored_bytes, kDirectAlign) + 2 * kDirectAlign;
}

uint64 AsyncPrefetcher::cache_scratch_bytes(const PackCacheReader& cache) { return cache_scratch_bytes(cache.max_stored_bytes()); }

uint64 AsyncPrefetcher::staging_bytes_for(const PrefetcherOptions& o, uint64 max_stored_bytes) {
    uint64 total = 0;
    // O_DIRECT staging: each I/O thread + demand reads on the caller's thread.
    if (o.direct_io) total += (o.staging_bytes + kDirectAlign) * (uint64(o.threads) + 1);
    // Cache scratch: the DecodeStage's, one per I/O thread and per decode thread (run_now
    // hands cache reads to the I/O threads).
    if (max_stored_bytes) total += (cache_scratch_bytes(max_stored_bytes) + kDirectAlign) * (uint64(o.threads) + std::max(1u, o.decode_threads));
    return total;
}

uint64 AsyncPrefetcher::staging_bytes_for(const PrefetcherOptions& o) {
    return staging_bytes_for(o, o.pack_cache ? o.pack_cache->max_stored_bytes() : 0);
}

AsyncPrefetcher::AsyncPrefetcher(std::shared_ptr<const ModelSource> file, const PrefetcherOptions& opts) : file_(std::move(file)), opts_(opts) {}

Expected<std::unique_ptr<AsyncPrefetcher>> AsyncPrefetcher::create(std::shared_ptr<const ModelSource> file, const PrefetcherOptions& opts) {
    if (!file) return make_error(ErrorCode::InvalidArgument, "AsyncPrefetcher: no model file");
    if (opts.threads == 0 || opts.threads > 64)
        return make_error(ErrorCode::InvalidArgument, "io_threads: " + std::to_string(opts.threads) + " is out of range [1, 64]");
    if (opts.pack_cache && (opts.decode_threads == 0 || opts.decode_threads > 256))
        return make_error(ErrorCode::InvalidArgument, "decode_threads: " + std::to_string(opts.decode_threads) + " is out of range [1, 256]");
    if (opts.direct_io && (opts.staging_bytes < kDirectAlign || opts.staging_bytes % kDirectAlign != 0))
        return make_error(ErrorCode::InvalidArgument, "io staging_bytes: " + std::to_string(opts.staging_bytes) + " must be a non-zero multiple of 4096");
    std::unique_ptr<AsyncPrefetcher> p(new AsyncPrefetcher(file, opts));
    if (opts.direct_io) {
        for (SourceFile f : p->file_->files()) {
            f.fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
            if (f.fd >= 0) p->direct_files_.push_back(std::move(f));  // else unsupported here: buffered reads
        }
        if (opts.pack_cache) p->cache_direct_fd_ = ::open(opts.pack_cache->path().c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
    }
    if (opts.pack_cache) {
        p->decode_ = std::make_unique<DecodeStage>(opts.decode_threads, opts.threads + opts.decode_threads, cache_scratch_bytes(*opts.pack_cache));
        p->stats_.decode_threads = opts.decode_threads;
    }
    for (uint32 i = 0; i < opts.threads; ++i) p->threads_.emplace_back([q = p.get()] { q->worker(); });
    return p;
}

AsyncPrefetcher::~AsyncPrefetcher() {
    shutdown();
    for (const SourceFile& f : direct_files_) ::close(f.fd);
    int fd = cache_direct_fd_.exchange(-1);
    if (fd >= 0) ::close(fd);
}

void AsyncPrefetcher::shutdown() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    // First the decode stage: an I/O thread waiting for a scratch buffer wakes (and fails its
    // job); decodes queued or submitted from now on complete with an error.
    if (decode_) decode_->shutdown();
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
    for (auto& q : left) complete(q, make_error(ErrorCode::Io, file_->path().string() + ": " + q.job.what + ": I/O stopped before the read ran"));
}

void AsyncPrefetcher::complete(Queued& q, ExpectedVoid r) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stats_.jobs++;
        if (r) {
            const uint64 n = job_bytes(q.job, opts_.pack_cache.get());
            stats_.bytes_read += n;
            if (q.job.cached) stats_.cache_bytes_read += n;
        } else {
            stats_.failures++;
        }
    }
    if (q.job.on_done) q.job.on_done(r);
    q.promise.set_value(std::move(r));
}

void AsyncPrefetcher::read_begins() {
    std::lock_guard<std::mutex> lk(mu_);
    if (reading_++ == 0) active_since_ = std::chrono::steady_clock::now();
}

void AsyncPrefetcher::read_ends(double secs) {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.busy_seconds += secs;
    if (--reading_ == 0) stats_.active_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - active_since_).count();
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
    complete(q, make_error(ErrorCode::Io, file_->path().string() + ": " + q.job.what + ": I/O is shut down"));
    return f;
}

ExpectedVoid AsyncPrefetcher::run_now(ReadJob job) {
    std::unique_lock<std::mutex> own(demand_mu_, std::defer_lock);
    // Pack cache reads always run on the I/O threads: a scratch buffer (up to a whole
    // pack) for the caller's thread would cost more RAM than the hand-off costs time.
    if (!job.cached) own.try_lock();
    if (!own.owns_lock()) {
        // A cache read, or another caller holds the demand buffers: an I/O thread runs it.
        job.urgent = true;
        return submit(std::move(job)).get();
    }
    Queued q;
    q.job = std::move(job);
    auto f = q.promise.get_future();
    complete(q, run_and_count(q.job, demand_bufs_));
    return f.get();
}

ExpectedVoid AsyncPrefetcher::run_and_count(const ReadJob& job, Buffers& bufs) {
    read_begins();
    auto t0 = std::chrono::steady_clock::now();
    ExpectedVoid r = run_job(job, bufs);
    read_ends(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return r;
}

IoStats AsyncPrefetcher::stats() const {
    std::lock_guard<std::mutex> lk(mu_);
    return stats_;
}

void AsyncPrefetcher::worker() {
    Buffers bufs;
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
        if (q.job.cached) {
            start_cached(std::move(q));
            continue;
        }
        ExpectedVoid r = run_and_count(q.job, bufs);
        complete(q, std::move(r));
    }
}

ExpectedVoid AsyncPrefetcher::run_job(const ReadJob& job, Buffers& bufs) {
    VKS_TRY(file_->check_unchanged());
    if (job.cached) return make_error(ErrorCode::Internal, job.what + ": a pack cache read reached the model read path");
    for (const auto& e : job.extents) {
        if (opts_.fault_hook) {
            auto r = opts_.fault_hook(e.file_offset, e.size);
            if (!r) return make_error(r.error().code, file_->path().string() + ": " + job.what + ": read of " + std::to_string(e.size) + " bytes at " +
                                                          std::to_string(e.file_offset) + " failed: " + r.error().message);
        }
        if (direct_file(e.file_offset, e.size)) {
            if (!bufs.staging) bufs.staging = aligned_in(bufs.staging_owner, opts_.staging_bytes);
            VKS_TRY(read_direct(e, job.what, bufs.staging));
        } else {
            VKS_TRY(read_buffered(e, job.what));
        }
        std::lock_guard<std::mutex> lk(mu_);
        stats_.reads++;
    }
    return {};
}

ExpectedVoid AsyncPrefetcher::check_cached(const ReadJob& job) const {
    const PackCacheReader* cache = opts_.pack_cache.get();
    if (!cache) return make_error(ErrorCode::InvalidArgument, file_->path().string() + ": " + job.what + ": a pack cache read without a pack cache");
    const CachedPackRead& c = *job.cached;
    if (!job.extents.empty()) return make_error(ErrorCode::InvalidArgument, job.what + ": a job reads either model extents or one cached pack");
    if (c.pack_id >= cache->pack_count() || c.size != cache->raw_bytes(c.pack_id))
        return make_error(ErrorCode::InvalidArgument, cache->path().string() + ": " + job.what + ": pack " + std::to_string(c.pack_id) + " of " +
                                                          std::to_string(c.size) + " bytes does not match the cache's table");
    VKS_TRY(file_->check_unchanged());
    if (opts_.fault_hook) {
        const uint64 off = cache->stored_offset(c.pack_id), n = cache->stored_bytes(c.pack_id);
        auto r = opts_.fault_hook(off, n);
        if (!r) return make_error(r.error().code, cache->path().string() + ": " + job.what + ": read of " + std::to_string(n) + " bytes at " +
                                                      std::to_string(off) + " failed: " + r.error().message);
    }
    return {};
}

// The stored bytes of the job's pack -> a scratch buffer of decode_ (O_DIRECT, or buffered),
// or, for a raw pack read buffered, straight into the destination (`scratch` stays null).
// `stored` points at the first stored byte. `scratch`, when set, is the caller's to release.
ExpectedVoid AsyncPrefetcher::read_cached(const ReadJob& job, uint8*& scratch, const uint8*& stored) {
    const PackCacheReader* cache = opts_.pack_cache.get();
    const CachedPackRead& c = *job.cached;
    const uint64 stored_n = cache->stored_bytes(c.pack_id);
    auto wrap = [&](const Error& e) { return make_error(e.code, job.what + ": " + e.message); };
    const bool direct = cache_direct_fd_.load() >= 0 && !cache_direct_refused_.load();
    if (direct || !cache->is_raw(c.pack_id)) {
        scratch = decode_->acquire_scratch();  // waits while every buffer holds an undecoded pack
        if (!scratch) return make_error(ErrorCode::Io, cache->path().string() + ": " + job.what + ": I/O stopped before the read ran");
    }
    read_begins();
    const auto t0 = std::chrono::steady_clock::now();
    ExpectedVoid r;
    if (direct) r = read_stored_direct(c.pack_id, scratch, stored);
    if (r && !stored && cache->is_raw(c.pack_id)) {
        r = cache->read_stored(c.pack_id, std::span<uint8>(c.dst, c.size));
        stored = c.dst;
    } else if (r && !stored) {
        r = cache->read_stored(c.pack_id, std::span<uint8>(scratch, stored_n));
        stored = scratch;
    }
    read_ends(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!r) return wrap(r.error());
    std::lock_guard<std::mutex> lk(mu_);
    stats_.reads++;
    return {};
}

void AsyncPrefetcher::start_cached(Queued q) {
    ExpectedVoid r = check_cached(q.job);
    uint8* scratch = nullptr;
    const uint8* stored = nullptr;
    if (r) r = read_cached(q.job, scratch, stored);
    if (!r) {
        decode_->release_scratch(scratch);
        complete(q, std::move(r));
        return;
    }
    // std::function needs a copyable callable: the job (with its promise) rides in a shared_ptr.
    auto held = std::make_shared<Queued>(std::move(q));
    const bool urgent = held->job.urgent;
    decode_->submit(urgent, [this, held, scratch, stored](bool stopped) { decode_cached(*held, scratch, stored, stopped); });
}

// On a decode thread: stored bytes -> destination, XXH3 check (PackCacheReader::decode_pack),
// then the scratch buffer goes back and the job completes.
void AsyncPrefetcher::decode_cached(Queued& q, uint8* scratch, const uint8* stored, bool stopped) {
    const PackCacheReader* cache = opts_.pack_cache.get();
    const CachedPackRead& c = *q.job.cached;
    ExpectedVoid r;
    if (stopped) {
        r = make_error(ErrorCode::Io, cache->path().string() + ": " + q.job.what + ": I/O stopped before the pack was decoded");
    } else {
        const auto t0 = std::chrono::steady_clock::now();
        r = cache->decode_pack(c.pack_id, std::span<const uint8>(stored, cache->stored_bytes(c.pack_id)), std::span<uint8>(c.dst, c.size));
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!r) r = make_error(r.error().code, q.job.what + ": " + r.error().message);
        std::lock_guard<std::mutex> lk(mu_);
        stats_.decode_seconds += secs;
        if (r) {
            stats_.bytes_decoded += c.size;
            stats_.packs_decoded++;
        }
    }
    decode_->release_scratch(scratch);
    complete(q, std::move(r));
}

// O_DIRECT read of the blocks that hold pack `pack_id`'s stored bytes into `scratch`
// (cache_scratch_bytes() long); `stored` points at the first stored byte in it. On a
// filesystem that refuses O_DIRECT (EINVAL) it switches the cache to buffered reads for
// good and returns with `stored` null (the caller reads buffered).
ExpectedVoid AsyncPrefetcher::read_stored_direct(uint64 pack_id, uint8* scratch, const uint8*& stored) {
    const PackCacheReader& cache = *opts_.pack_cache;
    const uint64 off = cache.stored_offset(pack_id), n = cache.stored_bytes(pack_id);
    const uint64 begin = align_down(off, kDirectAlign), end = align_up(off + n, kDirectAlign);
    uint64 got = 0;
    while (begin + got < end) {
        ssize_t r = ::pread(cache_direct_fd_.load(), scratch + got, size_t(end - begin - got), off_t(begin + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EINVAL) {
            // Not closed here: another thread may be in pread on it (the destructor closes it).
            cache_direct_refused_.store(true);
            return {};
        }
        if (r < 0) return make_error(ErrorCode::Io, cache.path().string() + ": pack " + std::to_string(pack_id) + ": read at byte " + std::to_string(begin + got) + " failed: " + std::strerror(errno));
        if (r == 0) break;  // end of file (the last pack ends before a block boundary)
        got += uint64(r);
    }
    if (begin + got < off + n)
        return make_error(ErrorCode::Corrupt, cache.path().string() + ": pack " + std::to_string(pack_id) + ": file ends at byte " + std::to_string(begin + got) +
                                                  " (truncated cache)");
    stored = scratch + (off - begin);
    return {};
}

ExpectedVoid AsyncPrefetcher::read_buffered(const ReadExtent& e, const std::string& what) {
    auto r = file_->read_range(e.file_offset, e.size, e.dst);
    if (!r) return make_error(r.error().code, what + ": " + r.error().message);
    return {};
}

const SourceFile* AsyncPrefetcher::direct_file(uint64 offset, uint64 size) const {
    if (direct_refused_.load()) return nullptr;
    for (const SourceFile& f : direct_files_)
        if (offset >= f.base && offset - f.base <= f.size && size <= f.size - (offset - f.base)) return &f;
    return nullptr;
}

// O_DIRECT: aligned offset, length and address. Reads [align_down(off), ...) of the file
// that holds the extent (its offsets are the source's minus the file's base) in chunks of
// the staging size and copies the wanted bytes out.
ExpectedVoid AsyncPrefetcher::read_direct(const ReadExtent& e, const std::string& what, uint8* staging) {
    const SourceFile* file = direct_file(e.file_offset, e.size);
    if (!file) return read_buffered(e, what);
    const uint64 begin = e.file_offset - file->base, end = begin + e.size;
    uint64 pos = align_down(begin, kDirectAlign);
    while (pos < end) {
        const uint64 want = std::min<uint64>(opts_.staging_bytes, align_up(end - pos, kDirectAlign));
        ssize_t r = ::pread(file->fd, staging, size_t(want), off_t(pos));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EINVAL) {  // O_DIRECT refused by this filesystem: buffered for good
            direct_refused_.store(true);
            const uint64 from = std::max(pos, begin);
            return read_buffered(ReadExtent{file->base + from, end - from, e.dst + (from - begin)}, what);
        }
        if (r < 0) return make_error(ErrorCode::Io, file->path.string() + ": " + what + ": read at byte " + std::to_string(pos) + " failed: " + std::strerror(errno));
        const uint64 got_end = pos + uint64(r);
        const uint64 copy_begin = std::max(pos, begin);
        const uint64 copy_end = std::min(got_end, end);
        if (copy_end > copy_begin) std::memcpy(e.dst + (copy_begin - begin), staging + (copy_begin - pos), size_t(copy_end - copy_begin));
        if (got_end >= end) break;
        if (uint64(r) < want)  // short read before `end`: the file ends early
            return make_error(ErrorCode::Io, file->path.string() + ": " + what + ": unexpected end of file at byte " + std::to_string(got_end) +
                                                 " (the model file was truncated or replaced while running)");
        pos = got_end;  // still aligned: a full chunk was read
    }
    return {};
}

}  // namespace vk_symbiote
