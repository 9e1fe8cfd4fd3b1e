#include "hf/HfConfig.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "common/ReadOnlyFile.h"
#include "hf/JsonFields.h"
#include "hf/StrictJson.h"

namespace vk_symbiote {

namespace {

using nlohmann::json;

constexpr uint64 kMaxWidth = uint64(1) << 20;  // hidden, FFN and head widths
constexpr uint64 kMaxLayers = 4096;
constexpr uint64 kMaxHeads = 4096;
constexpr uint64 kMaxVocab = uint64(1) << 24;
constexpr uint64 kMaxExperts = 4096;
constexpr uint64 kMaxConfigBytes = uint64(16) << 20;

ExpectedVoid read_class(const JsonFields& f, HfConfig& c) {
    VKS_TRY(f.required("architectures"));
    const json& a = f.at("architectures");
    if (!a.is_array() || a.empty() || !a[0].is_string()) return f.bad("architectures", "expected a list of class names");
    c.class_name = a[0].get<std::string>();
    c.arch = hf_arch_by_class(c.class_name);
    if (!c.arch)
        return f.bad("architectures", "'" + c.class_name.substr(0, 128) + "' is not supported (supported: " + hf_supported_classes() + ")", ErrorCode::Unsupported);
    VKS_TRY(f.text("model_type", c.model_type));
    if (f.has("quantization_config"))
        return f.bad("quantization_config", "quantized checkpoints are not supported (only float32, float16 and bfloat16 weights)", ErrorCode::Unsupported);
    return {};
}

ExpectedVoid read_sizes(const JsonFields& f, HfConfig& c) {
    const bool expert_width_key = c.arch->arch == HfArch::Qwen3Moe;
    for (const char* k : {"hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size", "rms_norm_eps"}) VKS_TRY(f.required(k));
    if (!expert_width_key) VKS_TRY(f.required("intermediate_size"));
    VKS_TRY(f.count("hidden_size", c.hidden_size, 1, kMaxWidth));
    VKS_TRY(f.count("intermediate_size", c.intermediate_size, 1, kMaxWidth));
    VKS_TRY(f.count("num_hidden_layers", c.num_hidden_layers, 1, kMaxLayers));
    VKS_TRY(f.count("num_attention_heads", c.num_attention_heads, 1, kMaxHeads));
    c.num_key_value_heads = c.num_attention_heads;
    VKS_TRY(f.count("num_key_value_heads", c.num_key_value_heads, 1, kMaxHeads));
    VKS_TRY(f.count("head_dim", c.head_dim, 1, kMaxWidth));
    VKS_TRY(f.count("vocab_size", c.vocab_size, 1, kMaxVocab));
    VKS_TRY(f.count("max_position_embeddings", c.max_position_embeddings, 0, uint64(1) << 40));
    if (f.has("original_max_position_embeddings")) {
        uint64 v = 0;
        VKS_TRY(f.count("original_max_position_embeddings", v, 1, uint64(1) << 40));
        c.original_max_position_embeddings = v;
    }
    VKS_TRY(f.number("rms_norm_eps", c.rms_norm_eps));
    if (!(c.rms_norm_eps > 0.0 && c.rms_norm_eps < 1.0)) return f.bad("rms_norm_eps", std::to_string(c.rms_norm_eps) + " is not in (0, 1)");
    return {};
}

// Head sizes that must divide: without head_dim the hidden size splits into the heads.
ExpectedVoid check_heads(const JsonFields& f, HfConfig& c) {
    if (c.num_attention_heads % c.num_key_value_heads != 0)
        return f.bad("num_key_value_heads", std::to_string(c.num_key_value_heads) + " does not divide num_attention_heads " + std::to_string(c.num_attention_heads));
    if (c.head_dim == 0) {
        if (c.hidden_size % c.num_attention_heads != 0)
            return f.bad("hidden_size", std::to_string(c.hidden_size) + " is not divisible by num_attention_heads " + std::to_string(c.num_attention_heads) +
                                            " (and there is no head_dim)");
        c.head_dim = c.hidden_size / c.num_attention_heads;
    }
    if (c.head_dim % 2 != 0) return f.bad("head_dim", std::to_string(c.head_dim) + " is odd (rotary embeddings rotate pairs)");
    VKS_TRY(f.number("partial_rotary_factor", c.partial_rotary_factor));
    const double rot = c.head_dim * c.partial_rotary_factor;
    if (!(c.partial_rotary_factor > 0.0 && c.partial_rotary_factor <= 1.0) || rot != std::floor(rot) || uint64(rot) % 2 != 0)
        return f.bad("partial_rotary_factor", std::to_string(c.partial_rotary_factor) + " x head_dim " + std::to_string(c.head_dim) +
                                                  " is not an even number of rotary dimensions");
    c.rotary_dims = uint32(rot);
    return {};
}

ExpectedVoid read_llama3_scaling(const JsonFields& r, HfRopeScaling& s) {
    const std::pair<const char*, double*> factors[] = {{"factor", &s.factor}, {"low_freq_factor", &s.low_freq_factor}, {"high_freq_factor", &s.high_freq_factor}};
    for (auto [key, value] : factors) {
        VKS_TRY(r.required(key));
        VKS_TRY(r.number(key, *value));
        if (!(*value > 0.0)) return r.bad(key, std::to_string(*value) + " must be positive");
    }
    VKS_TRY(r.count("original_max_position_embeddings", s.original_max_position_embeddings, 1, uint64(1) << 40));
    if (!(s.low_freq_factor < s.high_freq_factor)) return r.bad("low_freq_factor", "must be below high_freq_factor");
    return {};
}

ExpectedVoid read_rope(const JsonFields& f, HfConfig& c, const std::string& file) {
    VKS_TRY(f.number("rope_theta", c.rope_theta));
    VKS_TRY(f.number("rope_local_base_freq", c.rope_local_base_freq));
    if (!(c.rope_theta > 1.0)) return f.bad("rope_theta", std::to_string(c.rope_theta) + " must be above 1");
    if (!f.has("rope_scaling")) return {};
    if (!f.at("rope_scaling").is_object()) return f.bad("rope_scaling", std::string("is ") + json_kind(f.at("rope_scaling")) + ", expected an object");
    JsonFields r(f.at("rope_scaling"), file, "rope_scaling.");
    std::string type;
    VKS_TRY(r.text("type", type));
    VKS_TRY(r.text("rope_type", type));
    if (type == "default" || type.empty()) return {};
    if (type == "linear") {
        c.rope_scaling.type = HfRopeScaling::Type::Linear;
        VKS_TRY(r.required("factor"));
        VKS_TRY(r.number("factor", c.rope_scaling.factor));
        if (!(c.rope_scaling.factor > 0.0)) return r.bad("factor", "must be positive");
        return {};
    }
    if (type == "llama3") {
        c.rope_scaling.type = HfRopeScaling::Type::Llama3;
        return read_llama3_scaling(r, c.rope_scaling);
    }
    return r.bad("rope_type", "'" + type.substr(0, 64) + "' is not supported (supported: linear, llama3)", ErrorCode::Unsupported);
}

// Layer types: "sliding_attention" or "full_attention" per layer.
ExpectedVoid read_layer_types(const JsonFields& f, HfConfig& c) {
    const json& t = f.at("layer_types");
    if (!t.is_array() || t.size() != c.num_hidden_layers)
        return f.bad("layer_types", "expected a list of " + std::to_string(c.num_hidden_layers) + " entries (one per layer)");
    for (size_t il = 0; il < t.size(); ++il) {
        const std::string v = t[il].is_string() ? t[il].get<std::string>() : "";
        if (v != "sliding_attention" && v != "full_attention")
            return f.bad("layer_types", "entry " + std::to_string(il) + " is not \"sliding_attention\" or \"full_attention\"");
        c.sliding_layers[il] = v == "sliding_attention";
    }
    const bool any = std::find(c.sliding_layers.begin(), c.sliding_layers.end(), true) != c.sliding_layers.end();
    if (any && c.sliding_window == 0) return f.bad("sliding_window", "missing, but 'layer_types' has sliding layers");
    return {};
}

// Which layers use the window, from layer_types or the class's rule.
ExpectedVoid read_sliding(const JsonFields& f, HfConfig& c) {
    VKS_TRY(f.count("sliding_window", c.sliding_window, 1, UINT32_MAX));
    c.sliding_layers.assign(c.num_hidden_layers, false);
    if (f.has("layer_types")) return read_layer_types(f, c);
    bool use = true;
    uint32 pattern = 6, first = 0;  // Gemma 3's default pattern
    switch (c.arch->sliding) {
        case HfSlidingRule::None: use = false; break;
        case HfSlidingRule::AllLayers: break;
        case HfSlidingRule::EvenLayers: pattern = 2; break;
        case HfSlidingRule::PatternLastGlobal: VKS_TRY(f.count("sliding_window_pattern", pattern, 1, kMaxLayers)); break;
        case HfSlidingRule::FromMaxWindow:
            use = false;
            VKS_TRY(f.flag("use_sliding_window", use));
            VKS_TRY(f.count("max_window_layers", first, 0, kMaxLayers));
            break;
    }
    if (!use || c.sliding_window == 0) {
        c.sliding_window = 0;
        return {};
    }
    for (uint32 il = 0; il < c.num_hidden_layers; ++il) {
        if (c.arch->sliding == HfSlidingRule::EvenLayers) c.sliding_layers[il] = il % 2 == 0;
        else if (c.arch->sliding == HfSlidingRule::PatternLastGlobal) c.sliding_layers[il] = (il + 1) % pattern != 0;
        else c.sliding_layers[il] = il >= first;
    }
    return {};
}

// Qwen3-MoE: a layer is routed unless listed in mlp_only_layers or off the sparse step.
ExpectedVoid read_qwen_moe_layers(const JsonFields& f, HfConfig& c) {
    VKS_TRY(f.required("moe_intermediate_size"));
    VKS_TRY(f.count("moe_intermediate_size", c.moe_intermediate_size, 1, kMaxWidth));
    VKS_TRY(f.flag("norm_topk_prob", c.norm_topk_prob));
    uint32 step = 1;
    std::vector<uint32> dense;
    VKS_TRY(f.count("decoder_sparse_step", step, 1, kMaxLayers));
    VKS_TRY(f.counts("mlp_only_layers", dense, 0, kMaxLayers));
    for (uint32 il = 0; il < c.num_hidden_layers; ++il)
        c.moe_layers[il] = std::find(dense.begin(), dense.end(), il) == dense.end() && (il + 1) % step == 0;
    if (std::find(c.moe_layers.begin(), c.moe_layers.end(), false) != c.moe_layers.end() && c.intermediate_size == 0)
        return f.bad("intermediate_size", "missing, but some layers have a dense feed-forward (mlp_only_layers / decoder_sparse_step)");
    return {};
}

ExpectedVoid read_experts(const JsonFields& f, HfConfig& c) {
    c.moe_layers.assign(c.num_hidden_layers, false);
    if (!c.arch->moe) return {};
    const char* n_key = c.arch->arch == HfArch::Mixtral ? "num_local_experts" : "num_experts";
    VKS_TRY(f.required(n_key));
    VKS_TRY(f.required("num_experts_per_tok"));
    VKS_TRY(f.count(n_key, c.num_experts, 1, kMaxExperts));
    VKS_TRY(f.count("num_experts_per_tok", c.num_experts_per_tok, 1, kMaxExperts));
    if (c.num_experts_per_tok > c.num_experts)
        return f.bad("num_experts_per_tok", std::to_string(c.num_experts_per_tok) + " is above " + n_key + " " + std::to_string(c.num_experts));
    if (c.arch->arch != HfArch::Mixtral) return read_qwen_moe_layers(f, c);
    c.moe_intermediate_size = c.intermediate_size;
    c.norm_topk_prob = true;  // Mixtral always renormalizes the chosen experts' weights
    c.moe_layers.assign(c.num_hidden_layers, true);
    return {};
}

Expected<DType> read_dtype(const JsonFields& f) {
    const char* key = f.has("torch_dtype") ? "torch_dtype" : "dtype";
    std::string s;
    VKS_TRY(f.text(key, s));
    if (s == "float32") return DType::F32;
    if (s == "float16") return DType::F16;
    if (s == "bfloat16") return DType::BF16;
    return f.bad(key, "'" + s.substr(0, 64) + "' is not supported (float32, float16 or bfloat16)", ErrorCode::Unsupported);
}

// Attention extras, activation, dtype, embeddings and special token ids.
ExpectedVoid read_misc(const JsonFields& f, HfConfig& c) {
    const std::pair<const char*, double*> extras[] = {{"attn_logit_softcapping", &c.attn_logit_softcapping},
                                                      {"final_logit_softcapping", &c.final_logit_softcapping},
                                                      {"query_pre_attn_scalar", &c.query_pre_attn_scalar}};
    for (auto [key, value] : extras) {
        VKS_TRY(f.number(key, *value));
        if (*value < 0.0) return f.bad(key, "must not be negative");
    }
    VKS_TRY(f.flag("attention_bias", c.attention_bias));
    c.attention_bias = c.attention_bias || c.arch->qkv_bias;
    VKS_TRY(f.flag("mlp_bias", c.mlp_bias));
    c.hidden_act = c.arch->sandwich_norms ? "gelu_pytorch_tanh" : "silu";
    VKS_TRY(f.text(c.arch->sandwich_norms ? "hidden_activation" : "hidden_act", c.hidden_act));
    if (c.hidden_act != "silu" && c.hidden_act != "gelu_pytorch_tanh")
        return f.bad(c.arch->sandwich_norms ? "hidden_activation" : "hidden_act", "'" + c.hidden_act.substr(0, 64) + "' is not supported (silu, gelu_pytorch_tanh)",
                     ErrorCode::Unsupported);
    if (f.has("torch_dtype") || f.has("dtype")) {
        auto d = read_dtype(f);
        if (!d) return d.error();
        c.torch_dtype = *d;
    }
    c.tie_word_embeddings = c.arch->ties_by_default;
    VKS_TRY(f.flag("tie_word_embeddings", c.tie_word_embeddings));
    if (f.has("bos_token_id")) {
        uint32 bos = 0;
        VKS_TRY(f.count("bos_token_id", bos, 0, c.vocab_size - 1));
        c.bos_token_id = bos;
    }
    return f.counts("eos_token_id", c.eos_token_ids, 0, c.vocab_size - 1);
}

}  // namespace

Expected<HfConfig> parse_hf_config(std::string_view text, const Path& file) {
    auto j = parse_json_strict(text, file.string(), 16);
    if (!j) return j.error();
    if (!j->is_object()) return make_error(ErrorCode::Format, file.string() + ": expected a JSON object");
    HfConfig c;
    c.file = file;
    JsonFields f(*j, file.string());
    VKS_TRY(read_class(f, c));
    VKS_TRY(read_sizes(f, c));
    VKS_TRY(check_heads(f, c));
    VKS_TRY(read_rope(f, c, file.string()));
    VKS_TRY(read_sliding(f, c));
    VKS_TRY(read_experts(f, c));
    VKS_TRY(read_misc(f, c));
    return c;
}

Expected<HfConfig> read_hf_config(const Path& config_json) {
    auto f = ReadOnlyFile::open(config_json, "expected config.json");
    if (!f) return f.error();
    if ((*f)->size() > kMaxConfigBytes) return make_error(ErrorCode::Format, config_json.string() + ": " + std::to_string((*f)->size()) + " bytes is too large for a config");
    std::string text(size_t((*f)->size()), '\0');
    VKS_TRY((*f)->read_range(0, text.size(), text.data()));
    return parse_hf_config(text, config_json);
}

}  // namespace vk_symbiote
