// Hostile input: a table of corrupt GGUF files, each built with GGUFWriter / raw bytes,
// each expecting a specific ErrorCode and a message naming the file and the field; every
// prefix of a small valid file must fail cleanly.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "gguf/GGUFLoader.h"
#include "gguf/GGUFWriter.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

// A minimal valid llama model (1 layer, n_embd 8, 2 heads, 1 kv head, n_ff 12, vocab 16),
// kept as editable lists so each case can remove or change one thing.
struct TinyModel {
    uint32 version = 3;
    std::vector<std::pair<std::string, GGUFValue>> kv;
    std::vector<GGUFWriterTensor> tensors;

    void set(const std::string& k, GGUFValue v) {
        for (auto& e : kv)
            if (e.first == k) { e.second = std::move(v); return; }
        kv.emplace_back(k, std::move(v));
    }
    void erase_key(const std::string& k) { std::erase_if(kv, [&](auto& e) { return e.first == k; }); }
    void erase_tensor(const std::string& n) { std::erase_if(tensors, [&](auto& t) { return t.name == n; }); }
    GGUFWriterTensor& tensor(const std::string& n) {
        for (auto& t : tensors)
            if (t.name == n) return t;
        ADD_FAILURE() << "no tensor " << n;
        return tensors.front();
    }
    GGUFWriter writer() const {
        GGUFWriter w(version);
        for (auto& [k, v] : kv) w.add(k, v);
        for (auto& t : tensors) w.add_tensor(t);
        return w;
    }
};

TinyModel tiny_model() {
    TinyModel m;
    m.set("general.architecture", gguf_string("llama"));
    m.set("llama.embedding_length", gguf_u32(8));
    m.set("llama.block_count", gguf_u32(1));
    m.set("llama.feed_forward_length", gguf_u32(12));
    m.set("llama.attention.head_count", gguf_u32(2));
    m.set("llama.attention.head_count_kv", gguf_u32(1));
    m.set("llama.vocab_size", gguf_u32(16));
    ModelConfig c;
    c.n_vocab = 16, c.n_embd = 8, c.n_layer = 1, c.n_head = 2, c.n_head_kv = 1, c.head_dim = 4, c.n_ff = 12;
    for (auto& d : TensorRegistry::expected_tensors(c)) {
        GGUFWriterTensor t;
        t.name = d.name;
        t.dims = d.rows == 1 ? std::vector<uint64>{d.cols} : std::vector<uint64>{d.cols, d.rows};
        t.ggml_type = uint32(DType::F32);
        t.byte_size = d.rows * d.cols * 4;
        t.fill = [](uint64 off, uint8* dst, uint64 n) -> ExpectedVoid {
            for (uint64 k = 0; k < n; ++k) dst[k] = uint8(off + k);
            return {};
        };
        m.tensors.push_back(t);
    }
    return m;
}

std::vector<uint8> file_bytes(const GGUFWriter& w) {
    Path p = test::tmp_dir() / "scratch.gguf";
    auto r = w.write(p);
    EXPECT_TRUE(r) << r.error().to_string();
    std::string s = test::read_file(p);
    return std::vector<uint8>(s.begin(), s.end());
}

// Header only, then `data_bytes` of zeros (for crafted tables whose data write() refuses).
std::vector<uint8> header_plus(const GGUFWriter& w, uint64 data_bytes) {
    auto b = w.header_bytes();
    b.resize(b.size() + data_bytes, 0);
    return b;
}

std::vector<uint8> raw_u64(uint64 v) { return GGUFBytes().u64(v).bytes; }

GGUFValue nested(int depth) {
    GGUFValue v = gguf_int_array(GGUFType::U8, {1});
    for (int k = 1; k < depth; ++k) v = gguf_nested_array({v});
    return v;
}

enum class Stage { Open, Config, Registry };

struct Case {
    const char* name;
    std::function<std::vector<uint8>()> build;
    Stage stage;
    ErrorCode code;
    std::vector<std::string> needles;  // substrings the message must contain (besides the path)
};

GGUFWriter with(std::function<void(TinyModel&)> edit) {
    TinyModel m = tiny_model();
    edit(m);
    return m.writer();
}

std::vector<Case> cases() {
    using V = std::vector<std::string>;
    auto w_bytes = [](std::function<void(TinyModel&)> edit) { return [edit] { return file_bytes(with(edit)); }; };
    auto w_hdr = [](std::function<void(TinyModel&)> edit, uint64 data) { return [edit, data] { return header_plus(with(edit), data); }; };
    return {
        {"bad_magic", [] { auto w = with([](TinyModel&) {}); w.override_magic(0x46554746); return file_bytes(w); }, Stage::Open, ErrorCode::Format, V{"magic"}},
        {"version_1", w_bytes([](TinyModel& m) { m.version = 1; }), Stage::Open, ErrorCode::Unsupported, V{"version", "1"}},
        {"version_4", w_bytes([](TinyModel& m) { m.version = 4; }), Stage::Open, ErrorCode::Unsupported, V{"version", "4"}},
        {"kv_count_past_end", [] { auto w = with([](TinyModel&) {}); w.override_kv_count(uint64(1) << 40); return file_bytes(w); }, Stage::Open, ErrorCode::Format, V{"metadata_kv_count"}},
        {"tensor_count_past_end", [] { auto w = with([](TinyModel&) {}); w.override_tensor_count(uint64(1) << 40); return file_bytes(w); }, Stage::Open, ErrorCode::Format, V{"tensor_count"}},
        {"key_length_past_end", [] { return GGUFBytes().u32(0x46554747).u32(3).u64(0).u64(1).u64(uint64(1) << 50).zeros(16).bytes; }, Stage::Open, ErrorCode::Format, V{"metadata key #0", "string length"}},
        {"string_length_past_end", [] {
             GGUFWriter w; w.add_raw("general.name", 8, GGUFBytes().u64(uint64(1) << 33).str("xy").bytes); return file_bytes(w); },
         Stage::Open, ErrorCode::Format, V{"metadata 'general.name'", "string length"}},
        // Lengths one byte past the end of the file (16 bytes follow each), far under the 1 GiB cap:
        // caught against the bytes left, before any allocation or read.
        {"key_length_one_past_end", [] { return GGUFBytes().u32(0x46554747).u32(3).u64(0).u64(1).u64(17).zeros(16).bytes; },
         Stage::Open, ErrorCode::Format, V{"metadata key #0", "string length 17 past end of file"}},
        {"string_length_one_past_end", [] {
             return GGUFBytes().u32(0x46554747).u32(3).u64(0).u64(1).str("general.name").u32(8).u64(17).zeros(16).bytes; },
         Stage::Open, ErrorCode::Format, V{"metadata 'general.name'", "string length 17 past end of file"}},
        {"array_length_past_end", [] {
             GGUFWriter w; auto p = GGUFBytes().u32(uint32(GGUFType::U32)).u64(uint64(1) << 40).bytes; w.add_raw("my.array", 9, p);
             return file_bytes(w); }, Stage::Open, ErrorCode::Format, V{"metadata 'my.array'", "array length"}},
        {"string_array_length_past_end", [] {
             GGUFWriter w; auto p = GGUFBytes().u32(uint32(GGUFType::STRING)).u64(1000).str("a").bytes; w.add_raw("tok", 9, p);
             return file_bytes(w); }, Stage::Open, ErrorCode::Format, V{"metadata 'tok'", "array length"}},
        {"unknown_value_type", [] { GGUFWriter w; w.add_raw("weird", 13, raw_u64(0)); return file_bytes(w); }, Stage::Open, ErrorCode::Format, V{"metadata 'weird'", "unknown value type 13"}},
        {"unknown_array_elem_type", [] {
             GGUFWriter w; w.add_raw("weird", 9, GGUFBytes().u32(77).u64(1).u64(0).bytes); return file_bytes(w); }, Stage::Open, ErrorCode::Format, V{"metadata 'weird'", "unknown array element type 77"}},
        {"bool_not_0_or_1", [] { GGUFWriter w; w.add_raw("flag", 7, {2}); return file_bytes(w); }, Stage::Open, ErrorCode::Format, V{"metadata 'flag'", "bool"}},
        {"arrays_nested_too_deep", [] { GGUFWriter w; w.add("deep", nested(5)); return file_bytes(w); }, Stage::Open, ErrorCode::Format, V{"metadata 'deep'", "nested too deeply"}},
        {"duplicate_key", w_bytes([](TinyModel& m) { m.kv.emplace_back("llama.block_count", gguf_u32(1)); }), Stage::Open, ErrorCode::Format, V{"metadata 'llama.block_count'", "duplicate key"}},
        {"alignment_zero", w_bytes([](TinyModel& m) { m.set("general.alignment", gguf_u32(0)); }), Stage::Open, ErrorCode::Format, V{"general.alignment"}},
        {"alignment_not_pow2", w_bytes([](TinyModel& m) { m.set("general.alignment", gguf_u32(48)); }), Stage::Open, ErrorCode::Format, V{"general.alignment"}},
        {"alignment_too_big", w_bytes([](TinyModel& m) { m.set("general.alignment", gguf_u64(uint64(1) << 21)); }), Stage::Open, ErrorCode::Format, V{"general.alignment"}},
        {"alignment_string", w_bytes([](TinyModel& m) { m.set("general.alignment", gguf_string("32")); }), Stage::Open, ErrorCode::Format, V{"general.alignment"}},
        {"n_dims_0", w_hdr([](TinyModel& m) { m.tensor("output_norm.weight").dims = {}; }, 4096), Stage::Open, ErrorCode::Format, V{"tensor 'output_norm.weight'", "n_dims 0"}},
        {"n_dims_5", w_hdr([](TinyModel& m) { m.tensor("output_norm.weight").dims = {8, 1, 1, 1, 1}; }, 4096), Stage::Open, ErrorCode::Format, V{"tensor 'output_norm.weight'", "n_dims 5"}},
        {"dimension_0", w_hdr([](TinyModel& m) { m.tensor("blk.0.attn_q.weight").dims = {8, 0}; }, 4096), Stage::Open, ErrorCode::Format, V{"tensor 'blk.0.attn_q.weight'", "dimension 1 = 0"}},
        {"dimension_huge", w_hdr([](TinyModel& m) { m.tensor("blk.0.attn_q.weight").dims = {uint64(1) << 41}; }, 4096), Stage::Open, ErrorCode::Format, V{"tensor 'blk.0.attn_q.weight'", "dimension 0"}},
        {"element_count_overflow", w_hdr([](TinyModel& m) { m.tensor("blk.0.attn_k.weight").dims = {uint64(1) << 40, uint64(1) << 40}; }, 4096), Stage::Open, ErrorCode::Format, V{"tensor 'blk.0.attn_k.weight'", "element count overflows"}},
        {"byte_size_overflow", w_hdr([](TinyModel& m) { m.tensor("blk.0.attn_k.weight").dims = {uint64(1) << 40, uint64(1) << 23}; }, 4096), Stage::Open, ErrorCode::Format, V{"tensor 'blk.0.attn_k.weight'", "byte size overflows"}},
        {"duplicate_tensor", w_bytes([](TinyModel& m) { m.tensors.push_back(m.tensor("output_norm.weight")); }), Stage::Open, ErrorCode::Format, V{"tensor 'output_norm.weight'", "duplicate tensor"}},
        {"quantized_q4_0", w_bytes([](TinyModel& m) { m.tensor("blk.0.ffn_up.weight").ggml_type = 2; }), Stage::Open, ErrorCode::Unsupported, V{"tensor 'blk.0.ffn_up.weight'", "q4_0"}},
        {"quantized_q8_0", w_bytes([](TinyModel& m) { m.tensor("token_embd.weight").ggml_type = 8; }), Stage::Open, ErrorCode::Unsupported, V{"tensor 'token_embd.weight'", "q8_0"}},
        {"misaligned_offset", w_hdr([](TinyModel& m) { m.tensor("token_embd.weight").offset = 16; }, 1 << 16), Stage::Open, ErrorCode::Format, V{"tensor 'token_embd.weight'", "not a multiple of the alignment"}},
        {"overlapping_tensors", w_hdr([](TinyModel& m) { m.tensor("output_norm.weight").offset = 0; }, 1 << 16), Stage::Open, ErrorCode::Format, V{"output_norm.weight", "overlaps"}},
        {"tensor_data_past_end", [] { auto b = file_bytes(with([](TinyModel&) {})); b.pop_back(); return b; }, Stage::Open, ErrorCode::Format, V{"tensor 'output.weight'", "past end of file"}},
        {"tensor_offset_past_end", w_hdr([](TinyModel& m) { m.tensor("output.weight").offset = uint64(1) << 62; }, 1 << 16), Stage::Open, ErrorCode::Format, V{"tensor 'output.weight'", "past end of file"}},
        {"tensor_offset_wraps", w_hdr([](TinyModel& m) { m.tensor("output.weight").offset = ~uint64(31); }, 1 << 16), Stage::Open, ErrorCode::Format, V{"tensor 'output.weight'", "past end of file"}},
        // ModelConfig
        {"missing_block_count", w_bytes([](TinyModel& m) { m.erase_key("llama.block_count"); }), Stage::Config, ErrorCode::NotFound, V{"llama.block_count", "missing"}},
        {"missing_architecture", w_bytes([](TinyModel& m) { m.erase_key("general.architecture"); }), Stage::Config, ErrorCode::NotFound, V{"general.architecture"}},
        {"unsupported_architecture", w_bytes([](TinyModel& m) { m.set("general.architecture", gguf_string("gpt2")); }), Stage::Config, ErrorCode::Unsupported, V{"general.architecture", "gpt2"}},
        {"wrong_key_type", w_bytes([](TinyModel& m) { m.set("llama.embedding_length", gguf_string("8")); }), Stage::Config, ErrorCode::Format, V{"llama.embedding_length", "expected integer", "string"}},
        {"negative_key", w_bytes([](TinyModel& m) { m.set("llama.block_count", gguf_i32(-1)); }), Stage::Config, ErrorCode::Format, V{"llama.block_count", "negative"}},
        {"float_key_as_bool", w_bytes([](TinyModel& m) { m.set("llama.rope.freq_base", gguf_bool(true)); }), Stage::Config, ErrorCode::Format, V{"llama.rope.freq_base", "expected number"}},
        {"head_count_not_dividing_embd", w_bytes([](TinyModel& m) { m.set("llama.attention.head_count", gguf_u32(3)); m.set("llama.attention.head_count_kv", gguf_u32(3)); }), Stage::Config, ErrorCode::Format, V{"llama.attention.head_count", "not divisible"}},
        {"head_count_kv_not_dividing_head_count", w_bytes([](TinyModel& m) { m.set("llama.embedding_length", gguf_u32(12)); m.set("llama.attention.head_count", gguf_u32(4)); m.set("llama.attention.head_count_kv", gguf_u32(3)); }), Stage::Config, ErrorCode::Format, V{"llama.attention.head_count_kv", "not a multiple"}},
        {"head_count_zero", w_bytes([](TinyModel& m) { m.set("llama.attention.head_count", gguf_u32(0)); }), Stage::Config, ErrorCode::Format, V{"llama.attention.head_count", "out of range"}},
        // TensorRegistry
        {"missing_tensor", w_bytes([](TinyModel& m) { m.erase_tensor("blk.0.ffn_up.weight"); }), Stage::Registry, ErrorCode::NotFound, V{"tensor 'blk.0.ffn_up.weight'", "missing"}},
        {"wrong_tensor_shape", w_bytes([](TinyModel& m) { m.tensor("blk.0.attn_k.weight").dims = {4, 8}; }), Stage::Registry, ErrorCode::Format, V{"tensor 'blk.0.attn_k.weight'", "shape [4, 8]", "expected [8, 4]"}},
        {"wrong_vector_rank", w_bytes([](TinyModel& m) { m.tensor("blk.0.attn_norm.weight").dims = {8, 1}; }), Stage::Registry, ErrorCode::Format, V{"tensor 'blk.0.attn_norm.weight'", "shape"}},
        {"vocab_mismatch", w_bytes([](TinyModel& m) { m.set("llama.vocab_size", gguf_u32(17)); }), Stage::Registry, ErrorCode::Format, V{"tensor 'token_embd.weight'", "shape"}},
    };
}

// Runs the stages up to `stage` and returns the first error (or none).
std::optional<Error> run_stages(const Path& p, Stage stage) {
    auto g = GGUFLoader::open(p);
    if (!g) return g.error();
    if (stage == Stage::Open) return std::nullopt;
    auto cfg = ModelConfig::from_source(**g);
    if (!cfg) return cfg.error();
    if (stage == Stage::Config) return std::nullopt;
    auto reg = TensorRegistry::bind(*cfg, **g);
    if (!reg) return reg.error();
    return std::nullopt;
}

TEST(GGUFHostile, TheValidBaseModelLoads) {
    Path p = test::tmp_dir() / "base.gguf";
    ASSERT_TRUE(tiny_model().writer().write(p));
    auto err = run_stages(p, Stage::Registry);
    EXPECT_FALSE(err.has_value()) << err->to_string();
    // Four levels of nesting is the limit, and is accepted.
    GGUFWriter w;
    w.add("deep", nested(4));
    ASSERT_TRUE(w.write(p));
    auto g = GGUFLoader::open(p);
    ASSERT_TRUE(g) << g.error().to_string();
    EXPECT_TRUE(gguf_value_equal(*(*g)->find("deep"), nested(4)));
}

TEST(GGUFHostile, CorruptFileTable) {
    for (auto& c : cases()) {
        SCOPED_TRACE(c.name);
        Path p = test::tmp_dir() / (std::string("hostile_") + c.name + ".gguf");
        ASSERT_TRUE(write_file_atomic(p, c.build()));
        // Each case fails at its stage, not before.
        if (c.stage != Stage::Open) {
            auto before = run_stages(p, c.stage == Stage::Config ? Stage::Open : Stage::Config);
            ASSERT_FALSE(before.has_value()) << "failed too early: " << before->to_string();
        }
        auto err = run_stages(p, c.stage);
        ASSERT_TRUE(err.has_value()) << "accepted a corrupt file";
        EXPECT_EQ(err->code, c.code) << error_code_name(err->code) << ": " << err->message;
        EXPECT_NE(err->message.find(p.string()), std::string::npos) << "message does not name the file: " << err->message;
        for (auto& n : c.needles) EXPECT_NE(err->message.find(n), std::string::npos) << "missing '" << n << "' in: " << err->message;
    }
}

TEST(GGUFHostile, EveryPrefixOfASmallFileFailsCleanly) {
    TinyModel m = tiny_model();
    m.set("some.strings", gguf_string_array({"a", "bc", "def"}));
    m.set("some.nested", gguf_nested_array({gguf_int_array(GGUFType::I16, {1, 2}), gguf_float_array(GGUFType::F64, {0.5})}));
    m.set("some.float", gguf_f32(1.5f));
    auto full = file_bytes(m.writer());
    Path p = test::tmp_dir() / "prefix.gguf";
    size_t n_format = 0;
    ASSERT_TRUE(write_file_atomic(p, full));
    // Shrink one byte at a time (cheaper than writing each prefix anew).
    for (size_t len = full.size(); len-- > 0;) {
        std::filesystem::resize_file(p, len);
        auto g = GGUFLoader::open(p);
        ASSERT_FALSE(g) << "prefix of " << len << " of " << full.size() << " bytes accepted";
        ASSERT_EQ(g.error().code, ErrorCode::Format) << len << ": " << g.error().message;
        ASSERT_NE(g.error().message.find(p.string()), std::string::npos) << g.error().message;
        ++n_format;
    }
    EXPECT_EQ(n_format, full.size());
    ASSERT_TRUE(write_file_atomic(p, full));
    EXPECT_TRUE(GGUFLoader::open(p));
}

// A big file has plenty of bytes "left" after the header, so counts pass the bytes-left
// check; the memory the parsed values would take must still be bounded. Counts are just
// above GGUFLimits::kMaxMetadataBytes.
TEST(GGUFHostile, MetadataMemoryIsBounded) {
    constexpr uint64 kLimit = GGUFLimits::kMaxMetadataBytes;
    struct Lie {
        const char* name;
        GGUFType elem;
        uint64 count;
        uint64 disk_each;  // minimum bytes per element in the file
    } lies[] = {
        {"nested", GGUFType::ARRAY, kLimit / sizeof(GGUFValue) + 1000, 12},
        {"strings", GGUFType::STRING, kLimit / sizeof(std::string) + 1000, 8},
        {"bytes", GGUFType::U8, kLimit / 8 + 1000, 1},  // widened to 8 bytes in memory
    };
    for (auto& l : lies) {
        SCOPED_TRACE(l.name);
        Path p = test::tmp_dir() / (std::string("lie_") + l.name + ".gguf");
        GGUFWriter w;
        w.add_raw(l.name, uint32(GGUFType::ARRAY), GGUFBytes().u32(uint32(l.elem)).u64(l.count).bytes);
        ASSERT_TRUE(write_file_atomic(p, w.header_bytes()));
        std::filesystem::resize_file(p, l.count * l.disk_each + 4096);  // sparse: zeros, no disk use
        auto g = GGUFLoader::open(p);
        ASSERT_FALSE(g);
        EXPECT_EQ(g.error().code, ErrorCode::Format);
        EXPECT_NE(g.error().message.find(std::string("metadata '") + l.name + "'"), std::string::npos) << g.error().message;
        EXPECT_NE(g.error().message.find("MiB of memory"), std::string::npos) << g.error().message;
    }
}

TEST(GGUFHostile, ReadRangePastEndAndShrunkFileAreIoErrors) {
    Path p = test::tmp_dir() / "shrink.gguf";
    ASSERT_TRUE(tiny_model().writer().write(p));
    auto g = GGUFLoader::open(p);
    ASSERT_TRUE(g);
    uint8 buf[16];
    auto r = (*g)->read_range((*g)->file_size() - 8, 16, buf);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::Io);
    auto r2 = (*g)->read_range(~uint64(0) - 4, 16, buf);  // offset + size wraps
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code, ErrorCode::Io);
    std::filesystem::resize_file(p, (*g)->file_size() - 100);
    auto c = (*g)->check_unchanged();
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, ErrorCode::Io);
    auto t = (*g)->read_tensor("output.weight");
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, ErrorCode::Io);
    EXPECT_NE(t.error().message.find("truncated"), std::string::npos) << t.error().message;
}

TEST(GGUFHostile, MissingFileIsNotFoundAndDirectoryIsIo) {
    auto g = GGUFLoader::open(test::tmp_dir() / "does-not-exist.gguf");
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().code, ErrorCode::NotFound);
    EXPECT_NE(g.error().message.find("does-not-exist.gguf"), std::string::npos);
    auto d = GGUFLoader::open(test::tmp_dir());
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, ErrorCode::Io);
}

TEST(GGUFHostile, QuantizedTensorsAllowedForVocabOnlyUse) {
    Path p = test::tmp_dir() / "quant_vocab.gguf";
    TinyModel m = tiny_model();
    m.tensor("blk.0.ffn_up.weight").ggml_type = 2;  // q4_0; the byte size we write is arbitrary
    ASSERT_TRUE(m.writer().write(p));
    GGUFOpenOptions o;
    o.allow_quantized = true;
    auto g = GGUFLoader::open(p, o);
    ASSERT_TRUE(g) << g.error().to_string();
    auto t = (*g)->read_tensor("blk.0.ffn_up.weight");
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, ErrorCode::Unsupported);
    EXPECT_NE(t.error().message.find("q4_0"), std::string::npos);
    auto cfg = ModelConfig::from_source(**g);
    ASSERT_TRUE(cfg);
    auto reg = TensorRegistry::bind(*cfg, **g);
    ASSERT_FALSE(reg);
    EXPECT_EQ(reg.error().code, ErrorCode::Unsupported);
    EXPECT_NE(reg.error().message.find("blk.0.ffn_up.weight"), std::string::npos);
    EXPECT_NE(reg.error().message.find("q4_0"), std::string::npos);
}

}  // namespace
