// ModelGenerator: presets, shape validation, generated files load through GGUFLoader /
// ModelConfig / TensorRegistry, determinism, weight statistics, dtype conversion.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "gguf/GGUFLoader.h"
#include "model/ModelConfig.h"
#include "model/ModelGenerator.h"
#include "model/TensorRegistry.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

float f16_to_f32(uint16 h) {
    uint32 sign = uint32(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0) v = std::ldexp(float(mant), -24);
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = std::ldexp(float(mant | 0x400), int(exp) - 25);
    uint32 bits;
    std::memcpy(&bits, &v, 4);
    bits |= sign;
    std::memcpy(&v, &bits, 4);
    return v;
}

float bf16_to_f32(uint16 h) {
    uint32 bits = uint32(h) << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
}

std::vector<float> tensor_as_f32(const GGUFLoader& g, const std::string& name) {
    auto raw = g.read_tensor(name);
    EXPECT_TRUE(raw) << raw.error().to_string();
    const GGUFTensorInfo* ti = g.find_tensor(name);
    std::vector<float> out(ti->n_elements);
    for (uint64 k = 0; k < ti->n_elements; ++k) {
        if (ti->dtype == DType::F32) {
            std::memcpy(&out[k], raw->data() + 4 * k, 4);
        } else {
            uint16 h;
            std::memcpy(&h, raw->data() + 2 * k, 2);
            out[k] = ti->dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
    }
    return out;
}

Path gen(const std::string& preset, DType dt, const std::string& file, uint64 seed = 42) {
    auto shape = model_shape_preset(preset);
    EXPECT_TRUE(shape) << shape.error().to_string();
    Path p = test::tmp_dir() / file;
    auto r = generate_model(*shape, dt, p, seed);
    EXPECT_TRUE(r) << r.error().to_string();
    return p;
}

TEST(ModelGenerator, PresetsHaveTheDocumentedShapes) {
    auto s = model_shape_preset("llama2-70b");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->n_vocab, 32000u);
    EXPECT_EQ(s->n_embd, 8192u);
    EXPECT_EQ(s->n_layer, 80u);
    EXPECT_EQ(s->n_head, 64u);
    EXPECT_EQ(s->n_head_kv, 8u);
    EXPECT_EQ(s->n_ff, 28672u);
    auto l3 = model_shape_preset("llama3-8b");
    ASSERT_TRUE(l3);
    EXPECT_EQ(l3->n_vocab, 128256u);
    EXPECT_EQ(l3->rope_base, 500000.0f);
    for (auto& name : model_shape_preset_names()) {
        auto p = model_shape_preset(name);
        ASSERT_TRUE(p) << name;
        EXPECT_TRUE(validate_model_shape(*p)) << name;
    }
    auto bad = model_shape_preset("llama9-1t");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(bad.error().message.find("llama9-1t"), std::string::npos);
    EXPECT_NE(bad.error().message.find("llama2-7b"), std::string::npos);  // lists the known names
}

TEST(ModelGenerator, Llama2_7bF16SizeMatchesParameterCount) {
    auto s = model_shape_preset("llama2-7b");
    ASSERT_TRUE(s);
    // 6,738,415,616 parameters; norms (65 vectors of 4096) are f32: +2 bytes each.
    const uint64 weights = 6738415616ull * 2 + 65ull * 4096 * 2;
    const uint64 bytes = generated_model_bytes(*s, DType::F16);
    EXPECT_GT(bytes, weights);
    EXPECT_LT(bytes, weights + 2'000'000);  // header: vocab of 32000 pieces and padding
}

TEST(ModelGenerator, ValidationNamesTheField) {
    ModelShape s = *model_shape_preset("tiny");
    struct Case {
        const char* field;
        void (*mutate)(ModelShape&);
    } cases[] = {
        {"n_head", [](ModelShape& m) { m.n_head = 5; }},
        {"n_head_kv", [](ModelShape& m) { m.n_head_kv = 3; }},
        {"n_vocab", [](ModelShape& m) { m.n_vocab = 100; }},
        {"n_layer", [](ModelShape& m) { m.n_layer = 0; }},
        {"n_head", [](ModelShape& m) { m.n_embd = 60; m.n_head = 4; }},  // head_dim 15: odd
    };
    for (auto& c : cases) {
        ModelShape m = s;
        c.mutate(m);
        auto r = validate_model_shape(m);
        ASSERT_FALSE(r) << c.field;
        EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
        EXPECT_NE(r.error().message.find(c.field), std::string::npos) << r.error().message;
        auto g = generate_model(m, DType::F16, test::tmp_dir() / "never.gguf", 1);
        EXPECT_FALSE(g);
        EXPECT_FALSE(std::filesystem::exists(test::tmp_dir() / "never.gguf"));
    }
}

TEST(ModelGenerator, GeneratedModelsLoadBindAndCarryTheTokenizer) {
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
        for (const char* preset : {"tiny", "tiny-mha", "tiny-mqa"}) {
            Path p = gen(preset, dt, std::string(preset) + "_" + dtype_name(dt) + ".gguf");
            auto g = GGUFLoader::open(p);
            ASSERT_TRUE(g) << g.error().to_string();
            auto cfg = ModelConfig::from_source(**g);
            ASSERT_TRUE(cfg) << cfg.error().to_string();
            ModelShape s = *model_shape_preset(preset);
            EXPECT_EQ(cfg->n_vocab, s.n_vocab);
            EXPECT_EQ(cfg->n_embd, s.n_embd);
            EXPECT_EQ(cfg->n_layer, s.n_layer);
            EXPECT_EQ(cfg->n_head, s.n_head);
            EXPECT_EQ(cfg->n_head_kv, s.n_head_kv);
            EXPECT_EQ(cfg->n_ff, s.n_ff);
            EXPECT_EQ(cfg->n_ctx_train, s.n_ctx);
            EXPECT_EQ(cfg->rope_freq_base, s.rope_base);
            EXPECT_FALSE(cfg->tied_output);
            auto reg = TensorRegistry::bind(*cfg, **g);
            ASSERT_TRUE(reg) << reg.error().to_string();
            EXPECT_EQ(reg->get({TensorRole::Wq, 0}).dtype, dt);
            EXPECT_EQ(reg->get({TensorRole::AttnNorm, 0}).dtype, DType::F32);
            EXPECT_EQ(std::filesystem::file_size(p), generated_model_bytes(s, dt));

            const GGUFValue* toks = (*g)->find("tokenizer.ggml.tokens");
            ASSERT_NE(toks, nullptr);
            ASSERT_EQ(toks->arr_str.size(), s.n_vocab);
            EXPECT_EQ(toks->arr_str[0], "<unk>");
            EXPECT_EQ(toks->arr_str[1], "<s>");
            EXPECT_EQ(toks->arr_str[2], "</s>");
            EXPECT_EQ(toks->arr_str[3], "<0x00>");
            EXPECT_EQ(toks->arr_str[258], "<0xFF>");
            EXPECT_EQ((*g)->find("tokenizer.ggml.scores")->arr_f.size(), s.n_vocab);
            EXPECT_EQ((*g)->find("tokenizer.ggml.token_type")->arr_i[3], 6);
            EXPECT_EQ(*(*g)->get_string("tokenizer.ggml.model"), "llama");
            EXPECT_EQ(*(*g)->get_uint("tokenizer.ggml.bos_token_id"), 1u);
        }
    }
}

TEST(ModelGenerator, VocabPiecesAreUniqueAndMergeReachable) {
    auto v = generated_vocab(2000);
    ASSERT_EQ(v.size(), 2000u);
    std::set<std::string> seen(v.begin(), v.end());
    EXPECT_EQ(seen.size(), v.size());
    // Every "\u2581word" piece of length > 1 word char is its prefix piece plus one char.
    for (size_t k = 259; k < v.size(); ++k) {
        const std::string& t = v[k];
        if (t.size() <= 4) continue;  // "\u2581x" or single chars
        EXPECT_TRUE(seen.count(t.substr(0, t.size() - 1))) << t;
        EXPECT_TRUE(seen.count(t.substr(t.size() - 1))) << t;
    }
}

TEST(ModelGenerator, DeterministicFromSeedAndStatisticallySane) {
    Path a = gen("small", DType::F32, "det_a.gguf", 7);
    Path b = gen("small", DType::F32, "det_b.gguf", 7);
    Path c = gen("small", DType::F32, "det_c.gguf", 8);
    EXPECT_EQ(test::read_file(a), test::read_file(b));
    EXPECT_NE(test::read_file(a), test::read_file(c));

    auto g = GGUFLoader::open(a);
    ASSERT_TRUE(g);
    auto w = tensor_as_f32(**g, "blk.1.ffn_up.weight");  // 704 x 256
    double sum = 0, sq = 0;
    for (float x : w) sum += x, sq += double(x) * x;
    double mean = sum / w.size(), sd = std::sqrt(sq / w.size() - mean * mean);
    EXPECT_NEAR(mean, 0.0, 1e-3);
    EXPECT_NEAR(sd, 0.02, 1e-3);
    // Different tensors get different values.
    auto w2 = tensor_as_f32(**g, "blk.1.ffn_gate.weight");
    EXPECT_NE(w, w2);
    auto n = tensor_as_f32(**g, "output_norm.weight");
    for (float x : n) EXPECT_NEAR(x, 1.0f, 0.15f);
}

TEST(ModelGenerator, HalfDtypesAreRoundedF32Weights) {
    Path p32 = gen("tiny", DType::F32, "conv_f32.gguf", 3);
    Path p16 = gen("tiny", DType::F16, "conv_f16.gguf", 3);
    Path pbf = gen("tiny", DType::BF16, "conv_bf16.gguf", 3);
    auto g32 = GGUFLoader::open(p32), g16 = GGUFLoader::open(p16), gbf = GGUFLoader::open(pbf);
    ASSERT_TRUE(g32 && g16 && gbf);
    auto w32 = tensor_as_f32(**g32, "token_embd.weight");
    auto w16 = tensor_as_f32(**g16, "token_embd.weight");
    auto wbf = tensor_as_f32(**gbf, "token_embd.weight");
    ASSERT_EQ(w32.size(), w16.size());
    for (size_t k = 0; k < w32.size(); ++k) {
        // f16: 11 significant bits (subnormals below 6e-5 have an absolute step of 6e-8);
        // bf16: 8 significant bits.
        ASSERT_NEAR(w16[k], w32[k], std::fabs(w32[k]) * (1.0 / 2048) + 6e-8) << k;
        ASSERT_NEAR(wbf[k], w32[k], std::fabs(w32[k]) * (1.0 / 256)) << k;
    }
    // Norms are f32 in every variant and identical.
    EXPECT_EQ(tensor_as_f32(**g16, "blk.0.ffn_norm.weight"), tensor_as_f32(**g32, "blk.0.ffn_norm.weight"));
}

}  // namespace
