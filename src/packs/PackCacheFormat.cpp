#include "packs/PackCacheFormat.h"

#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "gguf/ModelSource.h"

namespace vk_symbiote::pack_format {

std::string errno_text() { return std::strerror(errno); }

Expected<uint64> source_header_hash(const ModelSource& model) {
    auto head = model.header_bytes();
    if (!head) return head.error();
    return uint64(XXH3_64bits(head->data(), head->size()));
}

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

uint64 table_end(const std::vector<std::string>& codecs, uint64 n_packs) {
    uint64 names = 0;
    for (const std::string& c : codecs) names += 1 + c.size();
    return kFixedHeader + names + kEntryBytes * n_packs;
}

uint64 table_checksum(const std::vector<uint8>& b, size_t end) {
    std::vector<uint8> copy(b.begin(), b.begin() + long(end));
    std::memset(copy.data() + kIdentityAt, 0, kSourceIdentityBytes);
    return XXH3_64bits(copy.data(), copy.size());
}

std::vector<uint8> encode_header(const HeaderFields& h, const std::vector<std::string>& codecs,
                                 const std::vector<PackCacheReader::Entry>& entries, const SourceIdentity* identity) {
    std::vector<uint8> b(h.data_start, 0);
    std::memcpy(b.data(), kMagic, 8);
    put_at(b, 8, kPackCacheVersion, 4);
    put_at(b, 12, codecs.size(), 4);
    put_at(b, 16, h.model_size, 8);
    put_at(b, 24, h.model_header_hash, 8);
    put_at(b, 32, h.max_pack_bytes, 8);
    put_at(b, 40, h.pack_count, 8);
    put_at(b, 48, h.plan_hash, 8);
    put_at(b, 56, h.data_start, 8);
    const std::vector<uint8> id = encode_source_identity(identity);
    std::memcpy(b.data() + kIdentityAt, id.data(), id.size());
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
    put_at(b, o, table_checksum(b, o), 8);
    return b;
}

}  // namespace vk_symbiote::pack_format
