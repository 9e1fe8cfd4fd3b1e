#include "packs/PackCache.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "compression/Compression.h"
#include "gguf/GGUFLoader.h"

namespace vk_symbiote {

namespace {

constexpr char kMagic[8] = {'V', 'K', 'S', 'P', 'A', 'C', 'K', '\0'};
constexpr size_t kFixedHeader = 72;
constexpr size_t kEntryBytes = 40;
constexpr uint64 kDataAlign = 4096;
constexpr uint32 kMaxCodecs = 64;
// Header + table of a sane cache are far below this; a bigger data start is corruption.
constexpr uint64 kMaxHeaderBytes = uint64(1) << 30;

std::string errno_text() { return std::strerror(errno); }

Expected<int64> file_mtime_ns(const Path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return make_error(ErrorCode::Io, p.string() + ": stat failed: " + errno_text());
    return int64(st.st_mtim.tv_sec) * 1000000000 + int64(st.st_mtim.tv_nsec);
}

Expected<uint64> gguf_header_hash(const GGUFLoader& model) {
    std::vector<uint8> head(model.data_offset());
    VKS_TRY(model.read_range(0, head.size(), head.data()));
    return uint64(XXH3_64bits(head.data(), head.size()));
}

// Hash of what the plan asks for: a cache made for another layout must not be used.
uint64 plan_hash(const PackPlan& plan) {
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    auto add = [&](uint64 v) { XXH3_64bits_update(st, &v, sizeof v); };
    add(plan.packs.size());
    for (const PackMetadata& p : plan.packs) {
        add(p.pack_id);
        add(p.byte_size);
        add(p.slices.size());
        for (const PackSlice& s : p.slices) {
            add(s.file_offset);
            add(s.byte_size);
            add(s.pack_offset);
        }
    }
    uint64 h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

// The pack's buffer: byte_size bytes, zero-filled, every extent read at its pack_offset.
ExpectedVoid read_raw_pack(const GGUFLoader& model, const PackMetadata& p, std::vector<uint8>& buf) {
    buf.assign(p.byte_size, 0);
    for (const PackPlan::Extent& e : PackPlan::extents(p)) {
        if (e.pack_offset > buf.size() || e.size > buf.size() - e.pack_offset)
            return make_error(ErrorCode::Internal, "pack " + std::to_string(p.pack_id) + ": extent past the pack buffer");
        VKS_TRY(model.read_range(e.file_offset, e.size, buf.data() + e.pack_offset));
    }
    return {};
}

// Element type of a pack's tensors; nullopt when slices mix types (or are unknown).
std::optional<DType> pack_dtype(const GGUFLoader& model, const PackMetadata& p) {
    std::optional<DType> t;
    for (const PackSlice& s : p.slices) {
        const GGUFTensorInfo* ti = model.find_tensor(s.tensor_name);
        if (!ti || (t && *t != ti->dtype)) return std::nullopt;
        t = ti->dtype;
    }
    return t;
}

void put_at(std::vector<uint8>& b, size_t off, uint64 v, int bytes) {
    for (int i = 0; i < bytes; ++i) b[off + size_t(i)] = uint8(v >> (8 * i));
}
uint64 get_at(const std::vector<uint8>& b, size_t off, int bytes) {
    uint64 v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64(b[off + size_t(i)]) << (8 * i);
    return v;
}

ExpectedVoid pwrite_all(int fd, const uint8* p, uint64 n, uint64 off, const Path& path) {
    uint64 done = 0;
    while (done < n) {
        ssize_t r = ::pwrite(fd, p + done, size_t(std::min<uint64>(n - done, uint64(1) << 30)), off_t(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return make_error(ErrorCode::Io, path.string() + ": write at byte " + std::to_string(off + done) + " failed: " + errno_text());
        done += uint64(r);
    }
    return {};
}

// Fixed fields of the header (offsets as in PackCache.h).
struct HeaderFields {
    uint64 model_size = 0;
    int64 model_mtime_ns = 0;
    uint64 model_header_hash = 0;
    uint64 max_pack_bytes = 0;
    uint64 pack_count = 0;
    uint64 plan_hash = 0;
    uint64 data_start = 0;
};

uint64 table_end(const std::vector<std::string>& codecs, uint64 n_packs) {
    uint64 names = 0;
    for (const std::string& c : codecs) names += 1 + c.size();
    return kFixedHeader + names + kEntryBytes * n_packs;
}

// Header + codec names + table + its checksum, padded to h.data_start.
std::vector<uint8> encode_header(const HeaderFields& h, const std::vector<std::string>& codecs,
                                 const std::vector<PackCacheReader::Entry>& entries) {
    std::vector<uint8> b(h.data_start, 0);
    std::memcpy(b.data(), kMagic, 8);
    put_at(b, 8, kPackCacheVersion, 4);
    put_at(b, 12, codecs.size(), 4);
    put_at(b, 16, h.model_size, 8);
    put_at(b, 24, uint64(h.model_mtime_ns), 8);
    put_at(b, 32, h.model_header_hash, 8);
    put_at(b, 40, h.max_pack_bytes, 8);
    put_at(b, 48, h.pack_count, 8);
    put_at(b, 56, h.plan_hash, 8);
    put_at(b, 64, h.data_start, 8);
    size_t o = kFixedHeader;
    for (const std::string& c : codecs) {
        b[o++] = uint8(c.size());
        std::memcpy(b.data() + o, c.data(), c.size());
        o += c.size();
    }
    for (const PackCacheReader::Entry& e : entries) {
        put_at(b, o, e.offset, 8);
        put_at(b, o + 8, e.raw_size, 8);
        put_at(b, o + 16, e.stored_size, 8);
        b[o + 24] = e.codec;
        put_at(b, o + 32, e.raw_hash, 8);
        o += kEntryBytes;
    }
    put_at(b, o, XXH3_64bits(b.data(), o), 8);
    return b;
}

// The shared state of one conversion's worker threads.
struct Builder {
    Builder(const GGUFLoader& m, const PackPlan& pl, const PackCacheOptions& o, const PackCacheProgressFn& pr)
        : model(m), plan(pl), opts(o), progress(pr) {}

    const GGUFLoader& model;
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
    Expected<std::pair<uint8, std::vector<uint8>>> compress(const PackMetadata& p, const std::vector<uint8>& raw) const {
        std::optional<DType> dt = pack_dtype(model, p);
        DType t = dt.value_or(DType::F32);
        const uint8 raw_idx = uint8(codec_names.size() - 1);
        std::pair<uint8, std::vector<uint8>> best{raw_idx, {}};
        bool defaults = opts.candidates.empty();
        for (size_t i = 0; i < codecs.size(); ++i) {
            if (!codecs[i]->suits(t)) continue;
            // Default list: the exponent codec only for packs that are all f16 / bf16.
            if (defaults && codec_names[i] == "exponent" && (!dt || *dt == DType::F32)) continue;
            auto frame = codecs[i]->compress(raw, t);
            if (!frame) return make_error(frame.error().code, "pack " + std::to_string(p.pack_id) + ": " + frame.error().message);
            if (best.first == raw_idx || frame->size() < best.second.size()) best = {uint8(i), std::move(*frame)};
        }
        double limit = (1.0 - opts.min_saving) * double(raw.size());
        if (best.first != raw_idx && double(best.second.size()) > limit) best = {raw_idx, {}};
        return best;
    }

    ExpectedVoid one_pack(const PackMetadata& p, std::vector<uint8>& raw) {
        VKS_TRY(read_raw_pack(model, p, raw));
        auto c = compress(p, raw);
        if (!c) return c.error();
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
        for (uint64 i; !failed && (i = next++) < plan.packs.size();) {
            if (auto r = one_pack(plan.packs[i], raw); !r) fail(r.error());
        }
    }
};

ExpectedVoid check_plan_ids(const PackPlan& plan) {
    for (size_t i = 0; i < plan.packs.size(); ++i)
        if (plan.packs[i].pack_id != i)
            return make_error(ErrorCode::InvalidArgument, "pack cache: plan pack " + std::to_string(i) + " has id " + std::to_string(plan.packs[i].pack_id));
    return {};
}

ExpectedVoid run_builder(Builder& b, const HeaderFields& h) {
    unsigned n = b.opts.threads ? b.opts.threads : std::max(1u, std::thread::hardware_concurrency());
    n = unsigned(std::min<uint64>(n, std::max<uint64>(1, b.plan.packs.size())));
    std::vector<std::thread> pool;
    for (unsigned i = 0; i < n; ++i) pool.emplace_back([&b] { b.worker(); });
    for (std::thread& t : pool) t.join();
    if (b.error) return *b.error;
    std::vector<uint8> head = encode_header(h, b.codec_names, b.entries);
    VKS_TRY(pwrite_all(b.fd, head.data(), head.size(), 0, b.tmp));
    if (::fsync(b.fd) != 0) return make_error(ErrorCode::Io, b.tmp.string() + ": fsync failed: " + errno_text());
    return {};
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

std::vector<std::string> pack_cache_codec_list(const PackCacheOptions& opts) {
    std::vector<std::string> names = opts.candidates.empty() ? std::vector<std::string>{"blosc-zstd", "exponent"} : opts.candidates;
    names.push_back(kRawCodecName);
    return names;
}

Path pack_cache_path(const Path& model, const Path& cache_dir) {
    Path dir = cache_dir.empty() ? model.parent_path() : cache_dir;
    return dir / (model.filename().string() + kPackCacheExtension);
}

Expected<Path> build_pack_cache(const GGUFLoader& model, const PackPlan& plan, const PackCacheOptions& opts,
                                PackCacheProgressFn progress) {
    if (!(opts.min_saving >= 0.0 && opts.min_saving < 1.0))
        return make_error(ErrorCode::InvalidArgument, "pack cache: min_saving must be in [0, 1), got " + std::to_string(opts.min_saving));
    VKS_TRY(check_plan_ids(plan));
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
    auto mtime = file_mtime_ns(model.path());
    if (!mtime) return mtime.error();
    h.model_mtime_ns = *mtime;
    auto hh = gguf_header_hash(model);
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
    b.fd = ::open(b.tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (b.fd < 0) return make_error(ErrorCode::Io, b.tmp.string() + ": cannot create the pack cache: " + errno_text());
    ExpectedVoid r = run_builder(b, h);
    if (::close(b.fd) != 0 && r) r = make_error(ErrorCode::Io, b.tmp.string() + ": close failed: " + errno_text());
    if (r && ::rename(b.tmp.c_str(), out.c_str()) != 0)
        r = make_error(ErrorCode::Io, out.string() + ": cannot rename " + b.tmp.string() + " into place: " + errno_text());
    if (!r) {
        ::unlink(b.tmp.c_str());
        return r.error();
    }
    return out;
}

// ---------------------------------------------------------------------------------
// Reader

PackCacheReader::~PackCacheReader() {
    if (fd_ >= 0) ::close(fd_);
}

double PackCacheReader::ratio() const {
    uint64 raw = 0, stored = 0;
    for (const Entry& e : entries_) {
        raw += e.raw_size;
        stored += e.stored_size;
    }
    return raw ? double(stored) / double(raw) : 1.0;
}

Expected<std::unique_ptr<PackCacheReader>> PackCacheReader::open(const Path& cache, const GGUFLoader& model,
                                                                 const PackPlan& plan) {
    std::unique_ptr<PackCacheReader> r(new PackCacheReader());
    r->path_ = cache;
    r->fd_ = ::open(cache.c_str(), O_RDONLY | O_CLOEXEC);
    if (r->fd_ < 0) return make_error(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io, cache.string() + ": cannot open the pack cache: " + errno_text());
    VKS_TRY(r->load(model, plan));
    return r;
}

namespace {

// Reads [0, size) of fd; a short file is Corrupt (the cache was truncated).
ExpectedVoid pread_exact(int fd, uint8* dst, uint64 n, uint64 off, const Path& path, const std::string& what) {
    uint64 got = 0;
    while (got < n) {
        ssize_t r = ::pread(fd, dst + got, size_t(std::min<uint64>(n - got, uint64(1) << 30)), off_t(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return make_error(ErrorCode::Io, path.string() + ": " + what + ": read at byte " + std::to_string(off + got) + " failed: " + errno_text());
        if (r == 0) return make_error(ErrorCode::Corrupt, path.string() + ": " + what + ": file ends at byte " + std::to_string(off + got) + " (truncated cache)");
        got += uint64(r);
    }
    return {};
}

Error mismatch(const Path& cache, const std::string& what, uint64 in_cache, uint64 expected) {
    return make_error(ErrorCode::Corrupt, cache.string() + ": pack cache does not match: " + what + " is " + std::to_string(in_cache) +
                                              " in the cache, " + std::to_string(expected) + " now; rebuild it (vk_symbiote pack)");
}

}  // namespace

ExpectedVoid PackCacheReader::load(const GGUFLoader& model, const PackPlan& plan) {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return make_error(ErrorCode::Io, path_.string() + ": fstat failed: " + errno_text());
    const uint64 fsize = uint64(st.st_size);
    std::vector<uint8> b(kFixedHeader);
    VKS_TRY(pread_exact(fd_, b.data(), b.size(), 0, path_, "header"));
    if (std::memcmp(b.data(), kMagic, 8) != 0) return make_error(ErrorCode::Corrupt, path_.string() + ": not a pack cache (bad magic)");
    if (uint32 v = uint32(get_at(b, 8, 4)); v != kPackCacheVersion)
        return make_error(ErrorCode::Corrupt, path_.string() + ": pack cache format version " + std::to_string(v) + ", this build reads " + std::to_string(kPackCacheVersion));
    const uint64 n_codecs = get_at(b, 12, 4), n_packs = get_at(b, 48, 8), data_start = get_at(b, 64, 8);
    if (n_codecs == 0 || n_codecs > kMaxCodecs) return make_error(ErrorCode::Corrupt, path_.string() + ": bad codec count " + std::to_string(n_codecs));
    if (data_start > kMaxHeaderBytes || data_start > fsize || n_packs > data_start / kEntryBytes)
        return make_error(ErrorCode::Corrupt, path_.string() + ": header sizes out of range (data start " + std::to_string(data_start) + ", " +
                                                  std::to_string(n_packs) + " packs, file " + std::to_string(fsize) + " bytes)");
    b.resize(data_start);
    VKS_TRY(pread_exact(fd_, b.data(), b.size(), 0, path_, "header"));
    size_t o = kFixedHeader;
    for (uint64 i = 0; i < n_codecs; ++i) {
        if (o >= b.size() || o + 1 + b[o] > b.size()) return make_error(ErrorCode::Corrupt, path_.string() + ": codec names past the header");
        codecs_.emplace_back(reinterpret_cast<const char*>(b.data() + o + 1), b[o]);
        o += 1 + b[o];
    }
    if (o + kEntryBytes * n_packs + 8 > b.size()) return make_error(ErrorCode::Corrupt, path_.string() + ": pack table past the data start");
    const size_t table_at = o, sum_at = o + kEntryBytes * n_packs;
    if (get_at(b, sum_at, 8) != XXH3_64bits(b.data(), sum_at))
        return make_error(ErrorCode::Corrupt, path_.string() + ": header / pack table checksum mismatch (the cache is damaged)");

    // The header is intact: now compare it with the model and the plan.
    if (get_at(b, 16, 8) != model.file_size()) return mismatch(path_, "model size in bytes", get_at(b, 16, 8), model.file_size());
    auto mtime = file_mtime_ns(model.path());
    if (!mtime) return mtime.error();
    if (get_at(b, 24, 8) != uint64(*mtime)) return mismatch(path_, "model modification time (ns)", get_at(b, 24, 8), uint64(*mtime));
    auto hh = gguf_header_hash(model);
    if (!hh) return hh.error();
    if (get_at(b, 32, 8) != *hh) return mismatch(path_, "hash of the GGUF header", get_at(b, 32, 8), *hh);
    if (get_at(b, 40, 8) != plan.max_pack_bytes) return mismatch(path_, "max pack bytes", get_at(b, 40, 8), plan.max_pack_bytes);
    if (n_packs != plan.packs.size()) return mismatch(path_, "pack count", n_packs, plan.packs.size());
    if (get_at(b, 56, 8) != plan_hash(plan)) return mismatch(path_, "hash of the pack layout", get_at(b, 56, 8), plan_hash(plan));

    entries_.resize(n_packs);
    for (uint64 i = 0; i < n_packs; ++i) {
        size_t e = table_at + kEntryBytes * i;
        Entry& en = entries_[i];
        en = Entry{get_at(b, e, 8), get_at(b, e + 8, 8), get_at(b, e + 16, 8), b[e + 24], get_at(b, e + 32, 8)};
        const std::string at = path_.string() + ": pack " + std::to_string(i) + ": ";
        if (en.codec >= codecs_.size()) return make_error(ErrorCode::Corrupt, at + "codec index " + std::to_string(en.codec) + " out of range");
        if (en.raw_size != plan.packs[i].byte_size) return mismatch(path_, "pack " + std::to_string(i) + " raw size", en.raw_size, plan.packs[i].byte_size);
        if (codecs_[en.codec] == kRawCodecName && en.stored_size != en.raw_size) return make_error(ErrorCode::Corrupt, at + "raw pack with stored size != raw size");
        if (en.offset < data_start || en.offset > fsize || en.stored_size > fsize - en.offset)
            return make_error(ErrorCode::Corrupt, at + "stored bytes [" + std::to_string(en.offset) + ", +" + std::to_string(en.stored_size) +
                                                      ") past the end of the file (" + std::to_string(fsize) + " bytes; truncated cache)");
    }
    return {};
}

ExpectedVoid PackCacheReader::read_pack(uint64 pack_id, std::span<uint8> dst) const {
    if (pack_id >= entries_.size())
        return make_error(ErrorCode::InvalidArgument, path_.string() + ": pack id " + std::to_string(pack_id) + " out of range (" + std::to_string(entries_.size()) + " packs)");
    const Entry& e = entries_[pack_id];
    if (dst.size() != e.raw_size)
        return make_error(ErrorCode::InvalidArgument, path_.string() + ": pack " + std::to_string(pack_id) + ": destination holds " + std::to_string(dst.size()) +
                                                          " bytes, the pack " + std::to_string(e.raw_size));
    if (codecs_[e.codec] == kRawCodecName) {
        VKS_TRY(read_stored(pack_id, dst));
        return decode_pack(pack_id, dst, dst);
    }
    std::vector<uint8> frame(e.stored_size);
    VKS_TRY(read_stored(pack_id, frame));
    return decode_pack(pack_id, frame, dst);
}

ExpectedVoid PackCacheReader::read_stored(uint64 pack_id, std::span<uint8> dst) const {
    if (pack_id >= entries_.size())
        return make_error(ErrorCode::InvalidArgument, path_.string() + ": pack id " + std::to_string(pack_id) + " out of range (" + std::to_string(entries_.size()) + " packs)");
    const Entry& e = entries_[pack_id];
    if (dst.size() != e.stored_size)
        return make_error(ErrorCode::InvalidArgument, path_.string() + ": pack " + std::to_string(pack_id) + ": read buffer holds " + std::to_string(dst.size()) +
                                                          " bytes, the stored pack " + std::to_string(e.stored_size));
    return pread_exact(fd_, dst.data(), e.stored_size, e.offset, path_, "pack " + std::to_string(pack_id));
}

ExpectedVoid PackCacheReader::decode_pack(uint64 pack_id, std::span<const uint8> stored, std::span<uint8> dst) const {
    if (pack_id >= entries_.size())
        return make_error(ErrorCode::InvalidArgument, path_.string() + ": pack id " + std::to_string(pack_id) + " out of range (" + std::to_string(entries_.size()) + " packs)");
    const Entry& e = entries_[pack_id];
    const std::string what = "pack " + std::to_string(pack_id);
    if (dst.size() != e.raw_size || stored.size() != e.stored_size)
        return make_error(ErrorCode::InvalidArgument, path_.string() + ": " + what + ": buffers of " + std::to_string(stored.size()) + " / " + std::to_string(dst.size()) +
                                                          " bytes, the pack stores " + std::to_string(e.stored_size) + " / " + std::to_string(e.raw_size));
    if (codecs_[e.codec] == kRawCodecName) {
        if (stored.data() != dst.data()) std::memcpy(dst.data(), stored.data(), dst.size());
    } else if (auto r = decompress_frame(stored, dst, 1); !r) {
        return make_error(ErrorCode::Corrupt, path_.string() + ": " + what + " (" + codecs_[e.codec] + "): " + r.error().message);
    }
    if (XXH3_64bits(dst.data(), dst.size()) != e.raw_hash)
        return make_error(ErrorCode::Corrupt, path_.string() + ": " + what + ": checksum of the decompressed bytes does not match (the cache is damaged; rebuild it with `vk_symbiote pack` or delete it)");
    return {};
}

uint64 PackCacheReader::max_stored_bytes() const {
    uint64 m = 0;
    for (const Entry& e : entries_) m = std::max(m, e.stored_size);
    return m;
}

}  // namespace vk_symbiote
