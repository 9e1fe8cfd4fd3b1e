// PackCacheSetup: what the runtime does before streaming packs from the compressed
// pack cache: maps the compression_algorithm option to the codecs a cache is built
// with, and finds a usable cache or builds one.
//
// A cache is used only when its header is intact, it matches the model (size, GGUF
// header hash, and the content the packs were built from: PackCacheSource.h) and the pack
// plan (max pack size, layout), and it was built with the codecs compression_algorithm
// asks for; otherwise it is rebuilt (the reason is returned for the log). Pack data is not read here: every pack's XXH3 is checked on
// each read at run time, so a damaged pack is an error of the read, never wrong data.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "packs/PackCache.h"

namespace vk_symbiote {

// compression_algorithm -> PackCacheOptions::candidates:
//   "blosc", "blosc2"  {} (the default list): blosc-zstd on every pack and, on packs
//                      whose tensors are all f16 / bf16, also the exponent codec; per
//                      pack the smaller frame wins ("blosc2" names Debian's libblosc)
//   "exponent"         {"exponent"}: exponent split + rANS on every pack (f32 too)
//   "zfp"              {"zfp"}: f32 packs only; packs of other dtypes are stored raw
//   another codec name of Compression.h (canonical, e.g. "blosc-lz4"): that codec only
// In every case a pack that does not shrink by PackCacheOptions::min_saving is stored
// raw. Errors: InvalidArgument for "none" (no cache at all: the caller's decision) and
// unknown names (the message lists the valid ones).
Expected<std::vector<std::string>> pack_cache_candidates(std::string_view compression_algorithm);

struct PackCacheStatus {
    Path path;
    bool built = false;          // false: an existing cache was valid and is used as is
    // An existing cache's packs were checked against the model's bytes (its identity was not
    // the recorded one: touched, copied or moved; PackCacheSource.h).
    bool content_checked = false;
    // Why an existing file was rebuilt (empty when none existed or it was used as is). A
    // valid cache built with other codecs that cannot be replaced (e.g. read-only
    // directory) is used as it is (built == false) and this says so.
    std::string rebuilt_because;
};

// Returns a cache of `model` for `plan` that PackCacheReader::open accepts and that was
// built with pack_cache_codec_list(opts) (or, when that cannot be written, an existing
// valid cache built with other codecs): the existing file at pack_cache_path() when it
// qualifies, else a newly built one (`progress` as in build_pack_cache). Errors: those
// of build_pack_cache (e.g. Io when the directory is not writable; a directory whose
// mode has no write bit at all counts as not writable even for root) and, should the new
// file not open, those of PackCacheReader::open.
Expected<PackCacheStatus> ensure_pack_cache(const ModelSource& model, const PackPlan& plan, const PackCacheOptions& opts,
                                            PackCacheProgressFn progress = {});

}  // namespace vk_symbiote
