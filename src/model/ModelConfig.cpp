#include "model/ModelConfig.h"

#include <sstream>

#include "gguf/GGUFLoader.h"

namespace vk_symbiote {

namespace {

// Sanity limits for hostile metadata (far above real models).
constexpr uint64 kMaxWidth = 1 << 17;
constexpr uint64 kMaxLayers = 1 << 12;
constexpr uint64 kMaxVocab = 1 << 22;

Error bad(const GGUFLoader& g, const std::string& key, const std::string& what) {
    return make_error(ErrorCode::Format, g.path().string() + ": metadata '" + key + "': " + what);
}

}  // namespace

Expected<ModelConfig> ModelConfig::from_gguf(const GGUFLoader& g) {
    ModelConfig c;
    auto arch = g.get_string("general.architecture");
    if (!arch) return arch.error();
    c.architecture = *arch;
    // Architectures that share Llama's tensor layout and forward pass.
    if (c.architecture != "llama" && c.architecture != "mistral")
        return make_error(ErrorCode::Unsupported, g.path().string() + ": metadata 'general.architecture': '" + c.architecture +
                                                      "' is not supported (supported: llama, mistral)");
    if (auto* n = g.find("general.name"); n && n->type == GGUFType::STRING) c.name = n->str;
    const std::string a = c.architecture + ".";

    auto get_u = [&](const std::string& key, uint64 lo, uint64 hi, uint32& out) -> ExpectedVoid {
        auto v = g.get_uint(key);
        if (!v) return v.error();
        if (*v < lo || *v > hi) return bad(g, key, "value " + std::to_string(*v) + " out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        out = uint32(*v);
        return {};
    };
    VKS_TRY(get_u(a + "embedding_length", 1, kMaxWidth, c.n_embd));
    VKS_TRY(get_u(a + "block_count", 1, kMaxLayers, c.n_layer));
    VKS_TRY(get_u(a + "feed_forward_length", 1, kMaxWidth * 8, c.n_ff));
    VKS_TRY(get_u(a + "attention.head_count", 1, c.n_embd, c.n_head));
    c.n_head_kv = c.n_head;
    if (g.has_key(a + "attention.head_count_kv")) VKS_TRY(get_u(a + "attention.head_count_kv", 1, c.n_head, c.n_head_kv));
    if (c.n_embd % c.n_head != 0) return bad(g, a + "attention.head_count", "embedding_length " + std::to_string(c.n_embd) + " is not divisible by head_count " + std::to_string(c.n_head));
    if (c.n_head % c.n_head_kv != 0) return bad(g, a + "attention.head_count_kv", "head_count " + std::to_string(c.n_head) + " is not a multiple of head_count_kv " + std::to_string(c.n_head_kv));
    c.head_dim = c.n_embd / c.n_head;
    c.n_ctx_train = 2048;
    if (g.has_key(a + "context_length")) VKS_TRY(get_u(a + "context_length", 1, 1u << 24, c.n_ctx_train));
    c.n_rot = c.head_dim;
    if (g.has_key(a + "rope.dimension_count")) VKS_TRY(get_u(a + "rope.dimension_count", 2, c.head_dim, c.n_rot));
    if (c.n_rot % 2 != 0) return bad(g, a + "rope.dimension_count", "must be even");
    if (g.has_key(a + "rope.freq_base")) {
        auto v = g.get_float(a + "rope.freq_base");
        if (!v) return v.error();
        if (!(*v > 1.0 && *v < 1e12)) return bad(g, a + "rope.freq_base", "value out of range");
        c.rope_freq_base = float(*v);
    }
    if (g.has_key(a + "rope.scale_linear")) {
        auto v = g.get_float(a + "rope.scale_linear");
        if (!v) return v.error();
        if (!(*v > 0.0 && *v < 1e6)) return bad(g, a + "rope.scale_linear", "value out of range");
        c.rope_freq_scale = float(1.0 / *v);
    }
    {
        auto v = g.get_float(a + "attention.layer_norm_rms_epsilon");
        if (v) {
            if (!(*v > 0.0 && *v < 1.0)) return bad(g, a + "attention.layer_norm_rms_epsilon", "value out of range");
            c.rms_eps = float(*v);
        } else if (v.error().code != ErrorCode::NotFound) {
            return v.error();
        }
    }
    // Vocabulary size: explicit key, else the embedding table's row count.
    if (g.has_key(a + "vocab_size")) {
        VKS_TRY(get_u(a + "vocab_size", 1, kMaxVocab, c.n_vocab));
    } else if (auto* te = g.find_tensor("token_embd.weight"); te && te->dims.size() == 2) {
        if (te->dims[1] > kMaxVocab) return make_error(ErrorCode::Format, g.path().string() + ": tensor 'token_embd.weight': vocabulary too large");
        c.n_vocab = uint32(te->dims[1]);
    } else {
        return make_error(ErrorCode::NotFound, g.path().string() + ": tensor 'token_embd.weight': required tensor missing (needed for the vocabulary size)");
    }
    c.tied_output = g.find_tensor("output.weight") == nullptr;
    return c;
}

std::string ModelConfig::summary() const {
    std::ostringstream os;
    os << architecture << (name.empty() ? "" : " '" + name + "'") << ": n_vocab=" << n_vocab << " n_embd=" << n_embd << " n_layer=" << n_layer
       << " n_head=" << n_head << " n_head_kv=" << n_head_kv << " head_dim=" << head_dim << " n_ff=" << n_ff << " n_rot=" << n_rot
       << " rope_base=" << rope_freq_base << " rms_eps=" << rms_eps << (tied_output ? " tied_output" : "");
    return os.str();
}

}  // namespace vk_symbiote
