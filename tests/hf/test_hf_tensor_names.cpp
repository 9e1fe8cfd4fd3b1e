// HfTensorNames: every tensor of every shared checkpoint maps to an engine name; those names
// are the ones llama.cpp's converter wrote into the family's GGUF in ../shared/models/arch
// (an independent record of the converter's naming); the reverse mapping gives the name
// back; unknown names are refused naming the tensor and the class.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "gguf/GGUFLoader.h"
#include "hf/HfCheckpoint.h"
#include "hf/HfConfig.h"
#include "hf/HfTensorNames.h"
#include "hf/HfTestFiles.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

// The converted GGUF of the same family (hf/mixtral converts to llama with stacked experts).
const std::map<std::string, std::string> kFamilyGguf = {{"llama31", "llama31"}, {"qwen2", "qwen2"}, {"qwen3", "qwen3"},
                                                        {"gemma2", "gemma2"},   {"phi3", "phi3"},   {"mixtral", "llama-moe"}};

int32 layer_of(const std::string& gguf_name) {
    if (gguf_name.rfind("blk.", 0) != 0) return -1;
    return std::stoi(gguf_name.substr(4));
}

TEST(HfTensorNames, EverySharedTensorMapsToTheConvertersName) {
    for (const auto& name : hf_model_names()) {
        SCOPED_TRACE(name);
        auto ck = HfCheckpoint::open(hf_model_dir(name));
        auto cfg = read_hf_config(hf_model_dir(name) / "config.json");
        ASSERT_TRUE(ck && cfg);
        auto gguf = GGUFLoader::open(models_dir() / "arch" / (kFamilyGguf.at(name) + ".gguf"));
        ASSERT_TRUE(gguf) << gguf.error().to_string();
        const uint64 gguf_layers = *(*gguf)->get_uint((*gguf)->get_string("general.architecture").value() + ".block_count");
        std::set<std::pair<std::string, int32>> seen;
        for (const auto& t : (*ck)->tensors()) {
            auto target = hf_tensor_target(*cfg->arch, t.name);
            ASSERT_TRUE(target) << target.error().to_string();
            ASSERT_TRUE(target->has_value()) << t.name << " mapped to nothing";
            const HfTensorTarget& g = **target;
            EXPECT_TRUE(seen.insert({g.name, g.expert}).second) << g.name << " twice";
            EXPECT_EQ(g.layer, layer_of(g.name)) << t.name;
            // arch/qwen3.gguf ties its output (hf/qwen3 does not): its output name is checked
            // on the untied families.
            const bool gguf_tied = (*gguf)->find_tensor("output.weight") == nullptr;
            if (g.layer < int32(gguf_layers) && !(g.name == "output.weight" && gguf_tied)) {
                EXPECT_NE((*gguf)->find_tensor(g.name), nullptr) << t.name << " -> " << g.name << " is not a tensor name of the converted GGUF";
            }
        }
        // Conversely every converted tensor of those layers has its source (but the output
        // matrix of a tied model and the generated rope_freqs), experts once per expert.
        for (const auto& gt : (*gguf)->tensors()) {
            if (layer_of(gt.name) >= int32(cfg->num_hidden_layers) || gt.name == "rope_freqs.weight") continue;
            if (gt.name == "output.weight" && cfg->tie_word_embeddings) continue;  // qwen2 ties, arch/qwen2 does not
            const bool experts = gt.name.find("_exps.") != std::string::npos;
            for (uint32 e = 0; e < (experts ? cfg->num_experts : 1u); ++e)
                EXPECT_TRUE(seen.count({gt.name, experts ? int32(e) : -1})) << gt.name << " expert " << e << " has no source tensor";
        }
    }
}

TEST(HfTensorNames, ExamplesPerClass) {
    struct Case {
        HfArch arch;
        const char* hf;
        HfTensorTarget want;
    };
    const Case cases[] = {
        {HfArch::Llama, "model.layers.12.self_attn.q_proj.weight", {"blk.12.attn_q.weight", 12, -1}},
        {HfArch::Llama, "lm_head.weight", {"output.weight", -1, -1}},
        {HfArch::Llama, "model.layers.0.post_attention_layernorm.weight", {"blk.0.ffn_norm.weight", 0, -1}},
        {HfArch::Gemma2, "model.layers.3.post_attention_layernorm.weight", {"blk.3.post_attention_norm.weight", 3, -1}},
        {HfArch::Gemma2, "model.layers.3.pre_feedforward_layernorm.weight", {"blk.3.ffn_norm.weight", 3, -1}},
        {HfArch::Gemma3, "model.layers.1.post_feedforward_layernorm.weight", {"blk.1.post_ffw_norm.weight", 1, -1}},
        {HfArch::Gemma3, "model.layers.1.self_attn.k_norm.weight", {"blk.1.attn_k_norm.weight", 1, -1}},
        {HfArch::Qwen2, "model.layers.2.self_attn.v_proj.bias", {"blk.2.attn_v.bias", 2, -1}},
        {HfArch::Phi3, "model.layers.1.self_attn.qkv_proj.weight", {"blk.1.attn_qkv.weight", 1, -1}},
        {HfArch::Phi3, "model.layers.1.mlp.gate_up_proj.weight", {"blk.1.ffn_up.weight", 1, -1}},
        {HfArch::Mixtral, "model.layers.1.block_sparse_moe.experts.3.w2.weight", {"blk.1.ffn_down_exps.weight", 1, 3}},
        {HfArch::Mixtral, "model.layers.1.block_sparse_moe.gate.weight", {"blk.1.ffn_gate_inp.weight", 1, -1}},
        {HfArch::Qwen3Moe, "model.layers.40.mlp.experts.127.up_proj.weight", {"blk.40.ffn_up_exps.weight", 40, 127}},
        {HfArch::Qwen3Moe, "model.layers.40.mlp.gate.weight", {"blk.40.ffn_gate_inp.weight", 40, -1}},
        {HfArch::Qwen3Moe, "model.layers.0.mlp.gate_proj.weight", {"blk.0.ffn_gate.weight", 0, -1}},  // a dense layer
    };
    for (const auto& c : cases) {
        const HfArchInfo& a = hf_arch_info(c.arch);
        auto t = hf_tensor_target(a, c.hf);
        ASSERT_TRUE(t && t->has_value()) << c.hf;
        EXPECT_EQ(**t, c.want) << c.hf;
        auto back = hf_tensor_name(a, c.want);
        ASSERT_TRUE(back) << back.error().to_string();
        EXPECT_EQ(*back, c.hf);
    }
}

TEST(HfTensorNames, UnknownNamesAreRefused) {
    const HfArchInfo& llama = hf_arch_info(HfArch::Llama);
    for (const char* bad : {"model.layers.0.self_attn.qkv_proj.weight", "model.layers.01.mlp.up_proj.weight", "model.layers.x.mlp.up_proj.weight",
                            "model.layers.0.mlp.up_proj.weight.extra", "transformer.h.0.attn.c_attn.weight", "model.layers.0.block_sparse_moe.gate.weight",
                            "model.layers.0.pre_feedforward_layernorm.weight"}) {
        auto t = hf_tensor_target(llama, bad);
        ASSERT_FALSE(t) << bad;
        EXPECT_EQ(t.error().code, ErrorCode::Unsupported);
        EXPECT_NE(t.error().message.find(std::string("'") + bad + "'"), std::string::npos) << t.error().message;
        EXPECT_NE(t.error().message.find("LlamaForCausalLM"), std::string::npos) << t.error().message;
    }
    auto inv = hf_tensor_target(llama, "model.layers.0.self_attn.rotary_emb.inv_freq");
    ASSERT_TRUE(inv);
    EXPECT_FALSE(inv->has_value());  // a buffer some checkpoints carry; the engine computes it
    EXPECT_EQ(hf_tensor_name(llama, {"blk.0.attn_qkv.weight", 0, -1}).error().code, ErrorCode::NotFound);
}

}  // namespace
