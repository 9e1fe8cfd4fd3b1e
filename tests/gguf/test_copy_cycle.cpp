// Copy-cycle models as files (model/CopyCycle.h): the head is the embedding with rows permuted
// by the cycle, the layers' input norms are scaled, every other tensor is the plain random
// model's, the cycle is a metadata key; shapes the mechanism cannot serve are refused by name.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "gguf/GGUFLoader.h"
#include "model/CopyCycle.h"
#include "model/ModelGenerator.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

Path gen(ModelShape s, DType dt, const std::string& file) {
    const Path p = test::tmp_dir() / file;
    auto r = generate_model(s, dt, p, 7);
    EXPECT_TRUE(r) << r.error().to_string();
    return p;
}

ModelShape tiny_cycle(uint32 n) {
    ModelShape s = *model_shape_preset("tiny");
    s.copy_cycle = n;
    return s;
}

std::vector<uint8> bytes(const GGUFLoader& g, const std::string& name) {
    auto b = g.read_tensor(name);
    EXPECT_TRUE(b) << b.error().to_string();
    return b ? *b : std::vector<uint8>{};
}

}  // namespace

TEST(CopyCycle, TokensAreDistinctRegularAndFixedBySeed) {
    const ModelShape s = tiny_cycle(9);
    const std::vector<uint32> c = copy_cycle_tokens(s, 7);
    ASSERT_EQ(c.size(), 9u);
    EXPECT_EQ(std::set<uint32>(c.begin(), c.end()).size(), 9u);
    for (uint32 t : c) EXPECT_TRUE(t >= 259 && t < s.n_vocab) << t;
    EXPECT_EQ(copy_cycle_tokens(s, 7), c);
    EXPECT_NE(copy_cycle_tokens(s, 8), c);
    const std::vector<uint32> rows = copy_cycle_head_rows(s.n_vocab, c);
    for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(rows[c[(i + 1) % c.size()]], c[i]) << "head row pi(c_i) is embedding row c_i";
    EXPECT_EQ(rows[1], 1u) << "tokens outside the cycle map to themselves";
}

TEST(CopyCycle, HeadIsThePermutedEmbeddingAndLayerInputsAreScaled) {
    for (DType dt : {DType::F16, DType::BF16}) {
        const Path cyc = gen(tiny_cycle(6), dt, std::string("cycle-") + dtype_name(dt) + ".gguf");
        const Path plain = gen(*model_shape_preset("tiny"), dt, std::string("plain-") + dtype_name(dt) + ".gguf");
        auto g = GGUFLoader::open(cyc);
        auto p = GGUFLoader::open(plain);
        ASSERT_TRUE(g && p);
        auto cycle = read_copy_cycle(**g, 384);
        ASSERT_TRUE(cycle) << cycle.error().to_string();
        EXPECT_EQ(*cycle, copy_cycle_tokens(tiny_cycle(6), 7));
        auto none = read_copy_cycle(**p, 384);
        ASSERT_TRUE(none);
        EXPECT_TRUE(none->empty());
        const std::vector<uint8> embd = bytes(**g, "token_embd.weight"), head = bytes(**g, "output.weight");
        ASSERT_EQ(embd.size(), head.size());
        const uint64 row = 64 * dtype_size(dt);
        const std::vector<uint32> from = copy_cycle_head_rows(384, *cycle);
        for (uint32 r = 0; r < 384; ++r) EXPECT_EQ(std::memcmp(head.data() + r * row, embd.data() + from[r] * row, row), 0) << "row " << r;
        EXPECT_EQ(embd, bytes(**p, "token_embd.weight")) << "the embedding is the plain model's";
        EXPECT_EQ(bytes(**g, "blk.1.attn_output.weight"), bytes(**p, "blk.1.attn_output.weight")) << "matrices unchanged";
        EXPECT_EQ(bytes(**g, "blk.0.ffn_down.weight"), bytes(**p, "blk.0.ffn_down.weight"));
        const std::vector<uint8> n = bytes(**g, "blk.0.attn_norm.weight"), n0 = bytes(**p, "blk.0.attn_norm.weight");
        const float scale = copy_cycle_layer_scale(model_config_for_shape(tiny_cycle(6)), 0.02f);
        EXPECT_GT(scale, 0.0f);
        EXPECT_LT(scale, 0.1f);
        for (size_t k = 0; k < n.size() / 4; ++k) {
            float a, b;
            std::memcpy(&a, n.data() + 4 * k, 4);
            std::memcpy(&b, n0.data() + 4 * k, 4);
            EXPECT_NEAR(a, b * scale, 1e-6f * std::fabs(b)) << k;
        }
        EXPECT_EQ(bytes(**g, "output_norm.weight"), bytes(**p, "output_norm.weight")) << "the head's norm is not scaled";
    }
}

TEST(CopyCycle, RefusesShapesItCannotServe) {
    auto expect_refused = [](ModelShape s, const std::string& why) {
        auto r = validate_model_shape(s);
        ASSERT_FALSE(r) << why;
        EXPECT_NE(r.error().message.find("copy_cycle"), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    };
    expect_refused(tiny_cycle(1), "must be in 2..");
    expect_refused(tiny_cycle(126), "must be in 2..125");
    ModelShape tied = *model_shape_preset("gemma2-9b");
    tied.copy_cycle = 4;
    expect_refused(tied, "output matrix");
    ModelShape moe = *model_shape_preset("tiny-moe");
    moe.copy_cycle = 4;
    moe.router_skew = 1.0f;
    expect_refused(moe, "router_skew");
    EXPECT_TRUE(validate_model_shape(tiny_cycle(125)));
}
