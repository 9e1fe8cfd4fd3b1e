#include "hf/HfMetadata.h"

namespace vk_symbiote {

namespace {

GGUFValue uint_value(uint64 v) {
    GGUFValue x;
    x.type = GGUFType::U32;
    x.i = int64(v);
    x.u = v;
    x.f = double(v);
    return x;
}

GGUFValue float_value(double v) {
    GGUFValue x;
    x.type = GGUFType::F32;
    x.f = v;
    return x;
}

GGUFValue string_value(const std::string& s) {
    GGUFValue x;
    x.type = GGUFType::STRING;
    x.str = s;
    return x;
}

GGUFValue bool_value(bool b) {
    GGUFValue x;
    x.type = GGUFType::BOOL;
    x.i = b ? 1 : 0;
    x.u = x.i;
    return x;
}

using Keys = std::map<std::string, GGUFValue>;

// Widths, heads, context, norm epsilon and the vocabulary (config.json's vocab_size: the
// embedding rows, padding included).
void put_shape(const HfConfig& c, const std::string& a, Keys& k) {
    k[a + "embedding_length"] = uint_value(c.hidden_size);
    k[a + "block_count"] = uint_value(c.num_hidden_layers);
    k[a + "feed_forward_length"] = uint_value(c.intermediate_size);
    k[a + "attention.head_count"] = uint_value(c.num_attention_heads);
    k[a + "attention.head_count_kv"] = uint_value(c.num_key_value_heads);
    k[a + "attention.key_length"] = uint_value(c.head_dim);
    k[a + "attention.value_length"] = uint_value(c.head_dim);
    if (c.max_position_embeddings > 0) k[a + "context_length"] = uint_value(c.max_position_embeddings);
    k[a + "attention.layer_norm_rms_epsilon"] = float_value(c.rms_norm_eps);
    k[a + "vocab_size"] = uint_value(c.vocab_size);
}

// Rotary dimensions and base; linear scaling as the converter writes it. llama3 scaling is
// a tensor (rope_freqs.weight, HfModelSource), not a key.
void put_rope(const HfConfig& c, const std::string& a, Keys& k) {
    k[a + "rope.dimension_count"] = uint_value(c.rotary_dims);
    k[a + "rope.freq_base"] = float_value(c.rope_theta);
    if (c.rope_local_base_freq > 0.0) k[a + "rope.freq_base_swa"] = float_value(c.rope_local_base_freq);
    if (c.rope_scaling.type == HfRopeScaling::Type::Linear) {
        k[a + "rope.scaling.type"] = string_value("linear");
        k[a + "rope.scaling.factor"] = float_value(c.rope_scaling.factor);
    }
}

void put_experts(const HfConfig& c, const std::string& a, Keys& k) {
    if (c.num_experts == 0) return;
    k[a + "expert_count"] = uint_value(c.num_experts);
    k[a + "expert_used_count"] = uint_value(c.num_experts_per_tok);
    k[a + "expert_feed_forward_length"] = uint_value(c.moe_intermediate_size);
    k[a + "expert_weights_norm"] = bool_value(c.norm_topk_prob);
}

// The period p of a sliding-layer list where layer l slides iff l % p < p - 1 (the
// families' pattern); 0 when the list has no sliding layer or follows no such period.
uint32 sliding_period(const std::vector<bool>& sliding) {
    for (uint32 p = 1; p <= sliding.size() + 1; ++p) {
        bool fits = true;
        for (size_t l = 0; l < sliding.size() && fits; ++l) fits = sliding[l] == (l % p < p - 1);
        if (fits) return p;
    }
    return 0;
}

// Sliding window and soft-caps: keys of the families that have them (Gemma 2 / 3). Other
// classes' windows are not written, as the converter does not write them.
ExpectedVoid put_gemma_attention(const HfConfig& c, const std::string& a, Keys& k) {
    if (!c.arch->sandwich_norms) return {};
    if (c.attn_logit_softcapping > 0.0) k[a + "attn_logit_softcapping"] = float_value(c.attn_logit_softcapping);
    if (c.final_logit_softcapping > 0.0) k[a + "final_logit_softcapping"] = float_value(c.final_logit_softcapping);
    if (c.sliding_window == 0) return {};
    k[a + "attention.sliding_window"] = uint_value(c.sliding_window);
    const uint32 period = sliding_period(c.sliding_layers);
    if (period == 0)
        return make_error(ErrorCode::Unsupported, c.file.string() + ": key 'layer_types': this pattern of sliding and global layers is not "
                                                                    "supported (supported: every p-th layer global, the others sliding)");
    k[a + "attention.sliding_window_pattern"] = uint_value(period);
    return {};
}

// The activation is the family's (GELU-tanh for Gemma, SiLU for the others), not a key of the
// converted file: a config.json that names the other one is refused.
ExpectedVoid check_activation(const HfConfig& c) {
    const char* runs = c.arch->sandwich_norms ? "gelu_pytorch_tanh" : "silu";
    if (c.hidden_act == runs) return {};
    return make_error(ErrorCode::Unsupported, c.file.string() + ": key '" + (c.arch->sandwich_norms ? "hidden_activation" : "hidden_act") + "': '" +
                                                  c.hidden_act + "' is not supported for " + c.class_name + " (it runs " + runs + ")");
}

}  // namespace

Expected<std::map<std::string, GGUFValue>> hf_converter_metadata(const HfConfig& c, const std::string& name) {
    VKS_TRY(check_activation(c));
    Keys k;
    const std::string arch = c.arch->gguf_arch, a = arch + ".";
    k["general.architecture"] = string_value(arch);
    k["general.name"] = string_value(name);
    put_shape(c, a, k);
    put_rope(c, a, k);
    put_experts(c, a, k);
    VKS_TRY(put_gemma_attention(c, a, k));
    return k;
}

}  // namespace vk_symbiote
