#include "model/ModelConfig.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "gguf/ModelSource.h"
#include "model/families/FamilyRegistry.h"

namespace vk_symbiote {

namespace {

// Sanity limits for hostile metadata (far above real models).
constexpr uint64 kMaxWidth = 1 << 17;
constexpr uint64 kMaxLayers = 1 << 12;
constexpr uint64 kMaxVocab = 1 << 22;

Error bad(const ModelSource& g, const std::string& key, const std::string& what) {
    return make_error(ErrorCode::Format, g.path().string() + ": metadata '" + key + "': " + what);
}

Error unsupported(const ModelSource& g, const std::string& key, const std::string& what) {
    return make_error(ErrorCode::Unsupported, g.path().string() + ": metadata '" + key + "': " + what);
}

// Reads integer keys into uint32 fields with a range check.
struct KeyReader {
    const ModelSource& g;

    ExpectedVoid get(const std::string& key, uint64 lo, uint64 hi, uint32& out) const {
        auto v = g.get_uint(key);
        if (!v) return v.error();
        if (*v < lo || *v > hi) return bad(g, key, "value " + std::to_string(*v) + " out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        out = uint32(*v);
        return {};
    }
    ExpectedVoid get_if(const std::string& key, uint64 lo, uint64 hi, uint32& out) const { return g.has_key(key) ? get(key, lo, hi, out) : ExpectedVoid{}; }
};

// The family of general.architecture; refuses the others with the list of supported ones.
Expected<const ModelFamily*> family_of(const ModelSource& g, const std::string& arch) {
    if (const ModelFamily* f = find_family(arch)) return f;
    const char* why = unsupported_architecture_reason(arch);
    return unsupported(g, "general.architecture", "'" + arch + "' is not supported" + (why ? std::string(": ") + why : std::string()) +
                                                      " (supported: " + supported_architectures() + ")");
}

// Widths, layers and heads; the head dimension from attention.key_length when present.
ExpectedVoid read_shape(const ModelSource& g, const std::string& a, ModelConfig& c) {
    const KeyReader k{g};
    VKS_TRY(k.get(a + "embedding_length", 1, kMaxWidth, c.n_embd));
    VKS_TRY(k.get(a + "block_count", 1, kMaxLayers, c.n_layer));
    VKS_TRY(k.get(a + "feed_forward_length", 1, kMaxWidth * 8, c.n_ff));
    VKS_TRY(k.get(a + "attention.head_count", 1, c.n_embd, c.n_head));
    c.n_head_kv = c.n_head;
    VKS_TRY(k.get_if(a + "attention.head_count_kv", 1, c.n_head, c.n_head_kv));
    if (c.n_head % c.n_head_kv != 0) return bad(g, a + "attention.head_count_kv", "head_count " + std::to_string(c.n_head) + " is not a multiple of head_count_kv " + std::to_string(c.n_head_kv));
    if (g.has_key(a + "attention.key_length")) {
        VKS_TRY(k.get(a + "attention.key_length", 2, kMaxWidth / 8, c.head_dim));
        uint32 value_length = c.head_dim;
        VKS_TRY(k.get_if(a + "attention.value_length", 1, kMaxWidth, value_length));
        if (value_length != c.head_dim)
            return unsupported(g, a + "attention.value_length", std::to_string(value_length) + " differs from key_length " + std::to_string(c.head_dim) + " (not implemented)");
    } else {
        if (c.n_embd % c.n_head != 0) return bad(g, a + "attention.head_count", "embedding_length " + std::to_string(c.n_embd) + " is not divisible by head_count " + std::to_string(c.n_head));
        c.head_dim = c.n_embd / c.n_head;
    }
    c.n_ctx_train = 2048;
    VKS_TRY(k.get_if(a + "context_length", 1, 1u << 24, c.n_ctx_train));
    return {};
}

// Rope dimensions, base and linear scaling; other scaling types are refused by name.
ExpectedVoid read_rope(const ModelSource& g, const std::string& a, ModelConfig& c) {
    c.n_rot = c.head_dim;
    VKS_TRY(KeyReader{g}.get_if(a + "rope.dimension_count", 2, c.head_dim, c.n_rot));
    if (c.n_rot % 2 != 0) return bad(g, a + "rope.dimension_count", "must be even");
    if (g.has_key(a + "rope.freq_base")) {
        auto v = g.get_float(a + "rope.freq_base");
        if (!v) return v.error();
        if (!(*v > 1.0 && *v < 1e12)) return bad(g, a + "rope.freq_base", "value out of range");
        c.rope_freq_base = float(*v);
    }
    std::string type = "linear";
    if (g.has_key(a + "rope.scaling.type")) {
        auto t = g.get_string(a + "rope.scaling.type");
        if (!t) return t.error();
        type = *t;
    }
    if (type != "linear" && type != "none") return unsupported(g, a + "rope.scaling.type", "'" + type + "' rope scaling is not implemented (supported: none, linear)");
    // The factor: rope.scaling.factor, else the older rope.scale_linear; 0 means none (llama.cpp).
    const std::string fkey = g.has_key(a + "rope.scaling.factor") ? a + "rope.scaling.factor" : a + "rope.scale_linear";
    if (!g.has_key(fkey)) return {};
    auto v = g.get_float(fkey);
    if (!v) return v.error();
    if (!(*v >= 0.0 && *v < 1e6)) return bad(g, fkey, "value out of range");
    if (*v == 0.0 || *v == 1.0) return {};
    if (type == "none") return unsupported(g, fkey, "a scaling factor with rope.scaling.type 'none' is ambiguous");
    c.rope_freq_scale = float(1.0 / *v);
    return {};
}

ExpectedVoid read_norm_eps(const ModelSource& g, const std::string& a, ModelConfig& c) {
    auto v = g.get_float(a + "attention.layer_norm_rms_epsilon");
    if (!v) return v.error().code == ErrorCode::NotFound ? ExpectedVoid{} : ExpectedVoid(v.error());
    if (!(*v > 0.0 && *v < 1.0)) return bad(g, a + "attention.layer_norm_rms_epsilon", "value out of range");
    c.rms_eps = float(*v);
    return {};
}

// Vocabulary size: explicit key, else the embedding table's row count.
ExpectedVoid read_vocab(const ModelSource& g, const std::string& a, ModelConfig& c) {
    if (g.has_key(a + "vocab_size")) return KeyReader{g}.get(a + "vocab_size", 1, kMaxVocab, c.n_vocab);
    const GGUFTensorInfo* te = g.find_tensor("token_embd.weight");
    if (!te || te->dims.size() != 2)
        return make_error(ErrorCode::NotFound, g.path().string() + ": tensor 'token_embd.weight': required tensor missing (needed for the vocabulary size)");
    if (te->dims[1] > kMaxVocab) return make_error(ErrorCode::Format, g.path().string() + ": tensor 'token_embd.weight': vocabulary too large");
    c.n_vocab = uint32(te->dims[1]);
    return {};
}

}  // namespace

Expected<ModelConfig> ModelConfig::from_source(const ModelSource& g) {
    ModelConfig c;
    auto arch = g.get_string("general.architecture");
    if (!arch) return arch.error();
    c.architecture = *arch;
    auto family = family_of(g, c.architecture);
    if (!family) return family.error();
    if (auto* n = g.find("general.name"); n && n->type == GGUFType::STRING) c.name = n->str;
    const std::string a = c.architecture + ".";
    VKS_TRY(read_shape(g, a, c));
    VKS_TRY(read_rope(g, a, c));
    VKS_TRY(read_norm_eps(g, a, c));
    VKS_TRY(read_vocab(g, a, c));
    c.tied_output = g.find_tensor("output.weight") == nullptr;
    VKS_TRY(apply_family(**family, g, c));
    // Q / K rows stored in rotate-half order (a Hugging Face folder of a Llama-family class):
    // the NeoX rope on them is the adjacent-pair rope on the converter's permuted rows.
    if (g.qk_rows_rotate_half()) c.rope_style = RopeStyle::NeoX;
    return c;
}

float ModelConfig::attention_scale() const { return attn_scale > 0.0f ? attn_scale : 1.0f / std::sqrt(float(head_dim)); }

bool ModelConfig::has_sliding_layers() const {
    return sliding_window > 0 && std::any_of(sliding.begin(), sliding.end(), [](uint8 s) { return s != 0; });
}

uint32 ModelConfig::kv_rows(uint32 layer, uint32 n_ctx, uint32 n_batch) const {
    if (!is_sliding(layer)) return n_ctx;
    return uint32(std::min<uint64>(n_ctx, uint64(sliding_window) - 1 + std::max<uint32>(n_batch, 1)));
}

uint64 ModelConfig::kv_rows_total(uint32 n_ctx, uint32 n_batch) const {
    uint64 s = 0;
    for (uint32 l = 0; l < n_layer; ++l) s += kv_rows(l, n_ctx, n_batch);
    return s;
}

std::string ModelConfig::summary() const {
    std::ostringstream os;
    os << architecture << (name.empty() ? "" : " '" + name + "'") << ": n_vocab=" << n_vocab << " n_embd=" << n_embd << " n_layer=" << n_layer
       << " n_head=" << n_head << " n_head_kv=" << n_head_kv << " head_dim=" << head_dim << " n_ff=" << n_ff << " n_rot=" << n_rot
       << " rope_base=" << rope_freq_base << " rms_eps=" << rms_eps << (tied_output ? " tied_output" : "");
    if (sliding_window) os << " sliding_window=" << sliding_window;
    if (is_moe()) os << " experts=" << n_expert_used << "/" << n_expert << " n_ff_expert=" << n_ff_expert;
    return os.str();
}

}  // namespace vk_symbiote
