// qwen3moe (Qwen3 mixtures of experts, e.g. Qwen3-30B-A3B): qwen3's attention (RMSNorm of
// every Q and K head, NeoX rope, head dim from attention.key_length) with a routed mixture of
// experts in every layer: a softmax over expert_count experts, the expert_used_count largest
// used, their weights renormalized (llama.cpp's qwen3moe graph always renormalizes).
//
// Tensors: qwen3's attention tensors; per layer ffn_norm, the router ffn_gate_inp (f32,
// expert_count x n_embd) and ffn_gate_exps / ffn_up_exps (n_embd -> expert_feed_forward_length)
// and ffn_down_exps, each 3-D with the expert outermost. feed_forward_length is unused.
#include "model/families/Families.h"

namespace vk_symbiote {

const ModelFamily& qwen3moe_family() {
    static const ModelFamily f = [] {
        ModelFamily q;
        q.architecture = "qwen3moe";
        q.rope_style = RopeStyle::NeoX;
        q.activation = FfnActivation::Silu;
        q.qk_norm = Presence::Required;
        q.experts = Presence::Required;
        q.expert_width_key = true;
        q.expert_weights_norm = true;
        return q;
    }();
    return f;
}

}  // namespace vk_symbiote
