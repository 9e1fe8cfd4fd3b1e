// ModelConfig: the flat, immutable description of a transformer, filled once from GGUF
// metadata at the file boundary. Kernels and the forward pass read these fields and
// flags, never GGUF keys or architecture names: how one architecture differs from the
// common decoder block is stated once, in its family file (model/families/).
#pragma once

#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ModelSource;

enum class RopeStyle : uint32 {
    Normal = 0,  // Llama / GGUF layout: rotate adjacent pairs (x[2i], x[2i+1])
    NeoX = 1,    // rotate (x[i], x[i + n_rot/2])
};

// The gated feed-forward's activation: act(gate x) * (up x).
enum class FfnActivation : uint32 {
    Silu = 0,      // SwiGLU: g / (1 + exp(-g))
    GeluTanh = 1,  // GeGLU: 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))
};

// The tensor that carries Llama 3.1's rope frequency factors; read into
// ModelConfig::rope_freq_factors, so no backend ever acquires it.
inline constexpr const char* kRopeFreqsTensor = "rope_freqs.weight";

struct ModelConfig {
    std::string architecture;   // e.g. "llama" (for messages only)
    std::string name;           // general.name if present
    uint32 n_vocab = 0;
    uint32 n_embd = 0;          // model width (dim)
    uint32 n_layer = 0;
    uint32 n_head = 0;
    uint32 n_head_kv = 0;       // < n_head: grouped-query; 1: multi-query
    uint32 head_dim = 0;        // attention.key_length, else n_embd / n_head
    uint32 n_ff = 0;            // feed-forward hidden size (of gate and of up each)
    uint32 n_ctx_train = 0;     // trained context length
    uint32 n_rot = 0;           // rope dimension count (<= head_dim): dims from n_rot on are not rotated
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
    float rms_eps = 1e-5f;
    RopeStyle rope_style = RopeStyle::Normal;
    bool tied_output = false;   // no output.weight: logits use token_embd.weight

    // ---- family features (model/families/): the common block is Llama's ----
    FfnActivation activation = FfnActivation::Silu;
    bool has_qkv_bias = false;    // attn_{q,k,v}.bias added after the projections
    bool has_qk_norm = false;     // RMSNorm of every Q and K head (attn_q_norm / attn_k_norm, head_dim) before rope
    bool has_post_norms = false;  // RMSNorm of the attention and FFN outputs before the residual (post_attention_norm, post_ffw_norm)
    bool fused_qkv = false;       // Q, K, V are row ranges of one tensor attn_qkv: [q_dim; kv_dim; kv_dim]
    bool fused_gate_up = false;   // gate and up are row ranges of one tensor ffn_up: [n_ff gate; n_ff up]
    // (n_rot / 2) divisors of the rope angles (Llama 3.1: rope_freqs.weight); empty: none.
    std::vector<float> rope_freq_factors;
    float embd_scale = 1.0f;      // embedding rows are multiplied by this (Gemma: sqrt(n_embd))
    float attn_scale = 0.0f;      // 0: scores q.k / sqrt(head_dim); else q.k * attn_scale (attention_scale())
    float attn_softcap = 0.0f;    // 0: none; else scores s -> c tanh(s / c) before the mask
    float final_softcap = 0.0f;   // 0: none; else logits l -> c tanh(l / c)
    // Sliding-window attention: in a layer with sliding[l] != 0 the query at position p sees
    // keys p - sliding_window + 1 .. p only; rope there uses rope_base_swa / rope_scale_swa.
    uint32 sliding_window = 0;    // 0: no sliding layers
    std::vector<uint8> sliding;   // (n_layer) 1: sliding layer
    float rope_base_swa = 10000.0f;
    float rope_scale_swa = 1.0f;
    // Mixture of experts (n_expert > 0): every layer's FFN is n_expert experts of width
    // n_ff_expert (each a gated FFN with the model's activation) and a router (n_expert,
    // n_embd, f32). A token's router logits r go through a softmax over all experts; the
    // n_expert_used largest probabilities p are used (ties: the lower expert index), weighted
    // by p / (sum of those p) when expert_weights_norm, times expert_weights_scale. n_ff is
    // then unused.
    uint32 n_expert = 0;
    uint32 n_expert_used = 0;
    uint32 n_ff_expert = 0;
    bool expert_weights_norm = true;
    float expert_weights_scale = 1.0f;
    // One device's part of a model split across devices (LayerRangeProvider, MultiDeviceBackend):
    // layers [first_layer, first_layer + n_layer) of the whole model, renumbered from 0 (sliding
    // is sliced to them). embeds = false: a pass's inputs are the previous part's residual rows,
    // token id i naming row i of the pass (embedding_row(i)); head = false: the pass ends at the
    // residual stream and its "logits" rows are x itself (n_vocab == n_embd, no softcap).
    uint32 first_layer = 0;
    bool embeds = true;
    bool head = true;
    uint32 n_input_ids = 0;       // token ids a pass accepts: [0, n_input_ids); 0: n_vocab

    uint32 kv_dim() const { return n_head_kv * head_dim; }
    uint32 q_dim() const { return n_head * head_dim; }
    bool is_moe() const { return n_expert > 0; }
    uint32 input_ids() const { return n_input_ids ? n_input_ids : n_vocab; }
    float attention_scale() const;
    bool is_sliding(uint32 layer) const { return sliding_window > 0 && layer < sliding.size() && sliding[layer] != 0; }
    bool has_sliding_layers() const;
    float rope_base(uint32 layer) const { return is_sliding(layer) ? rope_base_swa : rope_freq_base; }
    float rope_scale(uint32 layer) const { return is_sliding(layer) ? rope_scale_swa : rope_freq_scale; }
    // Rows of layer `layer`'s KV cache on the Vulkan device for a context of n_ctx positions
    // filled in batches of up to n_batch tokens: n_ctx, or for a sliding layer a ring of
    // sliding_window - 1 + n_batch rows (a batch writes all its keys before its first query reads
    // the window), position p at row p % rows. (The CPU's paged cache keeps every position.)
    uint32 kv_rows(uint32 layer, uint32 n_ctx, uint32 n_batch) const;
    // Sum of kv_rows over the layers: KV cache bytes = 2 * this * kv_dim() * bytes per value.
    uint64 kv_rows_total(uint32 n_ctx, uint32 n_batch) const;

    // Reads and validates the config. Errors name the file and the key (or tensor).
    static Expected<ModelConfig> from_source(const ModelSource& source);
    std::string summary() const;
};

}  // namespace vk_symbiote
