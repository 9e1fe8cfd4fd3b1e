// Compression: the one table of pack codecs (name -> factory, Compression.cpp) and the entry
// points the engine uses; a new codec is a CompressionBackend plus one row. Names: none,
// blosc-zstd (alias blosc, blosc2), blosc-zstd-bit, blosc-lz4, blosc-lz4-bit, zfp (f32),
// exponent, exponent-zstd. All functions are safe to call concurrently.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compression/CompressionBackend.h"

namespace vk_symbiote {

struct CodecDescription {
    std::string name;
    std::string alias_of;  // empty for a canonical codec
    std::string help;
};

// Every registered name, canonical names first, in table order.
const std::vector<CodecDescription>& codec_table();
// Canonical names only (what benchmarks and tests iterate).
std::vector<std::string> canonical_codec_names();

// Makes the codec registered as `name` (case-sensitive); unknown names are an
// InvalidArgument error listing the valid ones.
Expected<std::unique_ptr<CompressionBackend>> make_codec(std::string_view name, const CodecOptions& opts = {});

// Decompresses any frame (the codec is read from its header) into `dst`, whose size
// must equal the frame's raw size. `threads` is the per-call internal thread count
// for codecs that have one (blosc).
ExpectedVoid decompress_frame(std::span<const uint8> frame, std::span<uint8> dst, int threads = 1);

}  // namespace vk_symbiote
