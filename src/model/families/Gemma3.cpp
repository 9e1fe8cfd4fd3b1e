// gemma3 (Gemma 3 text): Gemma 2's layout without soft-caps, plus RMSNorm of every Q and K
// head before rope; five sliding-window layers then one global layer (il % 6 < 5 slides).
// Sliding layers use rope.freq_base_swa (llama.cpp: 1e4) without scaling; global layers use
// rope.freq_base with the file's linear rope scaling (rope.scaling.factor).
//
// Tensors: the common block's plus blk.N.attn_q_norm.weight, attn_k_norm.weight (head_dim),
// post_attention_norm.weight, post_ffw_norm.weight; output optional (tied).
#include "model/families/Families.h"

#include <cmath>

namespace vk_symbiote {

namespace {

// As Gemma 2: the 27B model (62 layers) scales queries by 1 / sqrt(n_embd / n_head).
void gemma3_attention_scale(ModelConfig& c) {
    if (c.n_layer == 62) c.attn_scale = 1.0f / std::sqrt(float(c.n_embd / c.n_head));
}

}  // namespace

const ModelFamily& gemma3_family() {
    static const ModelFamily f = [] {
        ModelFamily g;
        g.architecture = "gemma3";
        g.rope_style = RopeStyle::NeoX;
        g.activation = FfnActivation::GeluTanh;
        g.qk_norm = Presence::Required;
        g.post_norms = Presence::Required;
        g.embd_scale_sqrt = true;
        g.swa_period = 6;
        g.swa_rope_base = 10000.0f;
        g.swa_rope_unscaled = true;
        g.finish = gemma3_attention_scale;
        return g;
    }();
    return f;
}

}  // namespace vk_symbiote
