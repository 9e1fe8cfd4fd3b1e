// ModelConfig: the flat, immutable description of a transformer, filled once from GGUF
// metadata at the file boundary. Kernels and the forward pass read these fields and
// flags, never GGUF keys or architecture names.
#pragma once

#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class GGUFLoader;

enum class RopeStyle : uint32 {
    Normal = 0,  // Llama / GGUF layout: rotate adjacent pairs (x[2i], x[2i+1])
    NeoX = 1,    // rotate (x[i], x[i + n_rot/2])
};

struct ModelConfig {
    std::string architecture;   // e.g. "llama" (for messages only)
    std::string name;           // general.name if present
    uint32 n_vocab = 0;
    uint32 n_embd = 0;          // model width (dim)
    uint32 n_layer = 0;
    uint32 n_head = 0;
    uint32 n_head_kv = 0;       // < n_head: grouped-query; 1: multi-query
    uint32 head_dim = 0;        // n_embd / n_head
    uint32 n_ff = 0;            // feed-forward hidden size
    uint32 n_ctx_train = 0;     // trained context length
    uint32 n_rot = 0;           // rope dimension count (<= head_dim)
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;
    float rms_eps = 1e-5f;
    RopeStyle rope_style = RopeStyle::Normal;
    bool tied_output = false;   // no output.weight: logits use token_embd.weight
    bool has_qkv_bias = false;  // reserved for later architectures (always false for llama)

    uint32 kv_dim() const { return n_head_kv * head_dim; }
    uint32 q_dim() const { return n_head * head_dim; }

    // Reads and validates the config. Errors name the file and the key.
    static Expected<ModelConfig> from_gguf(const GGUFLoader& gguf);
    std::string summary() const;
};

}  // namespace vk_symbiote
