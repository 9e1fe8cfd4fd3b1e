// Corrupt frames give an Error, never a crash or an overrun: truncated frames,
// flipped bytes anywhere (header or payload), hostile payloads fed to each decoder
// directly (no checksum to hide behind), wrong destination sizes.
#include <gtest/gtest.h>

#include "compression/CodecSamples.h"
#include "CodecTestUtil.h"

using namespace vk_symbiote;
using test::all_codecs;

namespace {

// A weight-like buffer of `dtype` that every codec shrinks, with an odd tail.
std::vector<uint8> sample(DType dtype) {
    auto w = normal_weights(20000, dtype, 0.02f, 5);
    w.push_back(0x42);
    return w;
}

DType dtype_for(const CompressionBackend& c) { return c.suits(DType::BF16) ? DType::BF16 : DType::F32; }

}  // namespace

TEST(CodecCorrupt, TruncatedFramesAreErrors) {
    for (const auto& c : all_codecs()) {
        const DType t = dtype_for(*c);
        const auto data = sample(t);
        auto frame = c->compress(data, t);
        ASSERT_TRUE(frame) << frame.error().to_string();
        std::vector<uint8> out(data.size());
        for (size_t len = 0; len < frame->size(); len += 1 + len / 7) {
            std::span<const uint8> cut(frame->data(), len);
            auto r = c->decompress(cut, out);
            EXPECT_FALSE(r) << c->name() << " accepted a frame cut to " << len << " bytes";
            EXPECT_FALSE(decompress_frame(cut, out));
        }
    }
}

TEST(CodecCorrupt, FlippedBytesAreErrors) {
    for (const auto& c : all_codecs()) {
        const DType t = dtype_for(*c);
        const auto data = sample(t);
        auto frame = c->compress(data, t);
        ASSERT_TRUE(frame);
        std::vector<uint8> out(data.size());
        for (size_t i = 0; i < frame->size(); i += (i < kFrameHeaderSize ? 1 : 1 + frame->size() / 300)) {
            auto bad = *frame;
            bad[i] ^= uint8(1u << (i % 8));
            auto r = decompress_frame(bad, out);
            ASSERT_FALSE(r) << c->name() << ": flipped byte " << i << " of " << bad.size() << " went unnoticed";
            EXPECT_TRUE(r.error().code == ErrorCode::Corrupt || r.error().code == ErrorCode::Format ||
                        r.error().code == ErrorCode::InvalidArgument)
                << r.error().to_string();
        }
    }
}

TEST(CodecCorrupt, WrongDestinationSizeOrCodecIsAnError) {
    auto exp = make_codec("exponent");
    auto none = make_codec("none");
    ASSERT_TRUE(exp && none);
    const auto data = sample(DType::BF16);
    auto frame = (*exp)->compress(data, DType::BF16);
    ASSERT_TRUE(frame);
    std::vector<uint8> small(data.size() - 1), big(data.size() + 1), right(data.size());
    EXPECT_FALSE(decompress_frame(*frame, small));
    EXPECT_FALSE(decompress_frame(*frame, big));
    auto r = (*none)->decompress(*frame, right);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("exponent"), std::string::npos) << r.error().message;
}

// Decoders see hostile payloads directly. Truncated / extended payloads must be
// errors (every format's sizes must add up); flipped bytes must not crash (they may
// decode to different bytes where the format has raw sections: the frame checksum is
// what catches those).
TEST(CodecCorrupt, HostilePayloadsNeverCrashDecoders) {
    for (const auto& c : all_codecs()) {
        const DType t = dtype_for(*c);
        const auto data = sample(t);
        std::vector<uint8> payload;
        ASSERT_TRUE(c->encode_payload(data, t, payload));
        std::vector<uint8> out(data.size());
        ASSERT_TRUE(c->decode_payload(payload, t, out));
        ASSERT_TRUE(test::same_bytes(data, out));
        for (size_t len : {size_t(0), size_t(1), payload.size() / 2, payload.size() - 1}) {
            EXPECT_FALSE(c->decode_payload(std::span<const uint8>(payload.data(), len), t, out))
                << c->name() << " accepted a payload cut to " << len;
        }
        auto longer = payload;
        longer.push_back(0);
        EXPECT_FALSE(c->decode_payload(longer, t, out)) << c->name() << " accepted a trailing byte";
        std::mt19937_64 rng(17);
        for (int k = 0; k < 400; ++k) {
            auto bad = payload;
            const int flips = 1 + int(rng() % 4);
            for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] ^= uint8(1 + rng() % 255);
            (void)c->decode_payload(bad, t, out);  // must return (error or bytes), never crash
        }
        // Pure garbage of assorted sizes.
        for (size_t n : {size_t(8), size_t(16), size_t(64), size_t(4096)}) {
            auto junk = test::random_bytes(n, n);
            (void)c->decode_payload(junk, t, out);
        }
    }
}

TEST(CodecCorrupt, HeaderFieldsAreChecked) {
    auto none = make_codec("none");
    ASSERT_TRUE(none);
    const std::vector<uint8> data(100, 7);
    auto frame = (*none)->compress(data, DType::F32);
    ASSERT_TRUE(frame);
    auto info = parse_frame_header(*frame);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->raw_size, 100u);
    EXPECT_EQ(info->frame_size(), frame->size());
    auto bad_codec = *frame;
    bad_codec[5] = 99;
    EXPECT_EQ(parse_frame_header(bad_codec).error().code, ErrorCode::Format);
    auto bad_version = *frame;
    bad_version[4] = 2;
    EXPECT_EQ(parse_frame_header(bad_version).error().code, ErrorCode::Format);
    auto huge = *frame;
    huge[23] = 0x7F;  // payload size far past the buffer
    EXPECT_EQ(parse_frame_header(huge).error().code, ErrorCode::Corrupt);
}
