#include "packs/PackCacheSource.h"

#include <sys/stat.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "gguf/ModelSource.h"

namespace vk_symbiote {

namespace {

void put_u64(std::vector<uint8>& b, size_t off, uint64 v) {
    for (int i = 0; i < 8; ++i) b[off + size_t(i)] = uint8(v >> (8 * i));
}
uint64 get_u64(std::span<const uint8> b, size_t off) {
    uint64 v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64(b[off + size_t(i)]) << (8 * i);
    return v;
}

}  // namespace

Expected<SourceIdentity> source_identity(int fd, const Path& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return make_error(ErrorCode::Io, path.string() + ": fstat failed: " + std::strerror(errno));
    SourceIdentity id;
    id.device = uint64(st.st_dev);
    id.inode = uint64(st.st_ino);
    id.mtime_ns = int64(st.st_mtim.tv_sec) * 1'000'000'000 + int64(st.st_mtim.tv_nsec);
    id.ctime_ns = int64(st.st_ctim.tv_sec) * 1'000'000'000 + int64(st.st_ctim.tv_nsec);
    return id;
}

int64 wall_clock_ns() {
    return int64(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

Expected<SourceIdentity> source_identity(const ModelSource& model) {
    const std::vector<SourceFile> files = model.files();
    if (files.empty()) return make_error(ErrorCode::InvalidArgument, model.path().string() + ": the model has no file to identify");
    if (files.size() == 1) return source_identity(files[0].fd, files[0].path);
    // Several files (shards): any change to one moves the latest ctime forward, and a file
    // replaced by another changes the combined (device, inode) hash.
    SourceIdentity all;
    std::vector<uint64> ids;
    for (const SourceFile& f : files) {
        auto id = source_identity(f.fd, f.path);
        if (!id) return id.error();
        ids.push_back(id->device);
        ids.push_back(id->inode);
        all.mtime_ns = std::max(all.mtime_ns, id->mtime_ns);
        all.ctime_ns = std::max(all.ctime_ns, id->ctime_ns);
    }
    all.device = ids[0];
    all.inode = XXH3_64bits(ids.data(), ids.size() * sizeof(uint64));
    return all;
}

bool identity_settled(const SourceIdentity& id, int64 now_ns) { return now_ns - id.ctime_ns >= kIdentitySettleNs; }

std::vector<uint8> encode_source_identity(const SourceIdentity* id) {
    std::vector<uint8> b(kSourceIdentityBytes, 0);
    if (!id) return b;
    put_u64(b, 0, id->device);
    put_u64(b, 8, id->inode);
    put_u64(b, 16, uint64(id->mtime_ns));
    put_u64(b, 24, uint64(id->ctime_ns));
    put_u64(b, 32, XXH3_64bits(b.data(), 32));
    return b;
}

std::optional<SourceIdentity> decode_source_identity(std::span<const uint8> b) {
    if (b.size() != kSourceIdentityBytes || get_u64(b, 32) != XXH3_64bits(b.data(), 32)) return std::nullopt;
    return SourceIdentity{get_u64(b, 0), get_u64(b, 8), int64(get_u64(b, 16)), int64(get_u64(b, 24))};
}

ExpectedVoid read_raw_pack(const ModelSource& model, const PackMetadata& p, std::vector<uint8>& buf) {
    buf.assign(p.byte_size, 0);
    for (const PackPlan::Extent& e : PackPlan::extents(p)) {
        if (e.pack_offset > buf.size() || e.size > buf.size() - e.pack_offset)
            return make_error(ErrorCode::Internal, "pack " + std::to_string(p.pack_id) + ": extent past the pack buffer");
        VKS_TRY(model.read_range(e.file_offset, e.size, buf.data() + e.pack_offset));
    }
    return {};
}

ExpectedVoid verify_source_content(const ModelSource& model, const PackPlan& plan, std::span<const uint64> raw_hashes, const Path& cache) {
    if (raw_hashes.size() != plan.packs.size())
        return make_error(ErrorCode::Internal, cache.string() + ": " + std::to_string(raw_hashes.size()) + " pack hashes for " +
                                                   std::to_string(plan.packs.size()) + " packs");
    std::vector<uint8> buf;
    for (size_t i = 0; i < plan.packs.size(); ++i) {
        const PackMetadata& p = plan.packs[i];
        VKS_TRY(read_raw_pack(model, p, buf));
        if (XXH3_64bits(buf.data(), buf.size()) == raw_hashes[i]) continue;
        const std::string tensor = p.slices.empty() ? std::string("?") : p.slices.front().tensor_name;
        return make_error(ErrorCode::Corrupt, cache.string() + ": pack cache was built from other content than " + model.path().string() +
                                                  " (pack " + std::to_string(i) + ", tensor '" + tensor +
                                                  "', differs: the model was replaced or modified); rebuild it (vk_symbiote pack)");
    }
    return {};
}

}  // namespace vk_symbiote
