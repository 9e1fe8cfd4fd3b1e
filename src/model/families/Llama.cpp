// llama (Llama 1-3.x, and files labelled "mistral"): the common decoder block itself.
//
// Tensors: token_embd; per layer attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm,
// ffn_gate, ffn_up, ffn_down; output_norm; output (optional: tied to token_embd).
// Optional: attn_{q,k,v}.bias (llama.cpp adds them when the file has them) and
// rope_freqs.weight (Llama 3.1+: the converter's llama3 rope scaling, one divisor per rotated
// pair, applied to every layer).
// Rope: adjacent pairs (llama.cpp's converter permutes the Q / K rows for it); linear scaling
// from rope.scaling.factor. SiLU-gated FFN. Experts (expert_count, ffn_gate_inp, ffn_*_exps)
// are refused by ModelConfig: mixture of experts is not implemented.
#include "model/families/Families.h"

namespace vk_symbiote {

namespace {

ModelFamily llama_like(const char* architecture) {
    ModelFamily f;
    f.architecture = architecture;
    f.rope_style = RopeStyle::Normal;
    f.activation = FfnActivation::Silu;
    f.qkv_bias = Presence::Optional;
    f.rope_freqs = Presence::Optional;
    return f;
}

}  // namespace

const ModelFamily& llama_family() {
    static const ModelFamily f = llama_like("llama");
    return f;
}

const ModelFamily& mistral_family() {
    static const ModelFamily f = llama_like("mistral");
    return f;
}

}  // namespace vk_symbiote
