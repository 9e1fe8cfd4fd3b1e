// gemma2 (Gemma 2): the embedding row times sqrt(n_embd); RMSNorm of the attention output and
// of the FFN output before each joins the residual (post_attention_norm, post_ffw_norm);
// GELU(tanh)-gated FFN; attention scores and final logits soft-capped (c tanh(s / c));
// sliding-window attention on even layers; NeoX rope; tied output; head_dim from
// attention.key_length. Norm weights are stored as the converter writes them (checkpoint + 1):
// the RMSNorm multiplies by the stored value, as everywhere.
//
// Tensors: the common block's plus blk.N.post_attention_norm.weight, post_ffw_norm.weight.
// Defaults as llama.cpp's when a key is absent: sliding window 4096, caps 50 (attention) and
// 30 (logits).
#include "model/families/Families.h"

#include <cmath>

namespace vk_symbiote {

namespace {

// llama.cpp scales the queries of Gemma 2 27B (which it recognises by its 46 layers) by
// 1 / sqrt(n_embd / n_head), every other Gemma 2 by 1 / sqrt(head_dim); no key says which.
void gemma2_attention_scale(ModelConfig& c) {
    if (c.n_layer == 46) c.attn_scale = 1.0f / std::sqrt(float(c.n_embd / c.n_head));
}

}  // namespace

const ModelFamily& gemma2_family() {
    static const ModelFamily f = [] {
        ModelFamily g;
        g.architecture = "gemma2";
        g.rope_style = RopeStyle::NeoX;
        g.activation = FfnActivation::GeluTanh;
        g.post_norms = Presence::Required;
        g.embd_scale_sqrt = true;
        g.softcaps = true;
        g.default_attn_softcap = 50.0f;
        g.default_final_softcap = 30.0f;
        g.swa_period = 2;
        g.default_sliding_window = 4096;
        g.finish = gemma2_attention_scale;
        return g;
    }();
    return f;
}

}  // namespace vk_symbiote
