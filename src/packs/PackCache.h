// PackCache: the compressed pack cache file. build_pack_cache() compresses every pack
// of a PackPlan once and writes them into one file; PackCacheReader serves them back,
// verified, so the runtime can read fewer bytes from disk.
//
// File layout (all integers little-endian):
//
//   offset size  field
//   0      8     magic "VKSPACK\0"
//   8      4     format version (kPackCacheVersion)
//   12     4     codec count C (the candidate list; index C-1 is always "raw")
//   16     8     source model size in bytes
//   24     8     XXH3-64 of the GGUF header bytes [0, data_offset)
//   32     8     max_pack_bytes the plan was made with
//   40     8     pack count N
//   48     8     XXH3-64 of the plan layout (ids, sizes, every slice's offsets)
//   56     8     data start (first stored pack; a multiple of 4096)
//   64     40    source identity: the model file's (device, inode, mtime, ctime) when its
//                content last matched the pack hashes, + XXH3-64 of those 32 bytes; zeros:
//                none (PackCacheSource.h). Rewritten in place, so not in the checksum below
//   104    ...   C codec names, each: u8 length + bytes
//   ...    40*N  pack table, per pack: u64 offset, u64 raw size, u64 stored size,
//                u8 codec index, 7 bytes zero, u64 XXH3-64 of the raw pack bytes
//   ...    8     XXH3-64 of every byte above (header + codec names + table), the
//                identity read as zeros
//   data start ... stored packs, back to back in pack id (= use) order, so a forward
//                pass reads the file front to back; each is a compression frame (CompressionBackend.h, itself
//                checksummed) or, for codec "raw", the pack's raw bytes
//
// A pack's raw bytes are its buffer as the pack loader builds it: byte_size bytes,
// zero-filled, each PackPlan::extents() run copied from the model at its pack_offset.
//
// The file is written to "<cache>.tmp.<pid>" and renamed when complete, so an
// interrupted or failed conversion leaves neither a cache nor a temporary file: a
// signal that ends the program removes it (common/TempFiles.h, in the tools), and for a
// process killed outright the next conversion removes temporary files whose process is
// gone.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "packs/PackPlanner.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ModelSource;

// 2: the model is matched by content (the source identity block), no longer by mtime.
inline constexpr uint32 kPackCacheVersion = 2;
inline constexpr const char* kPackCacheExtension = ".vkspack";
inline constexpr const char* kRawCodecName = "raw";

struct PackCacheOptions {
    Path cache_dir;                       // empty: next to the model
    // Codecs tried on every pack (make_codec names). Empty: "blosc-zstd" for every pack
    // and also "exponent" for packs whose tensors are all f16 / bf16. A codec that does
    // not suit a pack's dtype is skipped for that pack.
    std::vector<std::string> candidates;
    double min_saving = 0.05;             // stored raw unless compressed <= (1 - min_saving) * raw
    unsigned threads = 0;                 // compression threads; 0: hardware concurrency
    bool uncompressed = false;            // every pack stored raw (`pack --no-compression`)
    // RAM the build may hold (the engine passes --ram-gb; 0: no limit): threads are cut to
    // budget / pack_cache_build_bytes_per_thread(), and a budget below one thread's need is
    // BudgetTooSmall before anything is written.
    uint64 memory_budget_bytes = 0;
    struct PackCacheBuildStats* stats = nullptr;  // filled by a successful build when set
};

// What a build used: threads, and the peak of the bytes it held (raw pack buffers and
// compressed frames by capacity; the codecs' own scratch is not seen), next to the
// per-thread bound its thread count was cut by.
struct PackCacheBuildStats {
    unsigned threads = 0;
    uint64 peak_held_bytes = 0;
    uint64 bytes_per_thread = 0;
};

// The RAM one build thread may hold: the largest raw pack and two compressed frames of it
// (the best so far and the newest; a frame grown chunk by chunk may hold twice its bytes).
uint64 pack_cache_build_bytes_per_thread(uint64 largest_pack_bytes);

// Called after each pack is written, serialised (never two calls at once), from a
// worker thread. Returning an error aborts the conversion: the temporary file is
// removed and build_pack_cache() returns that error.
using PackCacheProgressFn = std::function<ExpectedVoid(uint64 packs_done, uint64 packs_total, uint64 raw_bytes_done)>;

// The codec names a cache built with `opts` lists in its table: the candidates
// ({"blosc-zstd", "exponent"} when opts.candidates is empty; none when uncompressed), then
// "raw".
std::vector<std::string> pack_cache_codec_list(const PackCacheOptions& opts);

// Where the cache of `model` goes: <cache_dir or the model's directory>/<model file name>.vkspack
Path pack_cache_path(const Path& model, const Path& cache_dir);

// Writes the cache for `plan` (made from `model`'s registry) and returns its path.
// Errors: Io (read/write/rename), InvalidArgument (unknown candidate codec, bad
// min_saving), BudgetTooSmall (memory_budget_bytes), whatever `progress` returns.
Expected<Path> build_pack_cache(const ModelSource& model, const PackPlan& plan, const PackCacheOptions& opts,
                                PackCacheProgressFn progress = {});

// Reads packs back from a cache file. Immutable after open(); read_pack() uses pread
// and may be called from several threads at once.
class PackCacheReader {
public:
    // Errors: Io (cannot open / read), Corrupt (bad magic / version / table checksum,
    // the file is shorter than its table says, the header does not match `model` (size,
    // header hash) or `plan` (max pack size, pack count, layout), or the model's bytes are
    // not the ones the packs were built from (PackCacheSource.h: checked, reading the whole
    // model, when the model file's identity is not the recorded one)); the message names
    // the cache file and what does not match.
    static Expected<std::unique_ptr<PackCacheReader>> open(const Path& cache, const ModelSource& model,
                                                           const PackPlan& plan);
    ~PackCacheReader();
    PackCacheReader(const PackCacheReader&) = delete;
    PackCacheReader& operator=(const PackCacheReader&) = delete;

    // Reads pack `pack_id` into `dst` (size must equal the pack's raw size), decompresses
    // it and verifies the XXH3 of the result. Errors: InvalidArgument (bad id / size),
    // Io (read failed), Corrupt (short read, bad frame, checksum mismatch; names the
    // cache file and the pack id). dst holds garbage after an error.
    ExpectedVoid read_pack(uint64 pack_id, std::span<uint8> dst) const;

    // The two halves of read_pack(), for callers that do their own reads (the I/O
    // threads, with O_DIRECT and a reused scratch buffer):
    //  - read_stored(): pread of the pack's stored bytes [stored_offset, + stored_bytes)
    //    into dst (size must equal stored_bytes). Errors: InvalidArgument, Io, Corrupt
    //    (file shorter than its table: truncated while running).
    //  - decode_pack(): `stored` (the pack's stored bytes, however they were read) ->
    //    dst (size raw_bytes), then the XXH3 of dst is checked. For a "raw" pack,
    //    `stored` may be dst itself (no copy). Errors: InvalidArgument, Corrupt (bad
    //    frame, checksum mismatch; names the cache file and the pack id).
    ExpectedVoid read_stored(uint64 pack_id, std::span<uint8> dst) const;
    ExpectedVoid decode_pack(uint64 pack_id, std::span<const uint8> stored, std::span<uint8> dst) const;

    uint64 pack_count() const { return entries_.size(); }
    uint64 raw_bytes(uint64 pack_id) const { return entries_.at(pack_id).raw_size; }
    uint64 stored_bytes(uint64 pack_id) const { return entries_.at(pack_id).stored_size; }
    // Byte offset of the pack's stored bytes in the cache file (packs lie in id order).
    uint64 stored_offset(uint64 pack_id) const { return entries_.at(pack_id).offset; }
    // The codec pack `pack_id` is stored with ("raw" when stored uncompressed).
    const std::string& codec_name(uint64 pack_id) const { return codecs_.at(entries_.at(pack_id).codec); }
    // The largest stored_bytes() of any pack (what one read buffer must hold).
    uint64 max_stored_bytes() const;
    bool is_raw(uint64 pack_id) const { return codec_name(pack_id) == kRawCodecName; }
    // Codec names of the file's table: the candidates it was built with, then "raw".
    const std::vector<std::string>& codec_names() const { return codecs_; }
    // Stored bytes / raw bytes over all packs (0.68 = the cache is 68% of the weights).
    double ratio() const;
    const Path& path() const { return path_; }
    // True when open() read the model to check the packs' content (its identity was not the
    // recorded one); false when the recorded identity vouched for it.
    bool content_checked() const { return content_checked_; }

    struct Entry {
        uint64 offset = 0;
        uint64 raw_size = 0;
        uint64 stored_size = 0;
        uint8 codec = 0;
        uint64 raw_hash = 0;
    };

private:
    PackCacheReader() = default;
    ExpectedVoid load(const ModelSource& model, const PackPlan& plan);
    Expected<size_t> read_header(std::vector<uint8>& b, uint64 file_size);
    ExpectedVoid check_matches(const std::vector<uint8>& b, const ModelSource& model, const PackPlan& plan) const;
    ExpectedVoid read_entries(const std::vector<uint8>& b, size_t table_at, uint64 file_size, const PackPlan& plan);
    ExpectedVoid bind_source(const std::vector<uint8>& b, const ModelSource& model, const PackPlan& plan);

    Path path_;
    int fd_ = -1;
    bool content_checked_ = false;
    std::vector<std::string> codecs_;
    std::vector<Entry> entries_;
};

}  // namespace vk_symbiote
