// ModelFamily: how one `general.architecture` differs from the common decoder block, as
// data. The common block (Llama's) is
//
//   x = embedding row                                           (n_embd)
//   per layer: h = attn_norm(x); q, k, v = Wq h, Wk h, Wv h; rope(q, k); a = attention
//              x += Wo a;  h = ffn_norm(x);  x += Wdown (silu(Wgate h) * (Wup h))
//   logits = Output(output_norm(x))
//
// and a family states which tensors it adds or fuses (by feature; the GGUF names are the
// TensorRegistry's), where extra norms sit, the activation, the rope layout and scaling, the
// attention variants and the embedding / logit scaling. apply_family() turns the file's
// metadata into ModelConfig's flat fields; nothing past ModelConfig reads a family.
//
// Adding a family: one file here defining its ModelFamily, one line in FamilyRegistry.cpp,
// and kernels for any feature the backends do not have yet.
#pragma once

#include "model/ModelConfig.h"

namespace vk_symbiote {

// Whether a family's files carry a feature: never, when the first layer's tensor for it is
// present (Optional), or always.
enum class Presence : uint8 { Never = 0, Optional = 1, Required = 2 };

struct ModelFamily {
    const char* architecture = "";  // general.architecture
    RopeStyle rope_style = RopeStyle::Normal;
    FfnActivation activation = FfnActivation::Silu;

    // Tensors beyond the common block (GGUF names in TensorRegistry.cpp).
    Presence qkv_bias = Presence::Never;       // blk.N.attn_{q,k,v}.bias
    Presence qk_norm = Presence::Never;        // blk.N.attn_{q,k}_norm.weight (head_dim)
    Presence post_norms = Presence::Never;     // blk.N.post_attention_norm / post_ffw_norm.weight
    Presence fused_qkv = Presence::Never;      // blk.N.attn_qkv.weight instead of attn_q / attn_k / attn_v
    Presence fused_gate_up = Presence::Never;  // blk.N.ffn_up.weight holds gate then up; no ffn_gate
    Presence rope_freqs = Presence::Never;     // rope_freqs.weight: Llama 3.1 rope frequency divisors
    // Mixture of experts: {arch}.expert_count / expert_used_count, per layer the router
    // blk.N.ffn_gate_inp.weight and the 3-D blk.N.ffn_{gate,up,down}_exps.weight (expert
    // outermost) instead of ffn_gate / ffn_up / ffn_down. Optional: on when expert_count > 0.
    Presence experts = Presence::Never;
    bool expert_width_key = false;    // expert width from {arch}.expert_feed_forward_length, else feed_forward_length
    bool expert_weights_norm = true;  // top-k weights renormalized unless {arch}.expert_weights_norm says otherwise

    bool embd_scale_sqrt = false;  // embedding rows * sqrt(n_embd)

    // Soft-caps c tanh(s / c) of the attention scores and of the logits, from the keys
    // {arch}.attn_logit_softcapping / final_logit_softcapping, these values when absent.
    bool softcaps = false;
    float default_attn_softcap = 0.0f;
    float default_final_softcap = 0.0f;

    // Sliding-window attention: layer il slides when il % swa_period < swa_period - 1
    // ({arch}.attention.sliding_window_pattern overrides the period); 0: no sliding layers.
    uint32 swa_period = 0;
    uint32 default_sliding_window = 0;  // when {arch}.attention.sliding_window is absent (0: the key is required)
    float swa_rope_base = 0.0f;         // sliding layers' rope base without rope.freq_base_swa (0: the global base)
    bool swa_rope_unscaled = false;     // sliding layers' rope without the linear scaling

    // What the data cannot say, from the rest of the config (e.g. Gemma 27B's attention
    // scale, recognised by its layer count). Optional.
    void (*finish)(ModelConfig& cfg) = nullptr;
};

// Fills cfg's family fields from the family and the file's metadata (cfg's common fields,
// rope included, are read already). Errors name the file and the key or tensor.
ExpectedVoid apply_family(const ModelFamily& family, const ModelSource& gguf, ModelConfig& cfg);

// The same without a file: Required features on, Optional ones off, the family's defaults
// (soft-caps, sliding window and its pattern, rope of sliding layers). For configs built in
// code (ModelGenerator); set_sliding_window() then changes the window.
void apply_family_defaults(const ModelFamily& family, ModelConfig& cfg);
// Sliding layers of a `period` (layer il slides when il % period < period - 1) with `window`.
void set_sliding_window(ModelConfig& cfg, uint32 window, uint32 period);

}  // namespace vk_symbiote
