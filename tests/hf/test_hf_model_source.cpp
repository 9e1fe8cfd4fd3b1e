// HfModelSource: a Hugging Face folder as the engine's model source. One test per layout
// convention, each on the shared folder that has it (../shared/models/hf), checked against
// the stored bytes or against HfLayout's functions; a generated sharded folder computes the
// GGUF's logits; `--model file.safetensors` means the folder; the pack cache goes next to
// the folder; a folder of tokenizer files only tokenizes. The hf-* reference cases
// (tests/reference, tests/packs, tests/compression, tests/vulkan) check the whole models.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backend/cpu/CpuBackend.h"
#include "hf/HfLayout.h"
#include "hf/HfModelSource.h"
#include "memory/FileWeightProvider.h"
#include "model/HfModelGenerator.h"
#include "model/LoadedModel.h"
#include "model/ModelGenerator.h"
#include "packs/PackCache.h"
#include "packs/PackCacheSource.h"
#include "hf/HfTestFiles.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

std::shared_ptr<const LoadedModel> open_folder(const std::string& name) {
    auto m = LoadedModel::open(hf_model_dir(name));
    EXPECT_TRUE(m) << m.error().to_string();
    return m ? *m : nullptr;
}

const HfModelSource& hf_source(const LoadedModel& m) { return dynamic_cast<const HfModelSource&>(m.source()); }

// A tensor's values as f32 through the source's reads.
std::vector<float> read_f32(const ModelSource& s, const TensorDesc& d) {
    std::vector<uint8> bytes(d.byte_size);
    EXPECT_TRUE(s.read_range(d.file_offset, d.byte_size, bytes.data()));
    std::vector<float> out(d.rows * d.cols);
    row_to_f32(d.dtype, bytes.data(), out.data(), out.size());
    return out;
}

// Logits of `tokens` (one batch) on the CPU backend.
std::vector<float> logits_of(const Path& model, const std::vector<uint32>& tokens) {
    auto w = FileWeightProvider::open(model);
    EXPECT_TRUE(w) << w.error().to_string();
    if (!w) return {};
    const uint32 n = uint32(tokens.size()), n_vocab = (*w)->config().n_vocab;
    CpuBackend be(1);
    EXPECT_TRUE(be.prepare(**w, n, n));
    std::vector<float> logits(uint64(n) * n_vocab, NAN);
    ForwardRequest req{tokens.data(), n, 0, true, logits.data()};
    EXPECT_TRUE(be.forward(req));
    return logits;
}

}  // namespace

// Llama / Mistral / Mixtral: Q and K rows are the stored rows (no permutation, no copy),
// computed with the rotate-half rope; a Qwen folder keeps its own (NeoX) rope.
TEST(HfModelSource, QkRowsStayAsStoredWithTheRotateHalfRope) {
    auto m = open_folder("llama31");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->config().rope_style, RopeStyle::NeoX);
    const HfTensor* q = hf_source(*m).checkpoint().find("model.layers.1.self_attn.q_proj.weight");
    ASSERT_NE(q, nullptr);
    const TensorDesc& wq = m->registry().get({TensorRole::Wq, 1});
    EXPECT_EQ(wq.file_offset, q->offset);
    EXPECT_EQ(wq.byte_size, q->byte_size);
    auto g = LoadedModel::open(models_dir() / "arch/llama31.gguf", false);
    ASSERT_TRUE(g) << g.error().to_string();
    EXPECT_EQ((*g)->config().rope_style, RopeStyle::Normal);  // the same family from a GGUF: pairs
}

// Gemma: every norm weight w is served as 1 + w in f32 (what the converter writes).
TEST(HfModelSource, GemmaNormsReadAsOnePlusTheStoredWeight) {
    auto m = open_folder("gemma2");
    ASSERT_TRUE(m);
    const HfCheckpoint& ck = hf_source(*m).checkpoint();
    for (auto [id, hf_name] : {std::pair{TensorId{TensorRole::AttnNorm, 0}, "model.layers.0.input_layernorm.weight"},
                               std::pair{TensorId{TensorRole::PostFfnNorm, 3}, "model.layers.3.post_feedforward_layernorm.weight"},
                               std::pair{TensorId{TensorRole::OutputNorm, -1}, "model.norm.weight"}}) {
        const TensorDesc& d = m->registry().get(id);
        EXPECT_EQ(d.dtype, DType::F32) << d.name;
        const HfTensor* t = ck.find(hf_name);
        ASSERT_NE(t, nullptr) << hf_name;
        auto stored = ck.read_tensor(hf_name);
        ASSERT_TRUE(stored);
        EXPECT_EQ(read_f32(m->source(), d), norm_weights_plus_one(stored->data(), t->n_elements, t->dtype)) << d.name;
    }
}

// Llama 3.1: rope_scaling from config.json becomes the converter's per-frequency factors.
TEST(HfModelSource, Llama3RopeScalingBecomesTheFrequencyFactors) {
    auto m = open_folder("llama31");
    ASSERT_TRUE(m);
    const std::vector<float> want = llama3_rope_factors(hf_source(*m).config());
    ASSERT_EQ(want.size(), m->config().n_rot / 2);
    EXPECT_EQ(m->config().rope_freq_factors, want);
    EXPECT_GT(*std::max_element(want.begin(), want.end()), 1.0f);  // scaling does something here
}

// Qwen 2 (tied, vocab_size 544 over 512 pieces): the output is the embedding matrix, and
// the tokenizer's ids are padded to the model's as the converter pads them.
TEST(HfModelSource, TiedOutputAliasesTheEmbeddingAndTheVocabularyIsPadded) {
    auto m = open_folder("qwen2");
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->config().tied_output);
    EXPECT_EQ(m->source().find_tensor("output.weight"), nullptr);
    EXPECT_EQ(m->registry().get({TensorRole::Output, -1}).file_offset, m->registry().get({TensorRole::TokenEmbd, -1}).file_offset);
    EXPECT_EQ(m->config().n_vocab, 544u);
    EXPECT_EQ(m->tokenizer().n_vocab(), 544u);
    EXPECT_EQ(m->tokenizer().token_text(543), "[PAD543]");
    EXPECT_TRUE(m->config().has_qkv_bias);
}

// Mixtral: expert e of a layer binds to its own tensor (experts are not stacked on disk).
TEST(HfModelSource, EachExpertBindsToItsOwnTensor) {
    auto m = open_folder("mixtral");
    ASSERT_TRUE(m);
    ASSERT_EQ(m->config().n_expert, 4u);
    const HfCheckpoint& ck = hf_source(*m).checkpoint();
    for (int32 e = 0; e < 4; ++e) {
        const std::string base = "model.layers.1.block_sparse_moe.experts." + std::to_string(e);
        for (auto [role, w] : {std::pair{TensorRole::ExpGate, ".w1.weight"}, std::pair{TensorRole::ExpDown, ".w2.weight"}, std::pair{TensorRole::ExpUp, ".w3.weight"}}) {
            const HfTensor* t = ck.find(base + w);
            ASSERT_NE(t, nullptr) << base + w;
            const TensorDesc& d = m->registry().get({role, 1, e});
            EXPECT_EQ(d.file_offset, t->offset) << d.label();
            EXPECT_EQ(d.byte_size, t->byte_size) << d.label();
        }
    }
}

// Phi-3: qkv_proj / gate_up_proj stay fused; Q, K, V (gate, up) are row ranges of them.
TEST(HfModelSource, FusedPhi3MatricesAreRowRanges) {
    auto m = open_folder("phi3");
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->config().fused_qkv);
    EXPECT_TRUE(m->config().fused_gate_up);
    const HfTensor* qkv = hf_source(*m).checkpoint().find("model.layers.0.self_attn.qkv_proj.weight");
    ASSERT_NE(qkv, nullptr);
    const FusedQkvRows rows = fused_qkv_rows(hf_source(*m).config());
    const TensorDesc& wk = m->registry().get({TensorRole::Wk, 0});
    EXPECT_EQ(wk.file_offset, qkv->offset + rows.k.begin * wk.row_bytes());
    EXPECT_EQ(wk.rows, rows.k.end - rows.k.begin);
}

// A generated Llama shape written as a sharded f32 folder computes the logits of the GGUF
// generated from the same seed (Q/K rows un-permuted + rotate-half rope = permuted + pairs).
TEST(HfModelSource, ShardedFolderComputesItsGgufsLogits) {
    const ModelShape shape = model_shape_preset("tiny").value();
    const Path dir = tmp_dir() / "sharded-tiny", gguf = tmp_dir() / "sharded-tiny.gguf";
    ASSERT_TRUE(generate_model(shape, DType::F32, gguf, 7));
    ASSERT_TRUE(generate_hf_model(shape, DType::F32, dir, 7, 60'000));
    auto src = open_model_source(dir);
    ASSERT_TRUE(src) << src.error().to_string();
    EXPECT_GE((*src)->files().size(), 3u);
    const std::vector<uint32> tokens{1, 17, 200, 33, 5, 99, 250, 3};
    const std::vector<float> a = logits_of(dir, tokens), b = logits_of(gguf, tokens);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_FALSE(a.empty());
    EXPECT_LT(nmse(a.data(), b.data(), a.size()), 1e-10);
}

// `--model <folder>/model.safetensors` opens the folder; the pack cache goes next to the
// folder (as next to a GGUF file), never into it.
TEST(HfModelSource, SafetensorsFileStandsForItsFolderAndTheCacheGoesBesideIt) {
    const Path dir = hf_model_dir("qwen3");
    EXPECT_TRUE(is_hf_model_path(dir / "model.safetensors"));
    EXPECT_FALSE(is_hf_model_path(models_dir() / "stories260K.gguf"));
    auto by_file = open_model_source(dir / "model.safetensors");
    ASSERT_TRUE(by_file) << by_file.error().to_string();
    auto by_dir = open_model_source(Path(dir.string() + "/"));
    ASSERT_TRUE(by_dir) << by_dir.error().to_string();
    EXPECT_EQ((*by_file)->path(), (*by_dir)->path());
    EXPECT_EQ((*by_dir)->path().filename(), "qwen3");
    EXPECT_EQ(pack_cache_path((*by_dir)->path(), {}), dir.lexically_normal().parent_path() / "qwen3.vkspack");
}

// The pack cache binds to every shard: files() covers the address space up to the
// in-memory tensors, and the identity changes with any shard.
TEST(HfModelSource, FilesCoverEveryShardAndMemoryTensorsLiePastThem) {
    const Path dir = tmp_dir() / "ident-tiny";
    ASSERT_TRUE(generate_hf_model(model_shape_preset("tiny").value(), DType::BF16, dir, 9, 60'000));
    auto src = open_model_source(dir);
    ASSERT_TRUE(src) << src.error().to_string();
    const std::vector<SourceFile> files = (*src)->files();
    ASSERT_GE(files.size(), 3u);
    for (size_t k = 1; k < files.size(); ++k) EXPECT_GE(files[k].base, files[k - 1].base + files[k - 1].size);
    auto before = source_identity(**src);
    ASSERT_TRUE(before) << before.error().to_string();
    std::filesystem::rename(files[1].path, dir / "moved");
    std::filesystem::copy_file(dir / "moved", files[1].path);  // same bytes, another inode
    auto after = source_identity(**open_model_source(dir));
    ASSERT_TRUE(after);
    EXPECT_NE(before->inode, after->inode);
    std::vector<uint8> one(4);
    auto past = (*src)->read_range((*src)->file_size(), 4, one.data());
    EXPECT_FALSE(past);
}

// A folder of tokenizer files only: the tokenizer opens (vk_symbiote tokenize), the model
// is refused naming config.json.
TEST(HfModelSource, TokenizerOnlyFolderTokenizesAndIsNoModel) {
    const Path dir = tmp_dir() / "tokenizer-only";
    std::filesystem::create_directories(dir);
    for (const char* f : {"tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"})
        std::filesystem::copy_file(hf_model_dir("llama31") / f, dir / f);
    auto tok = open_tokenizer(dir);
    ASSERT_TRUE(tok) << tok.error().to_string();
    auto ref = load_reference_case("hf-llama31");
    ASSERT_TRUE(ref);
    EXPECT_EQ((*tok)->encode(ref->prompt, true, true), ref->prompt_tokens);
    auto m = LoadedModel::open(dir);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("model.safetensors"), std::string::npos) << m.error().message;
}

// Refusals name config.json and the key.
TEST(HfModelSource, AFolderWithoutConfigOrWithAnUnknownClassIsRefused) {
    const Path dir = tmp_dir() / "no-config";
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(hf_model_dir("qwen3") / "model.safetensors", dir / "model.safetensors");
    auto m = open_model_source(dir);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("config.json"), std::string::npos) << m.error().message;
    write_file(dir / "config.json", R"({"architectures": ["BertModel"], "hidden_size": 128})");
    m = open_model_source(dir);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("BertModel"), std::string::npos) << m.error().message;
}

// Gemma: a query_pre_attn_scalar that differs from the scale the family computes (llama.cpp
// ignores the key) is refused by name rather than run with either.
TEST(HfModelSource, GemmaAttentionScalarThatDiffersFromTheFamilyIsRefused) {
    const Path dir = tmp_dir() / "gemma2-scalar";
    std::filesystem::create_directories(dir);
    for (const auto& e : std::filesystem::directory_iterator(hf_model_dir("gemma2"))) std::filesystem::copy_file(e.path(), dir / e.path().filename());
    auto same = LoadedModel::open(dir, false);
    ASSERT_TRUE(same) << same.error().to_string();  // 48: head_dim, as the family computes
    std::filesystem::permissions(dir / "config.json", std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
    nlohmann::json j = nlohmann::json::parse(std::ifstream(dir / "config.json"));
    j["query_pre_attn_scalar"] = 64;
    write_file(dir / "config.json", j.dump());
    auto m = LoadedModel::open(dir, false);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("query_pre_attn_scalar"), std::string::npos) << m.error().message;
}

// config.json's activation must be the family's: a Llama with GELU is refused by the key.
TEST(HfModelSource, AnActivationOtherThanTheFamilysIsRefused) {
    const Path dir = tmp_dir() / "llama-gelu";
    std::filesystem::create_directories(dir);
    for (const auto& e : std::filesystem::directory_iterator(hf_model_dir("llama31"))) std::filesystem::copy_file(e.path(), dir / e.path().filename());
    std::filesystem::permissions(dir / "config.json", std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
    nlohmann::json j = nlohmann::json::parse(std::ifstream(dir / "config.json"));
    j["hidden_act"] = "gelu_pytorch_tanh";
    write_file(dir / "config.json", j.dump());
    auto m = open_model_source(dir);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("hidden_act"), std::string::npos) << m.error().message;
}
