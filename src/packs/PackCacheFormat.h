// PackCacheFormat: the byte layout of the .vkspack file (PackCache.h describes it), shared
// by the builder (PackCacheBuild.cpp) and the reader (PackCache.cpp). Internal to src/packs.
#pragma once

#include <string>
#include <vector>

#include "packs/PackCache.h"
#include "packs/PackCacheSource.h"

namespace vk_symbiote::pack_format {

inline constexpr char kMagic[8] = {'V', 'K', 'S', 'P', 'A', 'C', 'K', '\0'};
inline constexpr size_t kIdentityAt = 64;  // the source identity block (PackCacheSource.h)
inline constexpr size_t kFixedHeader = kIdentityAt + kSourceIdentityBytes;
inline constexpr size_t kEntryBytes = 40;
inline constexpr uint64 kDataAlign = 4096;
inline constexpr uint32 kMaxCodecs = 64;
// Header + table of a sane cache are far below this; a bigger data start is corruption.
inline constexpr uint64 kMaxHeaderBytes = uint64(1) << 30;

// Fixed fields of the header (offsets as in PackCache.h).
struct HeaderFields {
    uint64 model_size = 0;
    uint64 model_header_hash = 0;
    uint64 max_pack_bytes = 0;
    uint64 pack_count = 0;
    uint64 plan_hash = 0;
    uint64 data_start = 0;
};

std::string errno_text();
// XXH3-64 of ModelSource::header_bytes() (a GGUF file: the header, [0, data_offset)).
Expected<uint64> source_header_hash(const ModelSource& model);
// Hash of what the plan asks for: a cache made for another layout must not be used.
uint64 plan_hash(const PackPlan& plan);
// Little-endian `bytes`-byte integers at `off` (bounds are the caller's).
void put_at(std::vector<uint8>& b, size_t off, uint64 v, int bytes);
uint64 get_at(const std::vector<uint8>& b, size_t off, int bytes);
ExpectedVoid pwrite_all(int fd, const uint8* p, uint64 n, uint64 off, const Path& path);
// Bytes of the header, codec names and pack table (before the table checksum).
uint64 table_end(const std::vector<std::string>& codecs, uint64 n_packs);
// XXH3-64 of the header and table bytes [0, end) with the source identity block read as
// zeros: the identity is rewritten in place after a content check (PackCacheSource.h).
uint64 table_checksum(const std::vector<uint8>& b, size_t end);
// Header + codec names + table + its checksum, padded to h.data_start; the source identity
// block holds `identity` (null: none, zeros).
std::vector<uint8> encode_header(const HeaderFields& h, const std::vector<std::string>& codecs,
                                 const std::vector<PackCacheReader::Entry>& entries, const SourceIdentity* identity);

}  // namespace vk_symbiote::pack_format
