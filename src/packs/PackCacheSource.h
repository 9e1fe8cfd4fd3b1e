// PackCacheSource: binds a pack cache to the bytes of the model it was built from.
//
// Size, header hash and mtime cannot tell two models apart: a model replaced by another of
// the same shape and metadata, its mtime put back with `touch -r`, passes all three. The
// cache therefore trusts only the content: every pack's XXH3 (the pack table's raw_hash,
// taken from the model's bytes at build time) must be the XXH3 of that pack's bytes in the
// model file as it is now.
//
// Checking that reads the whole model, which would make every warm start as slow as a cold
// one. So the cache also records the model file's identity when its content was last
// checked: (device, inode, mtime, ctime). Any write to the file, a `touch -r` or a
// replacement (cp, mv) changes the ctime or the inode, and ctime cannot be set back by a
// user; so while the identity is the recorded one the content is the checked one and the
// warm start reads no weight. When the identity differs (the model was touched, copied,
// moved or replaced) the content is checked once, pack by pack, and the new identity is
// recorded for the next start.
//
// An identity is recorded only when the file's ctime lies kIdentitySettleNs before the
// check began: timestamps are coarse (a clock tick, or whole seconds on some file systems),
// so a file changed again within the same tick as its last change would keep its ctime.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "packs/PackPlanner.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ModelSource;

// How old (ns) a ctime must be, when the content check starts, for its identity to be
// recorded: above the coarsest timestamp granularity of common file systems (1 s).
inline constexpr int64 kIdentitySettleNs = 2'000'000'000;

// The identity of an open file (fstat of its descriptor).
struct SourceIdentity {
    uint64 device = 0;
    uint64 inode = 0;
    int64 mtime_ns = 0;
    int64 ctime_ns = 0;
    bool operator==(const SourceIdentity&) const = default;
};

// Bytes of an encoded identity in the cache header: four u64 + their XXH3-64.
inline constexpr size_t kSourceIdentityBytes = 40;

// fstat of `fd`; Io naming `path` on failure.
Expected<SourceIdentity> source_identity(int fd, const Path& path);
// The identity of a model's files (ModelSource::files): one file's own, or for several
// (shards) the first device, a hash of every (device, inode) and the latest mtime and ctime.
Expected<SourceIdentity> source_identity(const ModelSource& model);
// True when `id` may be recorded: its ctime is at least kIdentitySettleNs before `now_ns`
// (wall clock, ns since the epoch, taken before the content was read).
bool identity_settled(const SourceIdentity& id, int64 now_ns);
int64 wall_clock_ns();

// Encodes `id` (little-endian) with its checksum; all-zero bytes when `id` is null (none recorded).
std::vector<uint8> encode_source_identity(const SourceIdentity* id);
// The identity in `bytes` (kSourceIdentityBytes), or nullopt when none was recorded or the
// bytes are damaged (checksum mismatch): both mean "check the content".
std::optional<SourceIdentity> decode_source_identity(std::span<const uint8> bytes);

// The pack's buffer as the pack loader builds it: byte_size bytes, zero-filled, every
// extent read from the model at its pack_offset.
ExpectedVoid read_raw_pack(const ModelSource& model, const PackMetadata& p, std::vector<uint8>& buf);

// Checks that pack i of `plan`, read from `model` now, has XXH3-64 `raw_hashes[i]`, for
// every pack. Corrupt naming `cache`, the first pack that differs and its first tensor
// when one does; Io when the model cannot be read.
ExpectedVoid verify_source_content(const ModelSource& model, const PackPlan& plan, std::span<const uint64> raw_hashes,
                                   const Path& cache);

}  // namespace vk_symbiote
