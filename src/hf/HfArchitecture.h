// HfArchitecture: the model classes a Hugging Face folder may name in config.json's
// `architectures`, as data: one row per class with the conventions that differ between
// them (how llama.cpp's converter names the architecture, whether it permutes the Q/K rows,
// Gemma's 1 + w norms and extra norms, which layers use the sliding window, the default of
// tie_word_embeddings). Code asks the row, never compares class names.
#pragma once

#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

enum class HfArch : uint32 { Llama, Mistral, Mixtral, Qwen2, Qwen3, Qwen3Moe, Gemma2, Gemma3, Phi3 };

// Which layers attend through the sliding window when config.json has no `layer_types`.
enum class HfSlidingRule : uint32 {
    None,              // no sliding window (a `sliding_window` key is ignored)
    AllLayers,         // every layer when `sliding_window` is set (Mistral, Mixtral, Phi-3)
    EvenLayers,        // layers 0, 2, 4, ... (Gemma 2)
    PatternLastGlobal, // all but every `sliding_window_pattern`-th layer (Gemma 3: 5 local, 1 global)
    FromMaxWindow,     // with `use_sliding_window`, layers >= `max_window_layers` (Qwen 2 / 3)
};

struct HfArchInfo {
    HfArch arch;
    const char* class_name;   // config.json architectures[0]
    const char* gguf_arch;    // general.architecture of llama.cpp's converted file
    bool ties_by_default;     // tie_word_embeddings when config.json omits the key
    bool permutes_qk;         // the converter permutes Q/K rows for adjacent-pair rope (Llama family)
    bool norm_plus_one;       // norm weights stored as w, applied as (1 + w) (Gemma)
    bool sandwich_norms;      // post-attention and pre/post-feed-forward norms (Gemma 2 / 3)
    bool moe;                 // routed experts
    bool qkv_bias;            // q/k/v projections always carry biases (Qwen 2), whatever attention_bias says
    HfSlidingRule sliding;
};

// The row of a class name, or nullptr when the engine does not support it.
const HfArchInfo* hf_arch_by_class(const std::string& class_name);
const HfArchInfo& hf_arch_info(HfArch arch);
// "LlamaForCausalLM, MistralForCausalLM, ..." for error messages.
std::string hf_supported_classes();

}  // namespace vk_symbiote
