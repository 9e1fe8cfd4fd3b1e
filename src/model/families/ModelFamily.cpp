#include "model/families/ModelFamily.h"

#include <cmath>

#include "common/HalfFloat.h"
#include "gguf/ModelSource.h"
#include "model/TensorRegistry.h"

namespace vk_symbiote {

namespace {

// Sanity limits for hostile metadata (far above real models: Qwen3-30B-A3B has 128 experts
// of width 768, Mixtral 8 of 14336).
constexpr uint64 kMaxExperts = 1 << 12;
constexpr uint64 kMaxExpertWidth = 1 << 20;

Error bad_key(const ModelSource& g, const std::string& key, const std::string& what) {
    return make_error(ErrorCode::Format, g.path().string() + ": metadata '" + key + "': " + what);
}

bool present(Presence p, const ModelSource& g, const std::string& probe_tensor) {
    return p == Presence::Required || (p == Presence::Optional && g.find_tensor(probe_tensor) != nullptr);
}

// An optional float key in (lo, hi), else `fallback`.
Expected<float> float_key(const ModelSource& g, const std::string& key, double lo, double hi, float fallback) {
    if (!g.has_key(key)) return fallback;
    auto v = g.get_float(key);
    if (!v) return v.error();
    if (!(*v > lo && *v < hi)) return bad_key(g, key, "value " + std::to_string(*v) + " out of range");
    return float(*v);
}

// rope_freqs.weight: (n_rot / 2) positive divisors of the rope angles, any float dtype.
ExpectedVoid read_rope_freqs(const ModelSource& g, ModelConfig& c) {
    const GGUFTensorInfo* t = g.find_tensor(kRopeFreqsTensor);
    const std::string what = g.path().string() + ": tensor '" + kRopeFreqsTensor + "'";
    if (!t || t->dims.size() != 1 || t->dims[0] != c.n_rot / 2)
        return make_error(ErrorCode::Format, what + ": expected one factor per rotated pair ([" + std::to_string(c.n_rot / 2) + "])");
    if (t->byte_size == 0) return make_error(ErrorCode::Unsupported, what + ": type " + ggml_type_name(t->ggml_type) + " is not supported");
    auto bytes = g.read_tensor(kRopeFreqsTensor);
    if (!bytes) return bytes.error();
    c.rope_freq_factors.resize(c.n_rot / 2);
    row_to_f32(t->dtype, bytes->data(), c.rope_freq_factors.data(), c.rope_freq_factors.size());
    for (float f : c.rope_freq_factors)
        if (!(f > 0.0f && std::isfinite(f))) return make_error(ErrorCode::Format, what + ": factor " + std::to_string(f) + " is not a positive number");
    return {};
}

ExpectedVoid read_softcaps(const ModelSource& g, ModelConfig& c) {
    const std::string a = c.architecture + ".";
    auto attn = float_key(g, a + "attn_logit_softcapping", 0.0, 1e6, c.attn_softcap);
    if (!attn) return attn.error();
    auto final = float_key(g, a + "final_logit_softcapping", 0.0, 1e6, c.final_softcap);
    if (!final) return final.error();
    c.attn_softcap = *attn;
    c.final_softcap = *final;
    return {};
}

// An unsigned key in [lo, hi]; `fallback` when absent.
Expected<uint32> uint_key(const ModelSource& g, const std::string& key, uint64 lo, uint64 hi, uint32 fallback) {
    if (!g.has_key(key)) return fallback;
    auto v = g.get_uint(key);
    if (!v) return v.error();
    if (*v < lo || *v > hi) return bad_key(g, key, "value " + std::to_string(*v) + " out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return uint32(*v);
}

Error unsupported_key(const ModelSource& g, const std::string& key, const std::string& what) {
    return make_error(ErrorCode::Unsupported, g.path().string() + ": metadata '" + key + "': " + what);
}

// Routing variants llama.cpp has and this engine does not: refused by their key.
ExpectedVoid refuse_expert_variants(const ModelSource& g, const std::string& a) {
    auto shared = uint_key(g, a + "expert_shared_count", 0, 1u << 12, 0);
    if (!shared) return shared.error();
    if (*shared > 0) return unsupported_key(g, a + "expert_shared_count", "shared experts are not implemented (mixture-of-experts with routed experts only)");
    // llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE: 1 softmax, 2 sigmoid, 3 softmax of the selected weights.
    auto gating = uint_key(g, a + "expert_gating_func", 0, 1u << 8, 1);
    if (!gating) return gating.error();
    if (*gating != 1) return unsupported_key(g, a + "expert_gating_func", std::to_string(*gating) + ": only softmax gating (1) is implemented");
    return {};
}

// Expert count, experts per token, expert width and how the top-k weights are scaled.
// Kept off (n_expert 0) for a family without experts or an Optional one without expert_count.
ExpectedVoid read_experts(const ModelFamily& f, const ModelSource& g, ModelConfig& c) {
    const std::string a = c.architecture + ".", nkey = a + "expert_count";
    auto n = uint_key(g, nkey, 0, kMaxExperts, 0);
    if (!n) return n.error();
    if (f.experts == Presence::Never && *n > 0)
        return unsupported_key(g, nkey, std::to_string(*n) + " experts: mixture-of-experts " + c.architecture + " models are not supported");
    if (*n == 0 && f.experts != Presence::Required) return {};
    if (*n == 0) return bad_key(g, nkey, "a " + c.architecture + " model needs at least one expert");
    auto used = uint_key(g, a + "expert_used_count", 1, *n, 0);
    if (!used) return used.error();
    if (*used == 0) return bad_key(g, a + "expert_used_count", "missing: required with " + nkey);
    uint32 width = c.n_ff;
    if (f.expert_width_key) {
        auto w = uint_key(g, a + "expert_feed_forward_length", 1, kMaxExpertWidth, 0);
        if (!w) return w.error();
        if (*w == 0) return bad_key(g, a + "expert_feed_forward_length", "missing: the " + c.architecture + " expert width");
        width = *w;
    }
    VKS_TRY(refuse_expert_variants(g, a));
    auto scale = float_key(g, a + "expert_weights_scale", 0.0, 1e6, 1.0f);
    if (!scale) return scale.error();
    c.expert_weights_norm = f.expert_weights_norm;
    if (g.has_key(a + "expert_weights_norm")) {
        auto norm = g.get_bool(a + "expert_weights_norm");
        if (!norm) return norm.error();
        c.expert_weights_norm = *norm;
    }
    c.n_expert = *n;
    c.n_expert_used = *used;
    c.n_ff_expert = width;
    c.expert_weights_scale = *scale;
    return {};
}

// The window (the family's default when the key is absent, if it has one), the period from
// the pattern key, and the sliding layers' rope base.
ExpectedVoid read_sliding(const ModelFamily& f, const ModelSource& g, ModelConfig& c) {
    const std::string a = c.architecture + ".", wkey = a + "attention.sliding_window", pkey = a + "attention.sliding_window_pattern";
    uint64 window = f.default_sliding_window, period = f.swa_period;
    if (g.has_key(wkey) || window == 0) {
        auto w = g.get_uint(wkey);
        if (!w) return w.error();
        window = *w;
    }
    if (window == 0 || window > (uint64(1) << 24)) return bad_key(g, wkey, "window " + std::to_string(window) + " out of range [1, 16777216]");
    if (g.has_key(pkey)) {
        auto p = g.get_uint(pkey);
        if (!p) return make_error(ErrorCode::Unsupported, p.error().message + " (only a layer period is supported)");
        if (*p == 0 || *p > c.n_layer + 1) return bad_key(g, pkey, "period " + std::to_string(*p) + " out of range");
        period = *p;
    }
    set_sliding_window(c, uint32(window), uint32(period));
    auto base = float_key(g, a + "rope.freq_base_swa", 1.0, 1e12, c.rope_base_swa);
    if (!base) return base.error();
    c.rope_base_swa = *base;
    return {};
}

}  // namespace

void set_sliding_window(ModelConfig& c, uint32 window, uint32 period) {
    c.sliding_window = window;
    c.sliding.assign(c.n_layer, 0);
    for (uint32 l = 0; l < c.n_layer && period > 0; ++l) c.sliding[l] = l % period < period - 1 ? 1 : 0;
}

void apply_family_defaults(const ModelFamily& f, ModelConfig& c) {
    c.rope_style = f.rope_style;
    c.activation = f.activation;
    c.has_qkv_bias = f.qkv_bias == Presence::Required;
    c.has_qk_norm = f.qk_norm == Presence::Required;
    c.has_post_norms = f.post_norms == Presence::Required;
    c.fused_qkv = f.fused_qkv == Presence::Required;
    c.fused_gate_up = f.fused_gate_up == Presence::Required;
    c.embd_scale = f.embd_scale_sqrt ? std::sqrt(float(c.n_embd)) : 1.0f;
    c.attn_softcap = f.softcaps ? f.default_attn_softcap : 0.0f;
    c.final_softcap = f.softcaps ? f.default_final_softcap : 0.0f;
    set_sliding_window(c, f.swa_period ? f.default_sliding_window : 0, f.swa_period);
    c.rope_base_swa = f.swa_rope_base > 0.0f ? f.swa_rope_base : c.rope_freq_base;
    c.rope_scale_swa = f.swa_rope_unscaled ? 1.0f : c.rope_freq_scale;
    if (f.finish) f.finish(c);
}

ExpectedVoid apply_family(const ModelFamily& f, const ModelSource& g, ModelConfig& c) {
    apply_family_defaults(f, c);
    // Optional features are on when the file has their tensor in layer 0.
    c.has_qkv_bias = present(f.qkv_bias, g, tensor_name({TensorRole::BiasQ, 0}));
    c.has_qk_norm = present(f.qk_norm, g, tensor_name({TensorRole::AttnQNorm, 0}));
    c.has_post_norms = present(f.post_norms, g, tensor_name({TensorRole::PostAttnNorm, 0}));
    c.fused_qkv = present(f.fused_qkv, g, layer_tensor_name(0, "attn_qkv"));
    // Fused gate+up has no tensor of its own: it is on when ffn_gate is absent.
    c.fused_gate_up = f.fused_gate_up == Presence::Required ||
                      (f.fused_gate_up == Presence::Optional && g.find_tensor(tensor_name({TensorRole::Wgate, 0})) == nullptr);
    if (present(f.rope_freqs, g, kRopeFreqsTensor)) VKS_TRY(read_rope_freqs(g, c));
    if (f.softcaps) VKS_TRY(read_softcaps(g, c));
    if (f.swa_period > 0) VKS_TRY(read_sliding(f, g, c));
    VKS_TRY(read_experts(f, g, c));
    return {};
}

}  // namespace vk_symbiote
