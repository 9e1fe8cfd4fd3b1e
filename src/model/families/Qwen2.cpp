// qwen2 (Qwen2, Qwen2.5): the common block with f32 biases on Q, K and V (required, as
// llama.cpp loads them) and rotate-half (NeoX) rope, usually with a large base (1e6).
//
// Tensors: the common block's plus blk.N.attn_q.bias (q_dim), attn_k.bias, attn_v.bias (kv_dim);
// output optional (tied). Config.json's sliding-window fields are not written by the converter
// and not used by llama.cpp.
#include "model/families/Families.h"

namespace vk_symbiote {

const ModelFamily& qwen2_family() {
    static const ModelFamily f = [] {
        ModelFamily q;
        q.architecture = "qwen2";
        q.rope_style = RopeStyle::NeoX;
        q.activation = FfnActivation::Silu;
        q.qkv_bias = Presence::Required;
        return q;
    }();
    return f;
}

}  // namespace vk_symbiote
