// SafetensorsFile: the shared checkpoints open with the layout the files hold; a table of
// corrupt headers, each refused with the expected code and a message naming the file and
// the tensor or field; every prefix of a valid file fails cleanly; the writer round-trips.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "hf/HfTestFiles.h"
#include "hf/SafetensorsFile.h"
#include "hf/SafetensorsWriter.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

// Two tensors tiling 32 bytes: a F32 [2, 3] at [0, 24), b BF16 [4] at [24, 32).
const std::string kA = R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";
const std::string kB = R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]})";
const std::string kMeta = R"("__metadata__":{"format":"pt"})";

std::string obj(std::initializer_list<std::string> entries) {
    std::string s = "{";
    for (const auto& e : entries) s += (s.size() > 1 ? "," : "") + e;
    return s + "}";
}

struct Corrupt {
    const char* what;
    std::string header;
    size_t data_size;
    ErrorCode code;
    std::vector<std::string> expect;  // substrings of the message besides the file name
};

std::vector<Corrupt> corrupt_headers() {
    const auto E = ErrorCode::Format;
    return {
        {"not JSON", R"({"a": )", 32, E, {"not valid JSON"}},
        {"not an object", "[1, 2]", 32, E, {"does not start with '{'"}},
        {"tensor named twice", obj({kA, kA, kB}), 32, E, {"key 'a' appears twice"}},
        {"field twice", R"({"a":{"dtype":"F32","dtype":"F16","shape":[2,3],"data_offsets":[0,24]},)" + kB + "}", 32, E, {"key 'dtype' appears twice in 'a'"}},
        {"integer dtype", obj({R"("a":{"dtype":"I8","shape":[24],"data_offsets":[0,24]})", kB}), 32, ErrorCode::Unsupported, {"tensor 'a'", "dtype 'I8'"}},
        {"float8 dtype", obj({R"("a":{"dtype":"F8_E4M3","shape":[24],"data_offsets":[0,24]})", kB}), 32, ErrorCode::Unsupported, {"tensor 'a'", "F8_E4M3"}},
        {"unknown dtype", obj({R"("a":{"dtype":"F12","shape":[2,3],"data_offsets":[0,24]})", kB}), 32, E, {"tensor 'a'", "unknown dtype 'F12'"}},
        {"dtype not a string", obj({R"("a":{"dtype":7,"shape":[2,3],"data_offsets":[0,24]})", kB}), 32, E, {"tensor 'a'", "'dtype' is an integer"}},
        {"shape not an array", obj({R"("a":{"dtype":"F32","shape":"2x3","data_offsets":[0,24]})", kB}), 32, E, {"tensor 'a'", "'shape' is a string"}},
        {"negative dimension", obj({R"("a":{"dtype":"F32","shape":[-2,3],"data_offsets":[0,24]})", kB}), 32, E, {"tensor 'a'", "'shape[0]' is a negative integer"}},
        {"fractional dimension", obj({R"("a":{"dtype":"F32","shape":[2,1.5],"data_offsets":[0,24]})", kB}), 32, E, {"tensor 'a'", "'shape[1]' is a number"}},
        {"nine dimensions", obj({R"("a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,2,3],"data_offsets":[0,24]})", kB}), 32, E, {"tensor 'a'", "9 dimensions"}},
        {"element count overflow", obj({R"("a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,24]})", kB}), 32, E, {"tensor 'a'", "overflows"}},
        {"offsets not a pair", obj({R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0]})", kB}), 32, E, {"tensor 'a'", "two integers"}},
        {"offsets backwards", obj({R"("a":{"dtype":"F32","shape":[0],"data_offsets":[24,0]})", kB}), 32, E, {"tensor 'a'", "end before they begin"}},
        {"offsets past the data", obj({R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})", R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,40]})"}), 32, E,
         {"tensor 'b'", "run past the end of the data section (32 bytes)"}},
        {"size mismatch", obj({R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]})", kB}), 32, E, {"tensor 'a'", "24 bytes but 'data_offsets' span 20"}},
        {"overlap", obj({kA, R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[16,24]})"}), 32, E, {"tensors 'a' and 'b' overlap"}},
        {"gap", obj({kA, R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[28,36]})"}), 36, E, {"bytes 24..28", "before 'b'"}},
        {"bytes after the last tensor", obj({kA, kB}), 40, E, {"8 bytes after the last tensor"}},
        {"metadata not an object", obj({R"("__metadata__":["pt"])", kA, kB}), 32, E, {"'__metadata__'", "an array"}},
        {"metadata value not a string", obj({R"("__metadata__":{"format":1})", kA, kB}), 32, E, {"'__metadata__'", "value of 'format'"}},
        {"field missing", obj({R"("a":{"dtype":"F32","shape":[2,3]})", kB}), 32, E, {"tensor 'a'", "field 'data_offsets' is missing"}},
        {"unexpected field", obj({R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24],"offset":0})", kB}), 32, E, {"tensor 'a'", "unexpected field 'offset'"}},
        {"entry not an object", obj({R"("a":5)", kB}), 32, E, {"tensor 'a'", "entry is an integer"}},
        {"empty tensor name", obj({R"("":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})", kB}), 32, E, {"tensor name is empty"}},
        {"deep nesting", obj({R"("x":{"y":{"z":[[[1]]]}})", kA, kB}), 32, E, {"nested deeper than 4"}},
    };
}

TEST(Safetensors, CorruptHeadersAreRefusedByName) {
    int k = 0;
    for (const auto& c : corrupt_headers()) {
        SCOPED_TRACE(c.what);
        const Path p = write_tmp_file("corrupt" + std::to_string(k++) + ".safetensors", safetensors_bytes(c.header, std::string(c.data_size, '\0')));
        auto f = SafetensorsFile::open(p);
        ASSERT_FALSE(f) << "opened";
        EXPECT_EQ(f.error().code, c.code) << f.error().message;
        EXPECT_NE(f.error().message.find(p.string()), std::string::npos) << f.error().message;
        for (const auto& s : c.expect) EXPECT_NE(f.error().message.find(s), std::string::npos) << "no '" << s << "' in: " << f.error().message;
    }
}

TEST(Safetensors, HeaderLengthIsChecked) {
    const std::string header = obj({kA, kB});
    std::string past = safetensors_bytes(header, std::string(32, '\0'));
    past[0] = char(0xff), past[1] = char(0x0f);  // 4095 bytes of header in a shorter file
    auto f = SafetensorsFile::open(write_tmp_file("past.safetensors", past));
    ASSERT_FALSE(f);
    EXPECT_NE(f.error().message.find("header length 4095 runs past the end of the file"), std::string::npos) << f.error().message;

    std::string huge = past;
    const uint64 n = 200'000'000;
    for (int k = 0; k < 8; ++k) huge[size_t(k)] = char(n >> (8 * k));
    f = SafetensorsFile::open(write_tmp_file("huge.safetensors", huge));
    ASSERT_FALSE(f);
    EXPECT_NE(f.error().message.find("header length 200000000 exceeds the limit of 100000000 bytes"), std::string::npos) << f.error().message;

    f = SafetensorsFile::open(write_tmp_file("short.safetensors", std::string("\x10\0\0", 3)));
    ASSERT_FALSE(f);
    EXPECT_NE(f.error().message.find("too short for the 8-byte header length"), std::string::npos) << f.error().message;
}

TEST(Safetensors, EveryPrefixOfAValidFileFailsCleanly) {
    const std::string full = safetensors_bytes(obj({kMeta, kA, kB}), std::string(32, '\x5a'));
    ASSERT_TRUE(SafetensorsFile::open(write_tmp_file("full.safetensors", full)));
    for (size_t n = 0; n < full.size(); ++n) {
        auto f = SafetensorsFile::open(write_tmp_file("prefix.safetensors", full.substr(0, n)));
        EXPECT_FALSE(f) << "a prefix of " << n << " bytes opened";
    }
}

TEST(Safetensors, TensorsInDataOrderWithAbsoluteOffsets) {
    // Header order (sorted by JSON) differs from data order; a zero-size tensor is allowed.
    const std::string header = obj({kMeta, R"("z":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]})", R"("e":{"dtype":"F32","shape":[0,4],"data_offsets":[8,8]})",
                                    R"("a":{"dtype":"F32","shape":[3],"data_offsets":[8,20]})"});
    std::string data(20, '\0');
    for (size_t k = 0; k < data.size(); ++k) data[k] = char(k);
    auto f = SafetensorsFile::open(write_tmp_file("order.safetensors", safetensors_bytes(header, data)));
    ASSERT_TRUE(f) << f.error().to_string();
    const auto& ts = (*f)->tensors();
    ASSERT_EQ(ts.size(), 3u);
    EXPECT_EQ(ts[0].name, "z");
    EXPECT_EQ(ts[0].file_offset, 8 + header.size());
    EXPECT_EQ(ts[1].name, "e");
    EXPECT_EQ(ts[1].byte_size, 0u);
    EXPECT_EQ(ts[2].name, "a");
    EXPECT_EQ(ts[2].rows(), 1u);
    EXPECT_EQ(ts[2].cols(), 3u);
    EXPECT_EQ((*f)->metadata().at("format"), "pt");
    auto a = (*f)->read_tensor("a");
    ASSERT_TRUE(a);
    EXPECT_EQ(std::string(a->begin(), a->end()), data.substr(8, 12));
    EXPECT_EQ((*f)->read_tensor("missing").error().code, ErrorCode::NotFound);
}

// Every shared checkpoint opens; its tensors tile the data section and read back the bytes
// at the offsets the header states (read here with plain file I/O).
TEST(Safetensors, SharedCheckpointsOpen) {
    for (const auto& name : hf_model_names()) {
        SCOPED_TRACE(name);
        const Path p = hf_model_dir(name) / "model.safetensors";
        auto f = SafetensorsFile::open(p);
        ASSERT_TRUE(f) << f.error().to_string();
        EXPECT_EQ((*f)->metadata().at("format"), "pt");
        uint64 pos = (*f)->data_offset();
        for (const auto& t : (*f)->tensors()) {
            EXPECT_EQ(t.file_offset, pos) << t.name;
            EXPECT_EQ(t.dtype, DType::BF16) << t.name;
            pos += t.byte_size;
        }
        EXPECT_EQ(pos, (*f)->file_size());
        const auto& last = (*f)->tensors().back();
        const std::string file = read_file(p);
        auto bytes = (*f)->read_tensor(last.name);
        ASSERT_TRUE(bytes);
        EXPECT_EQ(std::string(bytes->begin(), bytes->end()), file.substr(size_t(last.file_offset), size_t(last.byte_size)));
    }
    auto f = SafetensorsFile::open(hf_model_dir("llama31") / "model.safetensors");
    ASSERT_TRUE(f);
    EXPECT_EQ((*f)->tensors().size(), 21u);
    EXPECT_EQ((*f)->data_offset(), 8u + 2192u);
    const SafetensorsTensor* lm = (*f)->find("lm_head.weight");
    ASSERT_NE(lm, nullptr);
    EXPECT_EQ(lm->shape, (std::vector<uint64>{512, 128}));
    EXPECT_EQ(lm->file_offset, 8u + 2192u);
    EXPECT_EQ(lm->byte_size, 131072u);
}

TEST(Safetensors, WriterRoundTrips) {
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    w.add_tensor("m", DType::F16, {3, 5}, [](uint64 off, uint8* dst, uint64 n) -> ExpectedVoid {
        for (uint64 k = 0; k < n; ++k) dst[k] = uint8(off + k);
        return {};
    });
    w.add_tensor("v", DType::F32, {7});
    const Path p = tmp_dir() / "written.safetensors";
    ASSERT_TRUE(w.write(p));
    EXPECT_EQ(w.header().size() % 8, 0u);
    auto f = SafetensorsFile::open(p);
    ASSERT_TRUE(f) << f.error().to_string();
    EXPECT_EQ((*f)->file_size(), w.file_size());
    ASSERT_EQ((*f)->tensors().size(), 2u);
    EXPECT_EQ((*f)->tensors()[0].name, "m");
    EXPECT_EQ((*f)->tensors()[1].name, "v");
    EXPECT_EQ((*f)->tensors()[1].byte_size, 28u);
    auto m = (*f)->read_tensor("m");
    ASSERT_TRUE(m);
    for (size_t k = 0; k < m->size(); ++k) EXPECT_EQ((*m)[k], uint8(k));
}

}  // namespace
