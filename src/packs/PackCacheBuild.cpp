// The pack cache builder: reads every pack of the plan from the model, compresses it with
// each candidate codec on a pool of threads, and writes the winners in pack order into
// "<cache>.tmp.<pid>", renamed into place when complete (PackCache.h has the layout).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "common/TempFiles.h"
#include "common/Units.h"
#include "compression/Compression.h"
#include "gguf/ModelSource.h"
#include "packs/PackCache.h"
#include "packs/PackCacheFormat.h"
#include "packs/PackCacheSource.h"

namespace vk_symbiote {

using namespace pack_format;

namespace {

// Bytes held by the builder's threads now and at most (the build's own accounting).
struct HeldBytes {
    std::atomic<uint64> now{0};
    std::atomic<uint64> peak{0};
    void add(uint64 n) {
        const uint64 v = now.fetch_add(n) + n;
        uint64 p = peak.load();
        while (v > p && !peak.compare_exchange_weak(p, v)) {
        }
    }
    void sub(uint64 n) { now.fetch_sub(n); }
};

// Element type of a pack's tensors; nullopt when slices mix types (or are unknown).
std::optional<DType> pack_dtype(const ModelSource& model, const PackMetadata& p) {
    std::optional<DType> t;
    for (const PackSlice& s : p.slices) {
        const GGUFTensorInfo* ti = model.find_tensor(s.tensor_name);
        if (!ti || (t && *t != ti->dtype)) return std::nullopt;
        t = ti->dtype;
    }
    return t;
}

// The shared state of one conversion's worker threads.
struct Builder {
    Builder(const ModelSource& m, const PackPlan& pl, const PackCacheOptions& o, const PackCacheProgressFn& pr)
        : model(m), plan(pl), opts(o), progress(pr) {}

    const ModelSource& model;
    const PackPlan& plan;
    const PackCacheOptions& opts;
    const PackCacheProgressFn& progress;
    std::vector<std::string> codec_names;  // candidates then "raw"
    std::vector<std::unique_ptr<CompressionBackend>> codecs;
    Path tmp;
    int fd = -1;

    std::atomic<uint64> next{0};
    std::atomic<bool> failed{false};
    std::mutex mu;  // guards everything below
    std::condition_variable turn;  // signalled when next_write advances or on failure
    uint64 next_write = 0;         // packs are written in id (= use) order
    uint64 append_at = 0;
    uint64 packs_done = 0;
    uint64 raw_done = 0;
    std::vector<PackCacheReader::Entry> entries;
    std::optional<Error> error;
    HeldBytes held;  // raw buffers and frames, by capacity (PackCacheBuildStats)

    void fail(Error e) {
        {
            std::lock_guard<std::mutex> lk(mu);
            if (!error) error = std::move(e);
            failed = true;
        }
        turn.notify_all();
    }

    // Tries every suitable candidate on `raw`; returns the best frame and its codec
    // index, or the raw index with an empty frame when nothing saves min_saving.
    // The frame is counted in `held` from here until release() (by capacity).
    Expected<std::vector<uint8>> counted_frame(size_t codec, const PackMetadata& p, const std::vector<uint8>& raw, DType t) {
        auto frame = codecs[codec]->compress(raw, t);
        if (!frame) return make_error(frame.error().code, "pack " + std::to_string(p.pack_id) + ": " + frame.error().message);
        held.add(frame->capacity());
        return frame;
    }
    void release(std::vector<uint8>& frame) {
        held.sub(frame.capacity());
        std::vector<uint8>().swap(frame);
    }

    // Tries every suitable candidate on `raw`; returns the best frame and its codec index
    // (counted in `held`), or the raw index with an empty frame when nothing saves
    // min_saving. At most two frames are alive at once: the best so far and the newest.
    Expected<std::pair<uint8, std::vector<uint8>>> compress(const PackMetadata& p, const std::vector<uint8>& raw) {
        std::optional<DType> dt = pack_dtype(model, p);
        DType t = dt.value_or(DType::F32);
        const uint8 raw_idx = uint8(codec_names.size() - 1);
        std::pair<uint8, std::vector<uint8>> best{raw_idx, {}};
        bool defaults = opts.candidates.empty();
        for (size_t i = 0; i < codecs.size(); ++i) {
            if (!codecs[i]->suits(t)) continue;
            // Default list: the exponent codec only for packs that are all f16 / bf16.
            if (defaults && codec_names[i] == "exponent" && (!dt || *dt == DType::F32)) continue;
            auto frame = counted_frame(i, p, raw, t);
            if (!frame) return frame.error();
            if (best.first != raw_idx && frame->size() >= best.second.size()) {
                release(*frame);
                continue;
            }
            release(best.second);
            best = {uint8(i), std::move(*frame)};
        }
        double limit = (1.0 - opts.min_saving) * double(raw.size());
        if (best.first != raw_idx && double(best.second.size()) > limit) {
            release(best.second);
            best.first = raw_idx;
        }
        return best;
    }

    ExpectedVoid one_pack(const PackMetadata& p, std::vector<uint8>& raw) {
        VKS_TRY(read_raw_pack(model, p, raw));
        auto c = compress(p, raw);
        if (!c) return c.error();
        struct Release {  // the frame is given back on every path out
            Builder& b;
            std::vector<uint8>& f;
            ~Release() { b.release(f); }
        } give_back{*this, c->second};
        const bool is_raw = c->first == codec_names.size() - 1;
        const std::vector<uint8>& stored = is_raw ? raw : c->second;
        // Wait for this pack's turn: the file holds packs in use order, so a forward pass
        // reads it front to back. Ids are handed out in order, so the lowest unwritten
        // pack is always held by a running worker (no deadlock); at most `threads`
        // compressed packs wait in memory.
        std::unique_lock<std::mutex> lk(mu);
        turn.wait(lk, [&] { return next_write == p.pack_id || failed.load(); });
        if (failed) return {};  // another worker's error is the one reported
        PackCacheReader::Entry e{append_at, raw.size(), stored.size(), c->first, XXH3_64bits(raw.data(), raw.size())};
        VKS_TRY(pwrite_all(fd, stored.data(), stored.size(), append_at, tmp));
        append_at += stored.size();
        entries[p.pack_id] = e;
        ++packs_done;
        raw_done += raw.size();
        if (progress) VKS_TRY(progress(packs_done, plan.packs.size(), raw_done));
        ++next_write;
        turn.notify_all();
        return {};
    }

    void worker() {
        std::vector<uint8> raw;
        uint64 counted = 0;  // raw.capacity() as counted in `held`
        for (uint64 i; !failed && (i = next++) < plan.packs.size();) {
            raw.reserve(plan.packs[i].byte_size);
            held.add(raw.capacity() - counted);
            counted = raw.capacity();
            if (auto r = one_pack(plan.packs[i], raw); !r) fail(r.error());
        }
        held.sub(counted);
    }
};

ExpectedVoid check_plan_ids(const PackPlan& plan) {
    for (size_t i = 0; i < plan.packs.size(); ++i)
        if (plan.packs[i].pack_id != i)
            return make_error(ErrorCode::InvalidArgument, "pack cache: plan pack " + std::to_string(i) + " has id " + std::to_string(plan.packs[i].pack_id));
    return {};
}

// The identity to record for the content the build read: the model's identity before the
// build, if it is settled and unchanged after it (else none: the first open checks the
// content).
Expected<std::optional<SourceIdentity>> identity_to_record(const ModelSource& model, const SourceIdentity& before, int64 started_ns) {
    auto after = source_identity(model);
    if (!after) return after.error();
    if (*after != before || !identity_settled(before, started_ns)) return std::optional<SourceIdentity>();
    return std::optional<SourceIdentity>(before);
}

ExpectedVoid run_builder(Builder& b, const HeaderFields& h, unsigned n) {
    const int64 started = wall_clock_ns();
    auto before = source_identity(b.model);
    if (!before) return before.error();
    std::vector<std::thread> pool;
    for (unsigned i = 0; i < n; ++i) pool.emplace_back([&b] { b.worker(); });
    for (std::thread& t : pool) t.join();
    if (b.error) return *b.error;
    auto identity = identity_to_record(b.model, *before, started);
    if (!identity) return identity.error();
    std::vector<uint8> head = encode_header(h, b.codec_names, b.entries, *identity ? &**identity : nullptr);
    VKS_TRY(pwrite_all(b.fd, head.data(), head.size(), 0, b.tmp));
    if (::fsync(b.fd) != 0) return make_error(ErrorCode::Io, b.tmp.string() + ": fsync failed: " + errno_text());
    if (b.opts.stats) *b.opts.stats = PackCacheBuildStats{n, b.held.peak.load(), pack_cache_build_bytes_per_thread(b.plan.largest_pack_bytes)};
    return {};
}

// Compression threads: opts.threads (0: every hardware thread), no more than packs, and no
// more than the memory budget holds (BudgetTooSmall when it does not hold one).
Expected<unsigned> build_threads(const PackPlan& plan, const PackCacheOptions& opts) {
    unsigned n = opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
    n = unsigned(std::min<uint64>(n, std::max<uint64>(1, plan.packs.size())));
    if (opts.memory_budget_bytes == 0) return n;
    const uint64 per_thread = pack_cache_build_bytes_per_thread(plan.largest_pack_bytes);
    if (opts.memory_budget_bytes < per_thread)
        return make_error(ErrorCode::BudgetTooSmall, "building the pack cache takes " + format_gib_up(per_thread) + " (" + std::to_string(per_thread) +
                                                         " bytes: the largest pack and two compressed frames of it), more than the memory budget of " +
                                                         format_gib(opts.memory_budget_bytes));
    return unsigned(std::min<uint64>(n, opts.memory_budget_bytes / per_thread));
}

// Removes "<cache>.tmp.<pid>" files left by conversions that were killed (their
// process no longer exists); a live conversion's file is left alone.
void remove_stale_temp_files(const Path& cache) {
    const std::string prefix = cache.filename().string() + ".tmp.";
    std::error_code ec;
    std::filesystem::directory_iterator it(cache.parent_path(), ec);
    for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (name.rfind(prefix, 0) != 0) continue;
        std::string pid = name.substr(prefix.size());
        if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
        if (::kill(pid_t(std::stol(pid)), 0) != 0 && errno == ESRCH) ::unlink(it->path().c_str());
    }
}

}  // namespace

uint64 pack_cache_build_bytes_per_thread(uint64 largest_pack_bytes) {
    // A frame holds at most the pack plus the codec's framing; a vector grown chunk by chunk
    // may hold twice what it filled.
    const uint64 frame = 2 * (largest_pack_bytes + (uint64(64) << 10));
    return largest_pack_bytes + 2 * frame;
}

Expected<Path> build_pack_cache(const ModelSource& model, const PackPlan& plan, const PackCacheOptions& opts,
                                PackCacheProgressFn progress) {
    if (!(opts.min_saving >= 0.0 && opts.min_saving < 1.0))
        return make_error(ErrorCode::InvalidArgument, "pack cache: min_saving must be in [0, 1), got " + std::to_string(opts.min_saving));
    VKS_TRY(check_plan_ids(plan));
    auto threads = build_threads(plan, opts);
    if (!threads) return threads.error();
    Builder b(model, plan, opts, progress);
    b.codec_names = pack_cache_codec_list(opts);
    b.codec_names.pop_back();  // "raw" is appended after the candidates are checked
    if (b.codec_names.size() + 1 > kMaxCodecs)
        return make_error(ErrorCode::InvalidArgument, "pack cache: at most " + std::to_string(kMaxCodecs - 1) + " candidate codecs");
    for (const std::string& name : b.codec_names) {
        if (name.empty() || name.size() > 255 || name == kRawCodecName)
            return make_error(ErrorCode::InvalidArgument, "pack cache: bad candidate codec name '" + name + "'");
        auto c = make_codec(name, CodecOptions{.level = -1, .threads = 1});
        if (!c) return make_error(c.error().code, "pack cache: candidate codec: " + c.error().message);
        b.codecs.push_back(std::move(*c));
    }
    b.codec_names.push_back(kRawCodecName);

    HeaderFields h;
    h.model_size = model.file_size();
    auto hh = source_header_hash(model);
    if (!hh) return hh.error();
    h.model_header_hash = *hh;
    h.max_pack_bytes = plan.max_pack_bytes;
    h.pack_count = plan.packs.size();
    h.plan_hash = plan_hash(plan);
    h.data_start = (table_end(b.codec_names, plan.packs.size()) + 8 + kDataAlign - 1) / kDataAlign * kDataAlign;
    b.append_at = h.data_start;
    b.entries.resize(plan.packs.size());

    const Path out = pack_cache_path(model.path(), opts.cache_dir);
    remove_stale_temp_files(out);
    b.tmp = Path(out.string() + ".tmp." + std::to_string(::getpid()));
    const TempFileGuard on_signal(b.tmp);  // Ctrl-C during the build leaves no .tmp file
    b.fd = ::open(b.tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (b.fd < 0) return make_error(ErrorCode::Io, b.tmp.string() + ": cannot create the pack cache: " + errno_text());
    ExpectedVoid r = run_builder(b, h, *threads);
    if (::close(b.fd) != 0 && r) r = make_error(ErrorCode::Io, b.tmp.string() + ": close failed: " + errno_text());
    if (r && ::rename(b.tmp.c_str(), out.c_str()) != 0)
        r = make_error(ErrorCode::Io, out.string() + ": cannot rename " + b.tmp.string() + " into place: " + errno_text());
    if (!r) {
        ::unlink(b.tmp.c_str());
        return r.error();
    }
    return out;
}

}  // namespace vk_symbiote
