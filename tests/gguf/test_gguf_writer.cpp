// GGUFWriter: round trips of every metadata value type (v2 and v3), streamed tensor data,
// alignment, atomic writes.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "gguf/GGUFLoader.h"
#include "gguf/GGUFWriter.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

// One value of every type, including arrays of every element type and nested arrays.
std::vector<std::pair<std::string, GGUFValue>> every_value_type() {
    std::vector<std::pair<std::string, GGUFValue>> v;
    v.push_back({"t.u8", gguf_u8(250)});
    v.push_back({"t.i8", gguf_i8(-120)});
    v.push_back({"t.u16", gguf_u16(65000)});
    v.push_back({"t.i16", gguf_i16(-32000)});
    v.push_back({"t.u32", gguf_u32(4000000000u)});
    v.push_back({"t.i32", gguf_i32(-2000000000)});
    v.push_back({"t.u64", gguf_u64(std::numeric_limits<uint64>::max() - 5)});
    v.push_back({"t.i64", gguf_i64(std::numeric_limits<int64>::min() + 7)});
    v.push_back({"t.f32", gguf_f32(3.25f)});
    v.push_back({"t.f64", gguf_f64(-1.0e300)});
    v.push_back({"t.bool.true", gguf_bool(true)});
    v.push_back({"t.bool.false", gguf_bool(false)});
    v.push_back({"t.string", gguf_string(std::string("h\xc3\xa9llo \0world", 13))});
    v.push_back({"t.string.empty", gguf_string("")});
    v.push_back({"t.arr.u8", gguf_int_array(GGUFType::U8, {0, 1, 255})});
    v.push_back({"t.arr.i8", gguf_int_array(GGUFType::I8, {-128, 0, 127})});
    v.push_back({"t.arr.u16", gguf_int_array(GGUFType::U16, {0, 65535})});
    v.push_back({"t.arr.i16", gguf_int_array(GGUFType::I16, {-32768, 32767})});
    v.push_back({"t.arr.u32", gguf_int_array(GGUFType::U32, {0, 4294967295ll})});
    v.push_back({"t.arr.i32", gguf_int_array(GGUFType::I32, {-2147483648ll, 5})});
    v.push_back({"t.arr.u64", gguf_int_array(GGUFType::U64, {int64(0x8000000000000001ull), 3})});
    v.push_back({"t.arr.i64", gguf_int_array(GGUFType::I64, {std::numeric_limits<int64>::min(), -1})});
    v.push_back({"t.arr.bool", gguf_int_array(GGUFType::BOOL, {1, 0, 1})});
    v.push_back({"t.arr.f32", gguf_float_array(GGUFType::F32, {0.1, -2.5, 1e30})});
    v.push_back({"t.arr.f64", gguf_float_array(GGUFType::F64, {0.1, -2.5, 1e300})});
    v.push_back({"t.arr.string", gguf_string_array({"a", "", "<0x0A>", "\xe2\x96\x81the"})});
    v.push_back({"t.arr.empty", gguf_int_array(GGUFType::U32, {})});
    v.push_back({"t.arr.nested", gguf_nested_array({gguf_int_array(GGUFType::I32, {1, 2}), gguf_string_array({"x"}),
                                                    gguf_nested_array({gguf_float_array(GGUFType::F32, {1.5})})})});
    return v;
}

class WriterRoundTrip : public ::testing::TestWithParam<uint32> {};

TEST_P(WriterRoundTrip, EveryValueTypeReadsBackEqual) {
    const uint32 version = GetParam();
    GGUFWriter w(version);
    auto values = every_value_type();
    for (auto& [k, v] : values) w.add(k, v);
    Path p = test::tmp_dir() / ("roundtrip_v" + std::to_string(version) + ".gguf");
    auto wr = w.write(p);
    ASSERT_TRUE(wr) << wr.error().to_string();
    auto g = GGUFLoader::open(p);
    ASSERT_TRUE(g) << g.error().to_string();
    EXPECT_EQ((*g)->version(), version);
    EXPECT_EQ((*g)->metadata().size(), values.size());
    for (auto& [k, v] : values) {
        const GGUFValue* got = (*g)->find(k);
        ASSERT_NE(got, nullptr) << k;
        EXPECT_TRUE(gguf_value_equal(*got, v)) << k;
    }
    // A changed value must not compare equal (the comparison can fail).
    EXPECT_FALSE(gguf_value_equal(*(*g)->find("t.arr.nested"), gguf_nested_array({gguf_int_array(GGUFType::I32, {1, 3})})));
    EXPECT_FALSE(gguf_value_equal(*(*g)->find("t.u8"), gguf_u8(249)));
}

INSTANTIATE_TEST_SUITE_P(Versions, WriterRoundTrip, ::testing::Values(2u, 3u));

TEST(GGUFWriter, StreamsTensorDataInChunksAndAligns) {
    GGUFWriter w;
    w.set_alignment(64);
    w.add("general.architecture", gguf_string("llama"));
    // 10 MiB + 3 elements of f32: spans several fill calls only if > chunk; check ranges are contiguous.
    const uint64 n = (uint64(10) << 20) / 4 + 3;
    uint64 expect_off = 0;
    bool contiguous = true;
    w.add_tensor("a", {n}, DType::F32, [&](uint64 off, uint8* dst, uint64 bytes) -> ExpectedVoid {
        if (off != expect_off) contiguous = false;
        expect_off = off + bytes;
        for (uint64 k = 0; k < bytes; ++k) dst[k] = uint8((off + k) * 7);
        return {};
    });
    w.add_tensor("b", {3, 5}, DType::F16, [](uint64 off, uint8* dst, uint64 bytes) -> ExpectedVoid {
        for (uint64 k = 0; k < bytes; ++k) dst[k] = uint8(200 + off + k);
        return {};
    });
    w.add_tensor("c", {7}, DType::BF16);  // no fill: zeros
    Path p = test::tmp_dir() / "stream.gguf";
    uint64 last_done = 0, last_total = 0;
    auto wr = w.write(p, [&](uint64 d, uint64 t) { last_done = d; last_total = t; });
    ASSERT_TRUE(wr) << wr.error().to_string();
    EXPECT_TRUE(contiguous);
    EXPECT_EQ(expect_off, n * 4);
    EXPECT_EQ(last_done, last_total);
    EXPECT_EQ(last_total, std::filesystem::file_size(p));
    EXPECT_EQ(w.file_size(), std::filesystem::file_size(p));
    EXPECT_FALSE(std::filesystem::exists(p.string() + ".tmp"));

    auto g = GGUFLoader::open(p);
    ASSERT_TRUE(g) << g.error().to_string();
    EXPECT_EQ((*g)->alignment(), 64u);
    EXPECT_EQ((*g)->data_offset() % 64, 0u);
    ASSERT_EQ((*g)->tensors().size(), 3u);
    for (auto& t : (*g)->tensors()) EXPECT_EQ(t.file_offset % 64, 0u) << t.name;
    auto a = (*g)->read_tensor("a");
    ASSERT_TRUE(a) << a.error().to_string();
    ASSERT_EQ(a->size(), n * 4);
    for (uint64 k = 0; k < a->size(); k += 4093) ASSERT_EQ((*a)[k], uint8(k * 7)) << k;
    auto b = (*g)->read_tensor("b");
    ASSERT_TRUE(b);
    ASSERT_EQ(b->size(), 30u);
    EXPECT_EQ((*b)[29], uint8(229));
    EXPECT_EQ((*g)->find_tensor("b")->dims, (std::vector<uint64>{3, 5}));
    EXPECT_EQ((*g)->find_tensor("b")->dtype, DType::F16);
    auto c = (*g)->read_tensor("c");
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, std::vector<uint8>(14, 0));
}

TEST(GGUFWriter, FailingFillLeavesNoFileAndNamesTensor) {
    GGUFWriter w;
    w.add_tensor("bad.weight", {16}, DType::F32, [](uint64, uint8*, uint64) -> ExpectedVoid {
        return make_error(ErrorCode::Io, "generator broke");
    });
    Path p = test::tmp_dir() / "failing.gguf";
    auto wr = w.write(p);
    ASSERT_FALSE(wr);
    EXPECT_EQ(wr.error().code, ErrorCode::Io);
    EXPECT_NE(wr.error().message.find("bad.weight"), std::string::npos) << wr.error().message;
    EXPECT_NE(wr.error().message.find("generator broke"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(p));
    EXPECT_FALSE(std::filesystem::exists(p.string() + ".tmp"));
}

TEST(GGUFWriter, UnwritableDirectoryIsIoErrorNamingPath) {
    GGUFWriter w;
    auto wr = w.write("/nonexistent-dir-vks/x.gguf");
    ASSERT_FALSE(wr);
    EXPECT_EQ(wr.error().code, ErrorCode::Io);
    EXPECT_NE(wr.error().message.find("/nonexistent-dir-vks/x.gguf"), std::string::npos);
}

TEST(GGUFWriter, HeaderBytesMatchWrittenFilePrefix) {
    GGUFWriter w(2);
    w.add("k", gguf_u32(7));
    w.add_tensor("t", {4}, DType::F32);
    Path p = test::tmp_dir() / "hdr.gguf";
    ASSERT_TRUE(w.write(p));
    std::string file = test::read_file(p);
    auto h = w.header_bytes();
    ASSERT_EQ(file.size(), h.size() + 16);
    EXPECT_EQ(std::memcmp(file.data(), h.data(), h.size()), 0);
    EXPECT_EQ(h.size() % 32, 0u);
    // magic "GGUF" then version 2
    EXPECT_EQ(file.substr(0, 4), "GGUF");
    EXPECT_EQ(uint8(file[4]), 2);
}

}  // namespace
