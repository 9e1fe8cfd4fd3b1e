// HfConfig: a Hugging Face folder's config.json read into a neutral struct (transformers'
// key names, no engine types), checked for what the engine cannot run or what cannot be
// consistent: an `architectures` class the engine does not support (the message lists the
// supported ones), a `quantization_config`, a rope scaling other than linear / llama3,
// sizes that do not divide (hidden size by heads without head_dim, heads by KV heads, odd
// rotary dimensions), experts per token above the expert count, a `layer_types` list of the
// wrong length. Errors name config.json and the key. Keys absent or null take transformers'
// defaults for the class; turning this into the engine's ModelConfig is the caller's.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hf/HfArchitecture.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct HfRopeScaling {
    enum class Type : uint32 { None, Linear, Llama3 };
    Type type = Type::None;
    double factor = 1.0;                             // linear: positions divided by it; llama3: low-frequency divisor
    double low_freq_factor = 1.0;                    // llama3
    double high_freq_factor = 4.0;                   // llama3
    uint64 original_max_position_embeddings = 8192;  // llama3, from rope_scaling (transformers reads this one)
};

struct HfConfig {
    Path file;                      // the config.json read
    const HfArchInfo* arch = nullptr;
    std::string class_name;         // architectures[0]
    std::string model_type;

    uint32 hidden_size = 0;
    uint32 intermediate_size = 0;   // dense FFN width (Mixtral: each expert's)
    uint32 num_hidden_layers = 0;
    uint32 num_attention_heads = 0;
    uint32 num_key_value_heads = 0; // defaults to num_attention_heads
    uint32 head_dim = 0;            // defaults to hidden_size / num_attention_heads
    uint32 vocab_size = 0;          // embedding rows; may exceed the tokenizer's pieces (padding)
    uint64 max_position_embeddings = 0;                    // 0: not given
    std::optional<uint64> original_max_position_embeddings; // the top-level key (Phi-3; llama.cpp's llama3 factors read it)
    double rms_norm_eps = 0.0;

    double rope_theta = 10000.0;
    double rope_local_base_freq = 0.0;  // Gemma 3's sliding layers (0: rope_theta)
    HfRopeScaling rope_scaling;
    double partial_rotary_factor = 1.0;
    uint32 rotary_dims = 0;             // head_dim * partial_rotary_factor (even)

    bool tie_word_embeddings = false;   // the class default when absent
    uint32 sliding_window = 0;          // 0: no sliding window
    std::vector<bool> sliding_layers;   // per layer: attends through the window
    double attn_logit_softcapping = 0.0;   // 0: none
    double final_logit_softcapping = 0.0;  // 0: none
    double query_pre_attn_scalar = 0.0;    // Gemma: scores scaled by its -1/2 power (0: not given)

    uint32 num_experts = 0;             // num_local_experts (Mixtral) / num_experts (Qwen3-MoE); 0: dense
    uint32 num_experts_per_tok = 0;
    uint32 moe_intermediate_size = 0;   // each expert's FFN width (Mixtral: intermediate_size)
    bool norm_topk_prob = false;        // renormalize the chosen experts' weights (Mixtral: always)
    std::vector<bool> moe_layers;       // per layer: routed experts instead of the dense FFN

    std::optional<DType> torch_dtype;   // `torch_dtype` (or `dtype`): float32 / float16 / bfloat16
    bool attention_bias = false;        // biases on q/k/v (and o, except Qwen 2)
    bool mlp_bias = false;
    std::string hidden_act;             // "silu" or "gelu_pytorch_tanh"
    std::optional<uint32> bos_token_id;
    std::vector<uint32> eos_token_ids;  // `eos_token_id`, an integer or a list
};

Expected<HfConfig> read_hf_config(const Path& config_json);
// The same from text already read (tests); `file` is only used in messages.
Expected<HfConfig> parse_hf_config(std::string_view text, const Path& file);

}  // namespace vk_symbiote
