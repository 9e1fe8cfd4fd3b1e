// Every codec round-trips bit-exactly: every tensor of every model in ../shared/models
// cut into pack-sized chunks, and adversarial buffers (special values, every f16/bf16
// bit pattern, odd sizes, random bytes).
#include <gtest/gtest.h>

#include <cmath>

#include "compression/CodecSamples.h"
#include "compression/ExponentCodec.h"
#include "gguf/GGUFLoader.h"
#include "support/TestPaths.h"
#include "CodecTestUtil.h"

using namespace vk_symbiote;
using test::all_codecs;
using test::roundtrip;

namespace {

constexpr size_t kChunk = 300 * 1000;  // pack-like chunk of a few hundred KB (not a power of 2)

std::vector<Path> model_files() {
    std::vector<Path> v;
    for (const auto& e : std::filesystem::directory_iterator(test::models_dir()))
        if (e.path().extension() == ".gguf") v.push_back(e.path());
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

TEST(CodecRoundTrip, EveryTensorOfEveryModel) {
    const auto models = model_files();
    ASSERT_GE(models.size(), 5u) << "expected the models of " << test::models_dir();
    const auto codecs = all_codecs();
    for (const auto& path : models) {
        auto g = GGUFLoader::open(path);
        ASSERT_TRUE(g) << g.error().to_string();
        size_t chunks = 0;
        for (const auto& t : (*g)->tensors()) {
            auto bytes = (*g)->read_tensor(t.name);
            ASSERT_TRUE(bytes) << bytes.error().to_string();
            for (size_t off = 0; off < bytes->size(); off += kChunk) {
                const auto chunk = std::span<const uint8>(*bytes).subspan(off, std::min(kChunk, bytes->size() - off));
                ++chunks;
                for (const auto& c : codecs) {
                    if (!c->suits(t.dtype)) continue;
                    ASSERT_TRUE(roundtrip(*c, chunk, t.dtype)) << path.filename() << " tensor " << t.name << " @" << off;
                }
            }
        }
        EXPECT_GT(chunks, 0u) << path;
    }
}

TEST(CodecRoundTrip, ExponentCodecShrinksBf16WeightsLikeThePublishedFigure) {
    // N(0, 0.02) bf16 weights: the exponent byte carries ~2.6 bits, so the frame should
    // land near 8 + 2.6 of 16 bits (~66-68%). Fail above 72%.
    const auto w = normal_weights(1 << 20, DType::BF16, 0.02f, 7);
    ExponentCodec codec;
    uint64 bytes = 0;
    ASSERT_TRUE(roundtrip(codec, w, DType::BF16, &bytes));
    const double ratio = double(bytes) / double(w.size());
    EXPECT_LT(ratio, 0.72);
    EXPECT_GT(ratio, 0.55);  // below the entropy bound would mean we lost bits
}

TEST(CodecRoundTrip, EveryF16AndBf16BitPattern) {
    std::vector<uint8> all(65536 * 2);
    for (uint32 v = 0; v < 65536; ++v) {
        all[2 * v] = uint8(v);
        all[2 * v + 1] = uint8(v >> 8);
    }
    for (const auto& c : all_codecs())
        for (DType t : {DType::F16, DType::BF16}) {
            if (c->suits(t)) {
                EXPECT_TRUE(roundtrip(*c, all, t));
            }
        }
}

TEST(CodecRoundTrip, F32SpecialValues) {
    std::vector<uint32> bits = {0x00000000u, 0x80000000u,                     // +-0
                                0x00000001u, 0x807FFFFFu, 0x00400000u,        // denormals
                                0x7F800000u, 0xFF800000u,                     // +-Inf
                                0x7FC00000u, 0xFFC00001u, 0x7F800001u, 0x7FBFFFFFu, 0xFFFFFFFFu,  // NaNs
                                0x7F7FFFFFu, 0xFF7FFFFFu, 0x00800000u, 0x3F800000u};
    // Special values mixed into ordinary weights, in every position of zfp's 4-value blocks.
    auto w = normal_weights(4096, DType::F32, 0.02f, 3);
    for (size_t i = 0; i < bits.size() * 37; ++i) std::memcpy(w.data() + 4 * ((i * 97) % 4096), &bits[i % bits.size()], 4);
    std::vector<uint8> specials(bits.size() * 4);
    std::memcpy(specials.data(), bits.data(), specials.size());
    auto rnd = test::random_bytes(40004, 11);  // random f32 bit patterns, NaNs included
    for (const auto& c : all_codecs()) {
        EXPECT_TRUE(roundtrip(*c, specials, DType::F32));
        EXPECT_TRUE(roundtrip(*c, w, DType::F32));
        EXPECT_TRUE(roundtrip(*c, rnd, DType::F32));
    }
}

TEST(CodecRoundTrip, AdversarialBuffersAndOddSizes) {
    const size_t block = ExponentCodec::kBlockElems;
    const std::vector<size_t> sizes = {0, 1, 2, 3, 4, 5, 7, 9, 1023, 65537, 2 * block + 3, 4 * block + 1};
    for (const auto& c : all_codecs()) {
        for (DType t : {DType::F32, DType::F16, DType::BF16}) {
            if (!c->suits(t)) continue;
            for (size_t n : sizes) {
                SCOPED_TRACE(c->name() + " " + dtype_name(t) + " size " + std::to_string(n));
                EXPECT_TRUE(roundtrip(*c, std::vector<uint8>(n, 0x00), t));
                EXPECT_TRUE(roundtrip(*c, std::vector<uint8>(n, 0xFF), t));
                EXPECT_TRUE(roundtrip(*c, test::random_bytes(n, n + 1), t));
            }
        }
    }
}

TEST(CodecRoundTrip, UnsuitedDtypeIsAnError) {
    auto zfp = make_codec("zfp");
    ASSERT_TRUE(zfp);
    EXPECT_FALSE((*zfp)->suits(DType::BF16));
    auto r = (*zfp)->compress(std::vector<uint8>(64, 1), DType::BF16);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(r.error().message.find("zfp"), std::string::npos);
}

TEST(CodecRegistry, NamesAliasesAndUnknown) {
    auto b2 = make_codec("blosc2");
    ASSERT_TRUE(b2) << b2.error().to_string();
    EXPECT_EQ((*b2)->name(), "blosc-zstd");
    EXPECT_EQ((*b2)->id(), CodecId::Blosc);
    for (const auto& n : canonical_codec_names()) {
        auto c = make_codec(n);
        ASSERT_TRUE(c) << n;
        EXPECT_EQ((*c)->name(), n);
    }
    auto bad = make_codec("gzip");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(bad.error().message.find("blosc2"), std::string::npos) << "error should list the valid names";
}

TEST(CodecSamples, HalfConversionsRoundToNearestEven) {
    EXPECT_EQ(f32_to_f16_bits(1.0f), 0x3C00);
    EXPECT_EQ(f32_to_f16_bits(-2.0f), 0xC000);
    EXPECT_EQ(f32_to_f16_bits(65504.0f), 0x7BFF);
    EXPECT_EQ(f32_to_f16_bits(1e6f), 0x7C00);
    EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.0f, -24)), 0x0001);  // smallest denormal
    EXPECT_EQ(f32_to_f16_bits(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie -> even
    EXPECT_EQ(f32_to_bf16_bits(1.0f), 0x3F80);
    EXPECT_EQ(f32_to_bf16_bits(-0.0f), 0x8000);
    EXPECT_EQ(f32_to_bf16_bits(1.0f + std::ldexp(1.0f, -8)), 0x3F80);  // tie -> even
    EXPECT_EQ(f32_to_bf16_bits(std::nanf("")) & 0x7FC0, 0x7FC0);
}
