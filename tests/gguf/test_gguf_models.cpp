#include <gtest/gtest.h>

#include "gguf/GGUFLoader.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

TEST(GGUFModels, Stories260KConfigAndRegistry) {
    auto g = GGUFLoader::open(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(g) << g.error().to_string();
    auto cfg = ModelConfig::from_source(**g);
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    EXPECT_EQ(cfg->n_layer, 5u);
    EXPECT_EQ(cfg->n_head, 8u);
    EXPECT_EQ(cfg->n_head_kv, 4u);
    EXPECT_EQ(cfg->n_vocab, 512u);
    auto reg = TensorRegistry::bind(*cfg, **g);
    ASSERT_TRUE(reg) << reg.error().to_string();
    EXPECT_GT(reg->total_bytes(), 1000000u);
}

TEST(GGUFModels, EveryModelBinds) {
    for (auto name : {"syn-f32.gguf", "syn-f16.gguf", "syn-bf16.gguf", "syn-spm-f16.gguf"}) {
        auto g = GGUFLoader::open(test::models_dir() / name);
        ASSERT_TRUE(g) << g.error().to_string();
        auto cfg = ModelConfig::from_source(**g);
        ASSERT_TRUE(cfg) << cfg.error().to_string();
        auto reg = TensorRegistry::bind(*cfg, **g);
        ASSERT_TRUE(reg) << name << ": " << reg.error().to_string();
    }
}
