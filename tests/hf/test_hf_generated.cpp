// Generated Hugging Face folders: the tiny shape written as a sharded folder reads back
// through HfCheckpoint with every tensor equal to the GGUF generated from the same seed
// (Q/K rows through the converter's permutation, norms as the folder's dtype rounds them);
// the config reads back as the shape; tokenizer.model holds the GGUF's vocabulary with the
// settings of a real Llama-style tokenizer.model; vk_symbiote_genmodel --format hf writes
// the folder.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "common/HalfFloat.h"
#include "gguf/GGUFLoader.h"
#include "hf/HfCheckpoint.h"
#include "hf/HfConfig.h"
#include "hf/HfLayout.h"
#include "hf/HfTensorNames.h"
#include "model/HfModelGenerator.h"
#include "model/ModelGenerator.h"
#include "hf/HfTestFiles.h"
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

// A protobuf message as (field, value) pairs: varints as numbers, fixed32 as floats,
// length-delimited fields as bytes (enough for SentencePiece's ModelProto).
struct ProtoField {
    uint32 field = 0;
    uint64 number = 0;
    float f32 = 0;
    std::string bytes;
};

std::vector<ProtoField> proto_fields(const std::string& b) {
    std::vector<ProtoField> out;
    size_t i = 0;
    auto varint = [&]() {
        uint64 v = 0;
        for (int shift = 0; i < b.size(); shift += 7) {
            const uint8 c = uint8(b[i++]);
            v |= uint64(c & 0x7f) << shift;
            if (c < 0x80) break;
        }
        return v;
    };
    while (i < b.size()) {
        const uint64 key = varint();
        ProtoField f;
        f.field = uint32(key >> 3);
        if ((key & 7) == 0) f.number = varint();
        else if ((key & 7) == 5) std::memcpy(&f.f32, b.data() + i, 4), i += 4;
        else if ((key & 7) == 2) {
            const uint64 n = varint();
            f.bytes = b.substr(i, n);
            i += n;
        } else {
            ADD_FAILURE() << "wire type " << (key & 7);
            break;
        }
        out.push_back(f);
    }
    return out;
}

// field -> number of a message's varint fields
std::map<uint32, uint64> numbers(const std::string& message) {
    std::map<uint32, uint64> m;
    for (const auto& f : proto_fields(message)) m[f.field] = f.number;
    return m;
}

std::string sub_message(const std::vector<ProtoField>& fields, uint32 field) {
    for (const auto& f : fields)
        if (f.field == field) return f.bytes;
    ADD_FAILURE() << "no field " << field;
    return {};
}

TEST(HfGenerated, TokenizerModelHoldsTheGgufVocabulary) {
    const ModelShape shape = model_shape_preset("tiny").value();
    const Path dir = tmp_dir() / "gen-tokenizer", gguf_path = tmp_dir() / "gen-tokenizer.gguf";
    ASSERT_TRUE(generate_hf_model(shape, DType::F16, dir, 3));
    ASSERT_TRUE(generate_model(shape, DType::F16, gguf_path, 3));
    const auto mine = proto_fields(read_file(dir / "tokenizer.model"));
    const auto real = proto_fields(read_file(hf_model_dir("llama31") / "tokenizer.model"));
    // The settings that decide tokenization are those of a real Llama-style tokenizer.model.
    for (uint32 f : {3u, 35u, 40u, 41u, 42u, 43u}) EXPECT_EQ(numbers(sub_message(mine, 2))[f], numbers(sub_message(real, 2))[f]) << "trainer_spec field " << f;
    EXPECT_EQ(numbers(sub_message(mine, 2))[4], shape.n_vocab);
    for (uint32 f : {3u, 4u}) EXPECT_EQ(numbers(sub_message(mine, 3))[f], numbers(sub_message(real, 3))[f]) << "normalizer_spec field " << f;
    EXPECT_EQ(proto_fields(sub_message(mine, 3))[0].bytes, "identity");
    auto gguf = GGUFLoader::open(gguf_path);
    ASSERT_TRUE(gguf);
    const GGUFValue* tokens = (*gguf)->find("tokenizer.ggml.tokens");
    const GGUFValue* scores = (*gguf)->find("tokenizer.ggml.scores");
    const GGUFValue* types = (*gguf)->find("tokenizer.ggml.token_type");
    ASSERT_TRUE(tokens && scores && types);
    size_t k = 0;
    for (const auto& f : mine) {
        if (f.field != 1) continue;
        ASSERT_LT(k, tokens->arr_str.size());
        const auto piece = proto_fields(f.bytes);
        EXPECT_EQ(piece[0].bytes, tokens->arr_str[k]) << k;
        EXPECT_EQ(piece[1].f32, float(scores->arr_f[k])) << k;
        EXPECT_EQ(piece.size() > 2 ? piece[2].number : 1, uint64(types->arr_i[k])) << k;
        ++k;
    }
    EXPECT_EQ(k, shape.n_vocab);
    const auto config = nlohmann::json::parse(read_file(dir / "tokenizer_config.json"));
    EXPECT_TRUE(config["add_bos_token"].get<bool>());
    EXPECT_EQ(config["bos_token"], "<s>");
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
