#include "model/TensorRegistry.h"

#include "gguf/GGUFLoader.h"

namespace vk_symbiote {

const char* tensor_role_name(TensorRole r) {
    switch (r) {
        case TensorRole::TokenEmbd: return "token_embd";
        case TensorRole::OutputNorm: return "output_norm";
        case TensorRole::Output: return "output";
        case TensorRole::AttnNorm: return "attn_norm";
        case TensorRole::Wq: return "attn_q";
        case TensorRole::Wk: return "attn_k";
        case TensorRole::Wv: return "attn_v";
        case TensorRole::Wo: return "attn_output";
        case TensorRole::FfnNorm: return "ffn_norm";
        case TensorRole::Wgate: return "ffn_gate";
        case TensorRole::Wup: return "ffn_up";
        case TensorRole::Wdown: return "ffn_down";
        case TensorRole::Count: break;
    }
    return "?";
}

bool tensor_role_is_layer(TensorRole r) { return r >= TensorRole::AttnNorm && r < TensorRole::Count; }
bool tensor_role_is_norm(TensorRole r) { return r == TensorRole::AttnNorm || r == TensorRole::FfnNorm || r == TensorRole::OutputNorm; }

std::string tensor_name(TensorId id) {
    if (tensor_role_is_layer(id.role)) return "blk." + std::to_string(id.layer) + "." + tensor_role_name(id.role) + ".weight";
    return std::string(tensor_role_name(id.role)) + ".weight";
}

std::vector<TensorDesc> TensorRegistry::expected_tensors(const ModelConfig& c) {
    std::vector<TensorDesc> t;
    auto add = [&](TensorRole r, int32 layer, uint64 rows, uint64 cols, bool required = true) {
        TensorDesc d;
        d.id = {r, layer};
        d.name = tensor_name(d.id);
        d.rows = rows;
        d.cols = cols;
        d.required = required;
        t.push_back(d);
    };
    add(TensorRole::TokenEmbd, -1, c.n_vocab, c.n_embd);
    for (uint32 l = 0; l < c.n_layer; ++l) {
        int32 L = int32(l);
        add(TensorRole::AttnNorm, L, 1, c.n_embd);
        add(TensorRole::Wq, L, c.q_dim(), c.n_embd);
        add(TensorRole::Wk, L, c.kv_dim(), c.n_embd);
        add(TensorRole::Wv, L, c.kv_dim(), c.n_embd);
        add(TensorRole::Wo, L, c.n_embd, c.q_dim());
        add(TensorRole::FfnNorm, L, 1, c.n_embd);
        add(TensorRole::Wgate, L, c.n_ff, c.n_embd);
        add(TensorRole::Wup, L, c.n_ff, c.n_embd);
        add(TensorRole::Wdown, L, c.n_embd, c.n_ff);
    }
    add(TensorRole::OutputNorm, -1, 1, c.n_embd);
    add(TensorRole::Output, -1, c.n_vocab, c.n_embd, /*required=*/!c.tied_output);
    return t;
}

Expected<TensorRegistry> TensorRegistry::bind(const ModelConfig& cfg, const GGUFLoader& g) {
    TensorRegistry reg;
    reg.tensors_ = expected_tensors(cfg);
    const std::string f = g.path().string();
    for (auto& d : reg.tensors_) {
        const GGUFTensorInfo* ti = g.find_tensor(d.name);
        if (d.id.role == TensorRole::Output && cfg.tied_output) ti = g.find_tensor("token_embd.weight");
        if (!ti) return make_error(ErrorCode::NotFound, f + ": tensor '" + d.name + "': required tensor missing");
        if (ti->byte_size == 0)
            return make_error(ErrorCode::Unsupported, f + ": tensor '" + ti->name + "': type " + ggml_type_name(ti->ggml_type) + " is not supported (unquantized f32/f16/bf16 only)");
        bool vec = d.rows == 1;
        bool ok = vec ? (ti->dims.size() == 1 && ti->dims[0] == d.cols) : (ti->dims.size() == 2 && ti->dims[0] == d.cols && ti->dims[1] == d.rows);
        if (!ok) {
            std::string got;
            for (size_t k = 0; k < ti->dims.size(); ++k) got += (k ? ", " : "") + std::to_string(ti->dims[k]);
            return make_error(ErrorCode::Format, f + ": tensor '" + ti->name + "': shape [" + got + "] does not match the config, expected [" + std::to_string(d.cols) +
                                                     (vec ? "" : ", " + std::to_string(d.rows)) + "]");
        }
        d.dtype = ti->dtype;
        d.file_offset = ti->file_offset;
        d.byte_size = ti->byte_size;
    }
    return reg;
}

const TensorDesc* TensorRegistry::find(TensorId id) const {
    // Layout is fixed: [embd][9 per layer][output_norm][output].
    for (auto& d : tensors_)
        if (d.id == id) return &d;
    return nullptr;
}

const TensorDesc& TensorRegistry::get(TensorId id) const {
    const TensorDesc* d = find(id);
    VKS_CHECK(d != nullptr, "unknown tensor " + tensor_name(id));
    return *d;
}

uint64 TensorRegistry::total_bytes() const {
    uint64 s = 0;
    for (auto& d : tensors_) {
        if (d.id.role == TensorRole::Output) {
            const TensorDesc* e = find({TensorRole::TokenEmbd, -1});
            if (e && e->file_offset == d.file_offset) continue;  // tied
        }
        s += d.byte_size;
    }
    return s;
}

uint64 TensorRegistry::layer_bytes(int32 layer) const {
    uint64 s = 0;
    for (auto& d : tensors_)
        if (d.id.layer == layer) s += d.byte_size;
    return s;
}

}  // namespace vk_symbiote
