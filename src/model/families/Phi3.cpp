// phi3 (Phi-3, Phi-3.5, Phi-4 mini): one fused Q/K/V matrix and one fused gate+up matrix,
// read as row ranges of the file's tensors (never copied): attn_qkv rows are Q (q_dim), then
// K, then V (kv_dim each); ffn_up rows 0 .. n_ff-1 are the gate (SiLU), n_ff .. 2 n_ff-1 the up
// projection. NeoX rope on the first rope.dimension_count dims of each head (partial rotary).
//
// Tensors: token_embd; per layer attn_norm, attn_qkv (or separate attn_q / attn_k / attn_v, as
// llama.cpp accepts), attn_output, ffn_norm, ffn_up (2 n_ff rows), ffn_down; output_norm,
// output. The long-context rope factors (rope_factors_long / _short) are not implemented: the
// registry refuses a file that has them. phi3.attention.sliding_window is ignored, as llama.cpp
// does (its Phi-3 sliding window is disabled).
#include "model/families/Families.h"

namespace vk_symbiote {

const ModelFamily& phi3_family() {
    static const ModelFamily f = [] {
        ModelFamily p;
        p.architecture = "phi3";
        p.rope_style = RopeStyle::NeoX;
        p.activation = FfnActivation::Silu;
        p.fused_qkv = Presence::Optional;
        p.fused_gate_up = Presence::Required;
        return p;
    }();
    return f;
}

}  // namespace vk_symbiote
