// Generated Hugging Face folders: the tiny shape written as a sharded folder reads back
// through HfCheckpoint with every tensor equal to the GGUF generated from the same seed
// (Q/K rows through the converter's permutation, norms as the folder's dtype rounds them);
// the config reads back as the shape; vk_symbiote_genmodel --format hf writes the folder.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "common/HalfFloat.h"
#include "gguf/GGUFLoader.h"
#include "hf/HfCheckpoint.h"
#include "hf/HfConfig.h"
#include "hf/HfLayout.h"
#include "hf/HfTensorNames.h"
#include "model/HfModelGenerator.h"
#include "model/ModelGenerator.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

// The folder's tensor as the GGUF stores it: Q/K rows permuted, norms widened to f32.
std::vector<uint8> as_gguf(const HfTensor& t, const std::string& gguf_name, std::vector<uint8> hf, uint64 head_dim) {
    if (gguf_name.ends_with("attn_q.weight") || gguf_name.ends_with("attn_k.weight")) {
        std::vector<uint8> g(hf.size());
        permute_qk_rows(hf.data(), g.data(), t.rows(), t.cols() * dtype_size(t.dtype), head_dim);
        return g;
    }
    if (t.shape.size() != 1 || t.dtype == DType::F32) return hf;
    std::vector<uint8> f32(t.n_elements * 4);
    for (uint64 k = 0; k < t.n_elements; ++k) {
        uint16 h;
        std::memcpy(&h, hf.data() + 2 * k, 2);
        const float v = t.dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        std::memcpy(f32.data() + 4 * k, &v, 4);
    }
    return f32;
}

// Rounds the GGUF's f32 norm to the folder's dtype and back, as the folder stores it.
std::vector<uint8> rounded_norm(const std::vector<uint8>& f32, DType dtype) {
    std::vector<uint8> out(f32.size());
    for (size_t k = 0; k < f32.size(); k += 4) {
        float v;
        std::memcpy(&v, f32.data() + k, 4);
        v = dtype == DType::F16 ? f16_to_f32(f32_to_f16(v)) : dtype == DType::BF16 ? bf16_to_f32(f32_to_bf16(v)) : v;
        std::memcpy(out.data() + k, &v, 4);
    }
    return out;
}

void expect_folder_equals_gguf(const Path& dir, const Path& gguf_path, const ModelShape& shape, DType dtype, size_t shards) {
    auto ck = HfCheckpoint::open(dir);
    ASSERT_TRUE(ck) << ck.error().to_string();
    EXPECT_EQ((*ck)->shard_count(), shards);
    auto gguf = GGUFLoader::open(gguf_path);
    ASSERT_TRUE(gguf) << gguf.error().to_string();
    auto cfg = read_hf_config(dir / "config.json");
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    EXPECT_EQ(cfg->torch_dtype, dtype);
    EXPECT_EQ(cfg->hidden_size, shape.n_embd);
    EXPECT_EQ(cfg->num_key_value_heads, shape.n_head_kv);
    EXPECT_EQ(float(cfg->rms_norm_eps), 1e-5f);
    EXPECT_EQ((*ck)->tensors().size(), (*gguf)->tensors().size());
    for (const auto& t : (*ck)->tensors()) {
        SCOPED_TRACE(t.name);
        EXPECT_EQ(t.dtype, dtype);
        const auto target = hf_tensor_target(*cfg->arch, t.name).value().value();
        const GGUFTensorInfo* g = (*gguf)->find_tensor(target.name);
        ASSERT_NE(g, nullptr) << target.name;
        EXPECT_EQ(std::vector<uint64>(g->dims.rbegin(), g->dims.rend()), t.shape);
        auto want = (*gguf)->read_tensor(target.name).value();
        if (g->dtype == DType::F32 && dtype != DType::F32) want = rounded_norm(want, dtype);
        EXPECT_EQ(as_gguf(t, target.name, (*ck)->read_tensor(t.name).value(), cfg->head_dim), want);
    }
}

TEST(HfGenerated, ShardedFolderHoldsTheGgufsWeights) {
    const ModelShape shape = model_shape_preset("tiny").value();
    for (DType dt : {DType::BF16, DType::F16, DType::F32}) {
        SCOPED_TRACE(dtype_name(dt));
        const Path dir = tmp_dir() / (std::string("gen-") + dtype_name(dt));
        const Path gguf = tmp_dir() / (std::string("gen-") + dtype_name(dt) + ".gguf");
        ASSERT_TRUE(generate_model(shape, dt, gguf, 42));
        ASSERT_TRUE(generate_hf_model(shape, dt, dir, 42, 60'000));  // shards of at most 60 kB
        auto index = HfCheckpoint::open(dir);
        ASSERT_TRUE(index);
        const size_t shards = (*index)->shard_count();
        EXPECT_GE(shards, 3u);
        for (uint32 k = 0; k < shards; ++k) EXPECT_TRUE(std::filesystem::exists(dir / hf_shard_file_name(k, shards)));
        expect_folder_equals_gguf(dir, gguf, shape, dt, shards);
        EXPECT_TRUE(std::filesystem::exists(dir / "generation_config.json"));
    }
}

TEST(HfGenerated, ShardPlanFollowsTransformers) {
    EXPECT_EQ(plan_hf_shards({10, 10, 10}, 25), (std::vector<std::vector<size_t>>{{0, 1}, {2}}));
    EXPECT_EQ(plan_hf_shards({30, 5, 5}, 25), (std::vector<std::vector<size_t>>{{0}, {1, 2}}));  // oversized tensor: a shard alone
    EXPECT_EQ(plan_hf_shards({5, 30, 5}, 25), (std::vector<std::vector<size_t>>{{0}, {1}, {2}}));
    EXPECT_EQ(plan_hf_shards({5, 5}, 100), (std::vector<std::vector<size_t>>{{0, 1}}));
    EXPECT_EQ(hf_shard_file_name(1, 12), "model-00002-of-00012.safetensors");
}

TEST(HfGenerated, GenmodelWritesAFolder) {
    const Path tool = Path(VKS_TEST_BINARY_DIR) / "vk_symbiote_genmodel";
    ASSERT_TRUE(std::filesystem::exists(tool)) << tool;
    const Path dir = tmp_dir() / "cli-folder";
    const std::string cmd = tool.string() + " --shape tiny --dtype bf16 --seed 9 --format hf --shard-size 100KB --out " + dir.string() + " > /dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const Path gguf = tmp_dir() / "cli.gguf";
    ASSERT_TRUE(generate_model(model_shape_preset("tiny").value(), DType::BF16, gguf, 9));
    expect_folder_equals_gguf(dir, gguf, model_shape_preset("tiny").value(), DType::BF16, 3);
    const std::string bad = tool.string() + " --shape tiny --dtype bf16 --shard-size 1GB --out " + (tmp_dir() / "x.gguf").string() + " > /dev/null 2>&1";
    EXPECT_NE(std::system(bad.c_str()), 0) << "--shard-size without --format hf was accepted";
}

}  // namespace
