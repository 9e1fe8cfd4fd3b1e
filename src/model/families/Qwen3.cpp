// qwen3 (dense Qwen3): the common block with an RMSNorm of every Q and K head (over head_dim,
// the layer's eps) before rope, NeoX rope, no biases. The head dimension comes from
// attention.key_length and is often not n_embd / n_head (Q can be wider than the model).
//
// Tensors: the common block's plus blk.N.attn_q_norm.weight, attn_k_norm.weight (head_dim);
// output optional (tied). qwen3moe (experts) is a different architecture, refused.
#include "model/families/Families.h"

namespace vk_symbiote {

const ModelFamily& qwen3_family() {
    static const ModelFamily f = [] {
        ModelFamily q;
        q.architecture = "qwen3";
        q.rope_style = RopeStyle::NeoX;
        q.activation = FfnActivation::Silu;
        q.qk_norm = Presence::Required;
        return q;
    }();
    return f;
}

}  // namespace vk_symbiote
