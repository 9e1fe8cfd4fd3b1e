// HfLayout: each convention against data computed here, and hf/llama31 against the GGUF
// llama.cpp's converter made from it (../shared/models/arch/llama31.gguf): every tensor's
// bytes equal after the Q/K permutation (norms as the converter widens them to f32), and
// rope_freqs.weight equals llama3_rope_factors() bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "gguf/GGUFLoader.h"
#include "hf/HfCheckpoint.h"
#include "hf/HfLayout.h"
#include "hf/HfTensorNames.h"
#include "hf/HfTestFiles.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

float bf16_bits_to_float(uint16 b) {
    const uint32 u = uint32(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

HfConfig config_of(const std::string& name) { return read_hf_config(hf_model_dir(name) / "config.json").value(); }

// The converter's permutation spelled as its numpy calls: reshape rows to
// (heads, 2, head_dim/2), swap the last two axes, reshape back.
std::vector<uint32> converter_row_order(uint64 rows, uint64 head_dim) {
    std::vector<uint32> src_of(rows);
    const uint64 heads = rows / head_dim, half = head_dim / 2;
    for (uint64 h = 0; h < heads; ++h)
        for (uint64 a = 0; a < 2; ++a)
            for (uint64 b = 0; b < half; ++b) src_of[(h * half + b) * 2 + a] = uint32((h * 2 + a) * half + b);
    return src_of;
}

TEST(HfLayout, QkPermutationIsTheConverters) {
    for (auto [rows, head_dim] : {std::pair<uint64, uint64>{128, 32}, {64, 64}, {12, 4}, {2, 2}}) {
        const uint64 row_bytes = 6;
        std::vector<uint8> hf(rows * row_bytes), gguf(hf.size()), back(hf.size());
        for (size_t k = 0; k < hf.size(); ++k) hf[k] = uint8(k * 7 + k / row_bytes);
        permute_qk_rows(hf.data(), gguf.data(), rows, row_bytes, head_dim);
        const auto src_of = converter_row_order(rows, head_dim);
        for (uint64 r = 0; r < rows; ++r) {
            EXPECT_EQ(std::memcmp(gguf.data() + r * row_bytes, hf.data() + src_of[r] * row_bytes, row_bytes), 0) << "row " << r;
            EXPECT_EQ(qk_gguf_row_of_hf_row(qk_hf_row_of_gguf_row(r, head_dim), head_dim), r);
        }
        unpermute_qk_rows(gguf.data(), back.data(), rows, row_bytes, head_dim);
        EXPECT_EQ(back, hf);
    }
}

// Why the engine may skip the permutation: rotate-half rope on transformers' order equals
// adjacent-pair rope on the permuted order, dim for dim, so q.k is the same.
TEST(HfLayout, RotateHalfRopeOnHfOrderEqualsPairRopeOnPermutedOrder) {
    const uint64 d = 16;
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    auto rope_pair = [&](std::vector<float> x, int pos) {
        for (uint64 i = 0; i < d / 2; ++i) {
            const float th = float(pos * std::pow(10000.0, -2.0 * i / d)), a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * std::cos(th) - b * std::sin(th), x[2 * i + 1] = a * std::sin(th) + b * std::cos(th);
        }
        return x;
    };
    auto rope_half = [&](std::vector<float> x, int pos) {
        for (uint64 i = 0; i < d / 2; ++i) {
            const float th = float(pos * std::pow(10000.0, -2.0 * i / d)), a = x[i], b = x[i + d / 2];
            x[i] = a * std::cos(th) - b * std::sin(th), x[i + d / 2] = a * std::sin(th) + b * std::cos(th);
        }
        return x;
    };
    auto permute = [&](const std::vector<float>& hf) {
        std::vector<float> g(d);
        permute_qk_rows(reinterpret_cast<const uint8*>(hf.data()), reinterpret_cast<uint8*>(g.data()), d, 4, d);
        return g;
    };
    std::vector<float> q(d), k(d);
    for (auto& v : q) v = nd(rng);
    for (auto& v : k) v = nd(rng);
    for (int pos : {0, 1, 5, 100}) {
        const auto want = permute(rope_half(q, pos)), got = rope_pair(permute(q), pos);
        for (uint64 i = 0; i < d; ++i) EXPECT_NEAR(got[i], want[i], 1e-5f) << "pos " << pos << " dim " << i;
        const auto qh = rope_half(q, pos), kh = rope_half(k, 3), qg = rope_pair(permute(q), pos), kg = rope_pair(permute(k), 3);
        float dot_h = 0, dot_g = 0;
        for (uint64 i = 0; i < d; ++i) dot_h += qh[i] * kh[i], dot_g += qg[i] * kg[i];
        EXPECT_NEAR(dot_h, dot_g, 1e-4f);
    }
}

// hf/llama31 against the GGUF the converter made from it.
TEST(HfLayout, Llama31MatchesTheConvertedGguf) {
    const HfConfig cfg = config_of("llama31");
    auto ck = HfCheckpoint::open(hf_model_dir("llama31"));
    auto gguf = GGUFLoader::open(models_dir() / "arch" / "llama31.gguf");
    ASSERT_TRUE(ck && gguf);
    size_t matched = 0;
    for (const auto& t : (*ck)->tensors()) {
        SCOPED_TRACE(t.name);
        const auto target = hf_tensor_target(*cfg.arch, t.name).value().value();
        const GGUFTensorInfo* g = (*gguf)->find_tensor(target.name);
        ASSERT_NE(g, nullptr) << target.name;
        EXPECT_EQ(std::vector<uint64>(g->dims.rbegin(), g->dims.rend()), t.shape);
        auto hf = (*ck)->read_tensor(t.name);
        auto want = (*gguf)->read_tensor(target.name);
        ASSERT_TRUE(hf && want);
        std::vector<uint8> got = *hf;
        const bool qk = target.name.ends_with("attn_q.weight") || target.name.ends_with("attn_k.weight");
        if (qk) {
            permute_qk_rows(hf->data(), got.data(), t.rows(), t.cols() * 2, cfg.head_dim);
            EXPECT_NE(*hf, *want) << "the permutation should matter";
        }
        if (g->dtype == DType::F32) {  // norms: bf16 in the folder, widened to f32 by the converter
            ASSERT_EQ(want->size(), 2 * got.size());
            for (uint64 k = 0; k < t.n_elements; ++k) {
                uint16 b;
                float w;
                std::memcpy(&b, got.data() + 2 * k, 2);
                std::memcpy(&w, want->data() + 4 * k, 4);
                EXPECT_EQ(bf16_bits_to_float(b), w) << "element " << k;
            }
        } else {
            EXPECT_EQ(got, *want);
        }
        ++matched;
    }
    // Every converted tensor has its source, but rope_freqs.weight, which comes from config.json.
    EXPECT_EQ(matched + 1, (*gguf)->tensors().size());
    auto freqs = (*gguf)->read_tensor("rope_freqs.weight");
    ASSERT_TRUE(freqs);
    const std::vector<float> mine = llama3_rope_factors(cfg);
    ASSERT_EQ(mine.size() * 4, freqs->size());
    EXPECT_EQ(std::memcmp(mine.data(), freqs->data(), freqs->size()), 0);
}

TEST(HfLayout, Llama3FactorsPerWavelength) {
    HfConfig c = config_of("llama31");  // theta 5e5, head_dim 32, factor 8, window 2048..8192
    const std::vector<float> f = llama3_rope_factors(c);
    ASSERT_EQ(f.size(), 16u);
    for (uint64 i = 0; i < 16; ++i) {
        const double wavelen = 2 * M_PI * std::pow(500000.0, 2.0 * i / 32);
        if (wavelen < 2048) EXPECT_EQ(f[i], 1.0f) << i;
        else if (wavelen > 8192) EXPECT_EQ(f[i], 8.0f) << i;
        else {
            const double smooth = (8192 / wavelen - 1) / 3;
            EXPECT_NEAR(f[i], 1 / ((1 - smooth) / 8 + smooth), 1e-5) << i;
            EXPECT_GT(f[i], 1.0f);
            EXPECT_LT(f[i], 8.0f);
        }
    }
    c.original_max_position_embeddings = 65536;  // the converter's bounds move with the top-level key
    const std::vector<float> wide = llama3_rope_factors(c);
    EXPECT_LT(std::count(wide.begin(), wide.end(), 8.0f), std::count(f.begin(), f.end(), 8.0f));
}

TEST(HfLayout, GemmaNormsAddOne) {
    auto ck = HfCheckpoint::open(hf_model_dir("gemma2"));
    ASSERT_TRUE(ck);
    const HfTensor* t = (*ck)->find("model.norm.weight");  // N(2, 0.1): a scale of about 3
    ASSERT_NE(t, nullptr);
    auto raw = (*ck)->read_tensor(t->name);
    const std::vector<float> w = norm_weights_plus_one(raw->data(), t->n_elements, t->dtype);
    double mean = 0;
    for (uint64 k = 0; k < t->n_elements; ++k) {
        uint16 b;
        std::memcpy(&b, raw->data() + 2 * k, 2);
        EXPECT_EQ(w[k], 1.0f + bf16_bits_to_float(b));
        mean += w[k] / double(t->n_elements);
    }
    EXPECT_NEAR(mean, 3.0, 0.1);
    const uint16 f16[] = {0x3800, 0xbc00};  // 0.5, -1
    EXPECT_EQ(norm_weights_plus_one(reinterpret_cast<const uint8*>(f16), 2, DType::F16), (std::vector<float>{1.5f, 0.0f}));
    const float f32[] = {0.25f, -2.0f};
    EXPECT_EQ(norm_weights_plus_one(reinterpret_cast<const uint8*>(f32), 2, DType::F32), (std::vector<float>{1.25f, -1.0f}));
}

TEST(HfLayout, TiedEmbeddings) {
    EXPECT_TRUE(hf_output_is_tied(config_of("qwen2"), false).value());
    EXPECT_TRUE(hf_output_is_tied(config_of("gemma2"), false).value());
    EXPECT_FALSE(hf_output_is_tied(config_of("llama31"), true).value());
    auto untied = hf_output_is_tied(config_of("llama31"), false);
    ASSERT_FALSE(untied);
    EXPECT_NE(untied.error().message.find("'lm_head.weight'"), std::string::npos) << untied.error().message;
    EXPECT_NE(untied.error().message.find("'tie_word_embeddings' is false"), std::string::npos);
    for (const auto& name : hf_model_names()) {  // the folders agree with their configs
        auto ck = HfCheckpoint::open(hf_model_dir(name));
        EXPECT_TRUE(hf_output_is_tied(config_of(name), (*ck)->find("lm_head.weight") != nullptr)) << name;
    }
}

TEST(HfLayout, VocabularyPadding) {
    EXPECT_EQ(hf_vocab_padding(config_of("qwen2"), 512).value(), 32u);       // 544 rows, 512 pieces
    EXPECT_EQ(hf_vocab_padding(config_of("phi3"), 512 + 11).value(), 53u);  // 576 rows, 11 added tokens
    EXPECT_EQ(hf_vocab_padding(config_of("llama31"), 512).value(), 0u);
    auto over = hf_vocab_padding(config_of("llama31"), 600);
    ASSERT_FALSE(over);
    EXPECT_NE(over.error().message.find("'vocab_size' 512 is below the tokenizer's 600 tokens"), std::string::npos) << over.error().message;
    EXPECT_EQ(hf_pad_token_text(512), "[PAD512]");
    auto ck = HfCheckpoint::open(hf_model_dir("qwen2"));
    EXPECT_EQ((*ck)->find("model.embed_tokens.weight")->rows(), 544u);  // the embedding has every padded row
}

TEST(HfLayout, Phi3FusedRows) {
    const HfConfig c = config_of("phi3");
    auto ck = HfCheckpoint::open(hf_model_dir("phi3"));
    const FusedQkvRows qkv = fused_qkv_rows(c);
    EXPECT_EQ(qkv.q, (RowRange{0, 128}));
    EXPECT_EQ(qkv.k, (RowRange{128, 192}));
    EXPECT_EQ(qkv.v, (RowRange{192, 256}));
    EXPECT_EQ((*ck)->find("model.layers.0.self_attn.qkv_proj.weight")->rows(), qkv.v.end);
    const FusedGateUpRows gu = fused_gate_up_rows(c);
    EXPECT_EQ(gu.gate, (RowRange{0, 256}));
    EXPECT_EQ(gu.up, (RowRange{256, 512}));
    EXPECT_EQ((*ck)->find("model.layers.1.mlp.gate_up_proj.weight")->rows(), gu.up.end);
}

}  // namespace
