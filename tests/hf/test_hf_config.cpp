// HfConfig: the shared folders' config.json files read into the values they state (and the
// class defaults where they state nothing); synthetic configs for the sliding-window and
// expert rules of Gemma 3, Qwen 2 and Qwen3-MoE; a table of bad configs, each refused with
// the expected code and a message naming config.json and the key.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "hf/HfConfig.h"
#include "hf/HfTestFiles.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;
using nlohmann::json;

namespace {

HfConfig read_shared(const std::string& name) {
    auto c = read_hf_config(hf_model_dir(name) / "config.json");
    EXPECT_TRUE(c) << c.error().to_string();
    return c ? *c : HfConfig{};
}

Expected<HfConfig> parse(const json& j) { return parse_hf_config(j.dump(), "dir/config.json"); }

json shared_json(const std::string& name) { return json::parse(read_file(hf_model_dir(name) / "config.json")); }

TEST(HfConfig, Llama31) {
    const HfConfig c = read_shared("llama31");
    EXPECT_EQ(c.arch->arch, HfArch::Llama);
    EXPECT_EQ(c.class_name, "LlamaForCausalLM");
    EXPECT_EQ(c.hidden_size, 128u);
    EXPECT_EQ(c.intermediate_size, 352u);
    EXPECT_EQ(c.num_hidden_layers, 2u);
    EXPECT_EQ(c.num_attention_heads, 4u);
    EXPECT_EQ(c.num_key_value_heads, 2u);
    EXPECT_EQ(c.head_dim, 32u);
    EXPECT_EQ(c.rotary_dims, 32u);
    EXPECT_EQ(c.vocab_size, 512u);
    EXPECT_EQ(c.max_position_embeddings, 131072u);
    EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
    EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
    EXPECT_EQ(c.rope_scaling.type, HfRopeScaling::Type::Llama3);
    EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);
    EXPECT_DOUBLE_EQ(c.rope_scaling.low_freq_factor, 1.0);
    EXPECT_DOUBLE_EQ(c.rope_scaling.high_freq_factor, 4.0);
    EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192u);
    EXPECT_FALSE(c.original_max_position_embeddings.has_value());
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_EQ(c.torch_dtype, DType::BF16);
    EXPECT_EQ(c.hidden_act, "silu");
    EXPECT_EQ(c.sliding_window, 0u);
    EXPECT_EQ(c.sliding_layers, std::vector<bool>(2, false));
    EXPECT_EQ(c.bos_token_id, 1u);
    EXPECT_EQ(c.eos_token_ids, std::vector<uint32>{2});
}

TEST(HfConfig, Qwen2TiesAndAlwaysHasQkvBiases) {
    const HfConfig c = read_shared("qwen2");
    EXPECT_EQ(c.arch->arch, HfArch::Qwen2);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_TRUE(c.attention_bias);  // no attention_bias key: Qwen 2 always has q/k/v biases
    EXPECT_EQ(c.vocab_size, 544u);
    EXPECT_EQ(c.rope_scaling.type, HfRopeScaling::Type::None);  // "rope_scaling": null
    EXPECT_EQ(c.sliding_window, 0u);                             // use_sliding_window false
    EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
    EXPECT_EQ(c.head_dim, 32u);  // hidden 128 / 4 heads, no head_dim key
}

TEST(HfConfig, Qwen3HeadDimAboveHiddenOverHeads) {
    const HfConfig c = read_shared("qwen3");
    EXPECT_EQ(c.head_dim, 64u);
    EXPECT_EQ(c.rotary_dims, 64u);
    EXPECT_FALSE(c.attention_bias);
    EXPECT_FALSE(c.tie_word_embeddings);
}

TEST(HfConfig, Gemma2) {
    const HfConfig c = read_shared("gemma2");
    EXPECT_EQ(c.arch->arch, HfArch::Gemma2);
    EXPECT_TRUE(c.arch->norm_plus_one);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_EQ(c.head_dim, 48u);
    EXPECT_EQ(c.sliding_window, 8u);
    EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, false, true, false}));
    EXPECT_DOUBLE_EQ(c.attn_logit_softcapping, 5.0);
    EXPECT_DOUBLE_EQ(c.final_logit_softcapping, 10.0);
    EXPECT_DOUBLE_EQ(c.query_pre_attn_scalar, 48.0);
    EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");
    EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
    EXPECT_EQ(c.bos_token_id, 2u);
    EXPECT_EQ(c.eos_token_ids, std::vector<uint32>{1});
}

TEST(HfConfig, Phi3) {
    const HfConfig c = read_shared("phi3");
    EXPECT_EQ(c.arch->arch, HfArch::Phi3);
    EXPECT_EQ(c.vocab_size, 576u);
    EXPECT_DOUBLE_EQ(c.partial_rotary_factor, 1.0);
    EXPECT_EQ(c.rotary_dims, 32u);
    EXPECT_EQ(c.original_max_position_embeddings, 4096u);
    EXPECT_EQ(c.sliding_window, 0u);  // "sliding_window": null
    EXPECT_EQ(c.eos_token_ids, std::vector<uint32>{512});
}

TEST(HfConfig, Mixtral) {
    const HfConfig c = read_shared("mixtral");
    EXPECT_EQ(c.arch->arch, HfArch::Mixtral);
    EXPECT_EQ(c.num_experts, 4u);
    EXPECT_EQ(c.num_experts_per_tok, 2u);
    EXPECT_EQ(c.moe_intermediate_size, 192u);
    EXPECT_TRUE(c.norm_topk_prob);
    EXPECT_EQ(c.moe_layers, std::vector<bool>(2, true));
    EXPECT_EQ(c.sliding_window, 0u);
}

TEST(HfConfig, Gemma3SlidingPatternAndLayerTypes) {
    json j = shared_json("gemma2");
    j["architectures"] = {"Gemma3ForCausalLM"};
    j["num_hidden_layers"] = 7;
    j["rope_local_base_freq"] = 10000.0;
    j["rope_theta"] = 1e6;
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
    auto c = parse(j);  // default pattern 6: five local layers, then a global one
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->sliding_layers, (std::vector<bool>{true, true, true, true, true, false, true}));
    EXPECT_EQ(c->rope_scaling.type, HfRopeScaling::Type::Linear);
    EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
    EXPECT_DOUBLE_EQ(c->rope_local_base_freq, 10000.0);
    j["sliding_window_pattern"] = 2;
    EXPECT_EQ(parse(j)->sliding_layers, (std::vector<bool>{true, false, true, false, true, false, true}));
    j["layer_types"] = {"full_attention", "sliding_attention", "full_attention", "full_attention", "full_attention", "full_attention", "sliding_attention"};
    EXPECT_EQ(parse(j)->sliding_layers, (std::vector<bool>{false, true, false, false, false, false, true}));
}

TEST(HfConfig, Qwen2SlidingWindowFromMaxWindowLayers) {
    json j = shared_json("qwen2");
    j["sliding_window"] = 16;
    EXPECT_EQ(parse(j)->sliding_window, 0u);  // use_sliding_window false
    j["use_sliding_window"] = true;
    j["max_window_layers"] = 1;
    auto c = parse(j);
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->sliding_window, 16u);
    EXPECT_EQ(c->sliding_layers, (std::vector<bool>{false, true, true}));
}

TEST(HfConfig, Qwen3MoeDenseAndSparseLayers) {
    json j = shared_json("qwen3");
    j["architectures"] = {"Qwen3MoeForCausalLM"};
    j["num_experts"] = 8;
    j["num_experts_per_tok"] = 2;
    j["moe_intermediate_size"] = 48;
    j["norm_topk_prob"] = true;
    j["mlp_only_layers"] = {0};
    auto c = parse(j);
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->num_experts, 8u);
    EXPECT_EQ(c->moe_intermediate_size, 48u);
    EXPECT_TRUE(c->norm_topk_prob);
    EXPECT_EQ(c->moe_layers, (std::vector<bool>{false, true, true}));
    j["mlp_only_layers"] = json::array();
    j["decoder_sparse_step"] = 2;
    EXPECT_EQ(parse(j)->moe_layers, (std::vector<bool>{false, true, false}));
}

struct BadConfig {
    const char* what;
    std::function<void(json&)> edit;
    ErrorCode code;
    std::vector<std::string> expect;
};

std::vector<BadConfig> bad_configs() {
    const auto F = ErrorCode::Format, U = ErrorCode::Unsupported;
    return {
        {"unknown class", [](json& j) { j["architectures"] = {"GPT2LMHeadModel"}; }, U,
         {"'architectures'", "'GPT2LMHeadModel' is not supported", "LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, Qwen2ForCausalLM",
          "Gemma3ForCausalLM, Phi3ForCausalLM"}},
        {"no architectures", [](json& j) { j.erase("architectures"); }, F, {"'architectures': missing"}},
        {"architectures not a list", [](json& j) { j["architectures"] = "LlamaForCausalLM"; }, F, {"'architectures': expected a list"}},
        {"quantized", [](json& j) { j["quantization_config"] = {{"quant_method", "gptq"}}; }, U, {"'quantization_config'", "quantized checkpoints"}},
        {"hidden not divisible", [](json& j) { j["hidden_size"] = 130; j.erase("head_dim"); }, F, {"'hidden_size'", "130 is not divisible by num_attention_heads 4"}},
        {"kv heads do not divide", [](json& j) { j["num_key_value_heads"] = 3; }, F, {"'num_key_value_heads'", "3 does not divide num_attention_heads 4"}},
        {"odd head dim", [](json& j) { j["head_dim"] = 33; }, F, {"'head_dim'", "33 is odd"}},
        {"odd rotary dims", [](json& j) { j["partial_rotary_factor"] = 0.3; }, F, {"'partial_rotary_factor'", "not an even number of rotary dimensions"}},
        {"zero layers", [](json& j) { j["num_hidden_layers"] = 0; }, F, {"'num_hidden_layers'", "0 is outside 1..4096"}},
        {"size of the wrong type", [](json& j) { j["hidden_size"] = "128"; }, F, {"'hidden_size'", "is a string, expected a non-negative integer"}},
        {"negative size", [](json& j) { j["intermediate_size"] = -1; }, F, {"'intermediate_size'", "a negative integer"}},
        {"missing vocab", [](json& j) { j.erase("vocab_size"); }, F, {"'vocab_size': missing"}},
        {"eps out of range", [](json& j) { j["rms_norm_eps"] = 0; }, F, {"'rms_norm_eps'", "is not in (0, 1)"}},
        {"yarn scaling", [](json& j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; }, U, {"'rope_scaling.rope_type'", "'yarn' is not supported"}},
        {"llama3 without factor", [](json& j) { j["rope_scaling"].erase("factor"); }, F, {"'rope_scaling.factor': missing"}},
        {"llama3 bounds reversed", [](json& j) { j["rope_scaling"]["low_freq_factor"] = 5.0; }, F, {"'rope_scaling.low_freq_factor'", "below high_freq_factor"}},
        {"rope theta", [](json& j) { j["rope_theta"] = 0.5; }, F, {"'rope_theta'", "must be above 1"}},
        {"float8 dtype", [](json& j) { j["torch_dtype"] = "float8_e4m3fn"; }, U, {"'torch_dtype'", "'float8_e4m3fn' is not supported"}},
        {"activation", [](json& j) { j["hidden_act"] = "relu"; }, U, {"'hidden_act'", "'relu' is not supported"}},
        {"layer_types length", [](json& j) { j["layer_types"] = {"full_attention"}; }, F, {"'layer_types'", "a list of 2 entries"}},
        {"layer_types value", [](json& j) { j["layer_types"] = {"full_attention", "chunked_attention"}; }, F, {"'layer_types'", "entry 1"}},
        {"sliding layers without a window", [](json& j) { j["layer_types"] = {"sliding_attention", "full_attention"}; }, F, {"'sliding_window'", "missing"}},
        {"negative softcap", [](json& j) { j["final_logit_softcapping"] = -3.0; }, F, {"'final_logit_softcapping'", "must not be negative"}},
        {"eos beyond the vocabulary", [](json& j) { j["eos_token_id"] = {2, 600}; }, F, {"'eos_token_id'", "0..511"}},
        {"tie not a flag", [](json& j) { j["tie_word_embeddings"] = "no"; }, F, {"'tie_word_embeddings'", "expected true or false"}},
        {"too many experts per token", [](json& j) {
             j["architectures"] = {"MixtralForCausalLM"};
             j["num_local_experts"] = 4;
             j["num_experts_per_tok"] = 5;
         }, F, {"'num_experts_per_tok'", "5 is above num_local_experts 4"}},
        {"experts missing", [](json& j) { j["architectures"] = {"MixtralForCausalLM"}; }, F, {"'num_local_experts': missing"}},
    };
}

TEST(HfConfig, BadConfigsAreRefusedByKey) {
    for (const auto& b : bad_configs()) {
        SCOPED_TRACE(b.what);
        json j = shared_json("llama31");
        b.edit(j);
        auto c = parse(j);
        ASSERT_FALSE(c) << "accepted";
        EXPECT_EQ(c.error().code, b.code) << c.error().message;
        EXPECT_EQ(c.error().message.rfind("dir/config.json: ", 0), 0u) << c.error().message;
        for (const auto& s : b.expect) EXPECT_NE(c.error().message.find(s), std::string::npos) << "no '" << s << "' in: " << c.error().message;
    }
}

TEST(HfConfig, BadJsonIsNamed) {
    auto c = parse_hf_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 1, "hidden_size": 2})", "x/config.json");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message.find("x/config.json: key 'hidden_size' appears twice"), std::string::npos) << c.error().message;
    c = parse_hf_config("{", "x/config.json");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message.find("x/config.json: not valid JSON"), std::string::npos) << c.error().message;
    c = parse_hf_config("[]", "x/config.json");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message.find("expected a JSON object"), std::string::npos) << c.error().message;
    auto missing = read_hf_config(tmp_dir() / "nowhere" / "config.json");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
}

}  // namespace
