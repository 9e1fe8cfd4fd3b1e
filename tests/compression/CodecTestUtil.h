// Helpers shared by the compression tests: every canonical codec, and a round-trip
// check (compress, then decompress both through the codec and through the generic
// decompress_frame) that reports the first differing byte.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "compression/Compression.h"

namespace vk_symbiote::test {

// Level 3 keeps the sweeps fast (zstd 19 is ~20x slower to compress); the formats and
// decoders do not depend on the level.
inline std::vector<std::unique_ptr<CompressionBackend>> all_codecs() {
    std::vector<std::unique_ptr<CompressionBackend>> v;
    CodecOptions fast;
    fast.level = 3;
    for (const auto& n : canonical_codec_names()) {
        auto c = make_codec(n, fast);
        EXPECT_TRUE(c) << c.error().to_string();
        if (c) v.push_back(std::move(*c));
    }
    return v;
}

inline ::testing::AssertionResult same_bytes(std::span<const uint8> a, std::span<const uint8> b) {
    if (a.size() != b.size())
        return ::testing::AssertionFailure() << "size " << a.size() << " vs " << b.size();
    for (size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i])
            return ::testing::AssertionFailure() << "first difference at byte " << i << " of " << a.size() << ": "
                                                 << int(a[i]) << " vs " << int(b[i]);
    return ::testing::AssertionSuccess();
}

// Round-trips `data` through `codec` as `dtype`; `frame_bytes` (optional) receives the
// compressed size.
inline ::testing::AssertionResult roundtrip(const CompressionBackend& codec, std::span<const uint8> data, DType dtype,
                                            uint64* frame_bytes = nullptr) {
    auto frame = codec.compress(data, dtype);
    if (!frame) return ::testing::AssertionFailure() << codec.name() << " compress: " << frame.error().to_string();
    if (frame_bytes) *frame_bytes = frame->size();
    auto info = parse_frame_header(*frame);
    if (!info || info->raw_size != data.size() || info->codec != codec.id() || info->dtype != dtype)
        return ::testing::AssertionFailure() << codec.name() << ": frame header does not describe the input";
    std::vector<uint8> out(data.size(), 0xA5);
    auto r = codec.decompress(*frame, out);
    if (!r) return ::testing::AssertionFailure() << codec.name() << " decompress: " << r.error().to_string();
    auto same = same_bytes(data, out);
    if (!same) return same << " (" << codec.name() << ", " << dtype_name(dtype) << ")";
    std::vector<uint8> out2(data.size(), 0x5A);
    auto r2 = decompress_frame(*frame, out2);
    if (!r2) return ::testing::AssertionFailure() << "decompress_frame: " << r2.error().to_string();
    same = same_bytes(data, out2);
    if (!same) return same << " (decompress_frame, " << codec.name() << ")";
    return ::testing::AssertionSuccess();
}

inline std::vector<uint8> random_bytes(size_t n, uint64 seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint8> v(n);
    for (auto& b : v) b = uint8(rng());
    return v;
}

}  // namespace vk_symbiote::test
