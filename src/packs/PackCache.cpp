#include "packs/PackCache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "compression/Compression.h"
#include "gguf/ModelSource.h"
#include "packs/PackCacheFormat.h"
#include "packs/PackCacheSource.h"

namespace vk_symbiote {

using namespace pack_format;

std::vector<std::string> pack_cache_codec_list(const PackCacheOptions& opts) {
    std::vector<std::string> names = opts.candidates.empty() ? std::vector<std::string>{"blosc-zstd", "exponent"} : opts.candidates;
    if (opts.uncompressed) names.clear();
    names.push_back(kRawCodecName);
    return names;
}

Path pack_cache_path(const Path& model, const Path& cache_dir) {
    Path dir = cache_dir.empty() ? model.parent_path() : cache_dir;
    return dir / (model.filename().string() + kPackCacheExtension);
}

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

Expected<std::unique_ptr<PackCacheReader>> PackCacheReader::open(const Path& cache, const ModelSource& model,
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

// Reads the header, codec names and pack table into `b` (data_start bytes) and checks
// their checksum; sets codecs_. Returns the offset of the pack table.
Expected<size_t> PackCacheReader::read_header(std::vector<uint8>& b, uint64 fsize) {
    b.assign(kFixedHeader, 0);
    VKS_TRY(pread_exact(fd_, b.data(), b.size(), 0, path_, "header"));
    if (std::memcmp(b.data(), kMagic, 8) != 0) return make_error(ErrorCode::Corrupt, path_.string() + ": not a pack cache (bad magic)");
    if (uint32 v = uint32(get_at(b, 8, 4)); v != kPackCacheVersion)
        return make_error(ErrorCode::Corrupt, path_.string() + ": pack cache format version " + std::to_string(v) + ", this build reads " + std::to_string(kPackCacheVersion));
    const uint64 n_codecs = get_at(b, 12, 4), n_packs = get_at(b, 40, 8), data_start = get_at(b, 56, 8);
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
    const size_t sum_at = o + kEntryBytes * n_packs;
    if (get_at(b, sum_at, 8) != table_checksum(b, sum_at))
        return make_error(ErrorCode::Corrupt, path_.string() + ": header / pack table checksum mismatch (the cache is damaged)");
    return o;
}

// The intact header against the model (size, header hash) and the plan (max pack size,
// pack count, layout).
ExpectedVoid PackCacheReader::check_matches(const std::vector<uint8>& b, const ModelSource& model, const PackPlan& plan) const {
    if (get_at(b, 16, 8) != model.file_size()) return mismatch(path_, "model size in bytes", get_at(b, 16, 8), model.file_size());
    auto hh = source_header_hash(model);
    if (!hh) return hh.error();
    if (get_at(b, 24, 8) != *hh) return mismatch(path_, "hash of the GGUF header", get_at(b, 24, 8), *hh);
    if (get_at(b, 32, 8) != plan.max_pack_bytes) return mismatch(path_, "max pack bytes", get_at(b, 32, 8), plan.max_pack_bytes);
    if (get_at(b, 40, 8) != plan.packs.size()) return mismatch(path_, "pack count", get_at(b, 40, 8), plan.packs.size());
    if (get_at(b, 48, 8) != plan_hash(plan)) return mismatch(path_, "hash of the pack layout", get_at(b, 48, 8), plan_hash(plan));
    return {};
}

ExpectedVoid PackCacheReader::read_entries(const std::vector<uint8>& b, size_t table_at, uint64 fsize, const PackPlan& plan) {
    const uint64 n_packs = get_at(b, 40, 8), data_start = get_at(b, 56, 8);
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

// PackCacheSource.h: the recorded identity of the model file, else every pack's bytes in
// the model against the table's hashes (then the identity is recorded, if the cache file
// is writable: a read-only cache is checked again on the next open).
ExpectedVoid PackCacheReader::bind_source(const std::vector<uint8>& b, const ModelSource& model, const PackPlan& plan) {
    const int64 started = wall_clock_ns();
    auto now = source_identity(model);
    if (!now) return now.error();
    const std::span<const uint8> recorded(b.data() + kIdentityAt, kSourceIdentityBytes);
    if (decode_source_identity(recorded) == *now) return {};
    std::vector<uint64> hashes;
    for (const Entry& e : entries_) hashes.push_back(e.raw_hash);
    VKS_TRY(verify_source_content(model, plan, hashes, path_));
    content_checked_ = true;
    if (!identity_settled(*now, started)) return {};
    const std::vector<uint8> id = encode_source_identity(&*now);
    // Best effort (a read-only cache is checked again next time), and only into the file
    // this reader has open: another process may have renamed a new cache into place.
    const int wfd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (wfd < 0) return {};
    struct stat ws {}, rs {};
    if (::fstat(wfd, &ws) == 0 && ::fstat(fd_, &rs) == 0 && ws.st_dev == rs.st_dev && ws.st_ino == rs.st_ino)
        (void)pwrite_all(wfd, id.data(), id.size(), kIdentityAt, path_);
    ::close(wfd);
    return {};
}

ExpectedVoid PackCacheReader::load(const ModelSource& model, const PackPlan& plan) {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return make_error(ErrorCode::Io, path_.string() + ": fstat failed: " + errno_text());
    const uint64 fsize = uint64(st.st_size);
    std::vector<uint8> b;
    auto table_at = read_header(b, fsize);
    if (!table_at) return table_at.error();
    VKS_TRY(check_matches(b, model, plan));
    VKS_TRY(read_entries(b, *table_at, fsize, plan));
    return bind_source(b, model, plan);
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
