#include "model/TensorRegistry.h"

#include <unordered_set>

#include "gguf/ModelSource.h"

namespace vk_symbiote {

const char* tensor_role_name(TensorRole r) {
    switch (r) {
        case TensorRole::TokenEmbd: return "token_embd.weight";
        case TensorRole::OutputNorm: return "output_norm.weight";
        case TensorRole::Output: return "output.weight";
        case TensorRole::AttnNorm: return "attn_norm.weight";
        case TensorRole::Wq: return "attn_q.weight";
        case TensorRole::Wk: return "attn_k.weight";
        case TensorRole::Wv: return "attn_v.weight";
        case TensorRole::Wo: return "attn_output.weight";
        case TensorRole::FfnNorm: return "ffn_norm.weight";
        case TensorRole::Wgate: return "ffn_gate.weight";
        case TensorRole::Wup: return "ffn_up.weight";
        case TensorRole::Wdown: return "ffn_down.weight";
        case TensorRole::BiasQ: return "attn_q.bias";
        case TensorRole::BiasK: return "attn_k.bias";
        case TensorRole::BiasV: return "attn_v.bias";
        case TensorRole::AttnQNorm: return "attn_q_norm.weight";
        case TensorRole::AttnKNorm: return "attn_k_norm.weight";
        case TensorRole::PostAttnNorm: return "post_attention_norm.weight";
        case TensorRole::PostFfnNorm: return "post_ffw_norm.weight";
        case TensorRole::Router: return "ffn_gate_inp.weight";
        case TensorRole::ExpGate: return "ffn_gate_exps.weight";
        case TensorRole::ExpUp: return "ffn_up_exps.weight";
        case TensorRole::ExpDown: return "ffn_down_exps.weight";
        case TensorRole::Count: break;
    }
    return "?";
}

bool tensor_role_is_layer(TensorRole r) { return r >= TensorRole::AttnNorm && r < TensorRole::Count; }

bool tensor_role_is_norm(TensorRole r) {
    switch (r) {
        case TensorRole::AttnNorm:
        case TensorRole::FfnNorm:
        case TensorRole::OutputNorm:
        case TensorRole::AttnQNorm:
        case TensorRole::AttnKNorm:
        case TensorRole::PostAttnNorm:
        case TensorRole::PostFfnNorm: return true;
        default: return false;
    }
}

bool tensor_role_is_vector(TensorRole r) {
    return tensor_role_is_norm(r) || r == TensorRole::BiasQ || r == TensorRole::BiasK || r == TensorRole::BiasV;
}

bool tensor_role_is_expert(TensorRole r) { return r == TensorRole::ExpGate || r == TensorRole::ExpUp || r == TensorRole::ExpDown; }

std::string tensor_label(TensorId id) {
    return tensor_name(id) + (tensor_role_is_expert(id.role) ? " expert " + std::to_string(id.expert) : std::string());
}

std::string tensor_name(TensorId id) {
    if (tensor_role_is_layer(id.role)) return "blk." + std::to_string(id.layer) + "." + tensor_role_name(id.role);
    return tensor_role_name(id.role);
}

std::string layer_tensor_name(int32 layer, const char* stem) { return "blk." + std::to_string(layer) + "." + stem + ".weight"; }

std::string TensorDesc::label() const {
    if (tensor_role_is_expert(id.role)) return name + " expert " + std::to_string(id.expert);
    if (!is_row_range()) return name;
    return name + " rows [" + std::to_string(source_row) + ", " + std::to_string(source_row + rows) + ")";
}

namespace {

// Appends the tensors of one layer, in use order.
class LayerTensors {
public:
    LayerTensors(const ModelConfig& c, std::vector<TensorDesc>& out, int32 layer) : c_(c), out_(out), layer_(layer) {}

    void add(TensorRole r, uint64 rows, uint64 cols) { push(r, tensor_name({r, layer_}), rows, cols, 0, rows); }
    // Rows [first, first + rows) of the fused tensor blk.<layer>.<stem>.weight (total rows).
    void add_range(TensorRole r, const char* stem, uint64 first, uint64 rows, uint64 total) {
        push(r, layer_tensor_name(layer_, stem), rows, c_.n_embd, first, total);
    }

    void all() {
        const uint64 E = c_.n_embd, Q = c_.q_dim(), KV = c_.kv_dim();
        add(TensorRole::AttnNorm, 1, E);
        if (c_.fused_qkv) {
            add_range(TensorRole::Wq, "attn_qkv", 0, Q, Q + 2 * KV);
            add_range(TensorRole::Wk, "attn_qkv", Q, KV, Q + 2 * KV);
            add_range(TensorRole::Wv, "attn_qkv", Q + KV, KV, Q + 2 * KV);
        } else {
            add(TensorRole::Wq, Q, E);
            add(TensorRole::Wk, KV, E);
            add(TensorRole::Wv, KV, E);
        }
        if (c_.has_qkv_bias) {
            add(TensorRole::BiasQ, 1, Q);
            add(TensorRole::BiasK, 1, KV);
            add(TensorRole::BiasV, 1, KV);
        }
        if (c_.has_qk_norm) {
            add(TensorRole::AttnQNorm, 1, c_.head_dim);
            add(TensorRole::AttnKNorm, 1, c_.head_dim);
        }
        add(TensorRole::Wo, E, Q);
        if (c_.has_post_norms) add(TensorRole::PostAttnNorm, 1, E);
        add(TensorRole::FfnNorm, 1, E);
        if (c_.is_moe()) experts();
        else ffn();
        if (c_.has_post_norms) add(TensorRole::PostFfnNorm, 1, E);
    }

    // The dense FFN: gate and up (phi3: row ranges of one ffn_up), down.
    void ffn() {
        const uint64 E = c_.n_embd, F = c_.n_ff;
        if (c_.fused_gate_up) {
            add_range(TensorRole::Wgate, "ffn_up", 0, F, 2 * F);
            add_range(TensorRole::Wup, "ffn_up", F, F, 2 * F);
        } else {
            add(TensorRole::Wgate, F, E);
            add(TensorRole::Wup, F, E);
        }
        add(TensorRole::Wdown, E, F);
    }

    // The router, then each expert's gate, up and down: expert e's rows of the 3-D tensors.
    void experts() {
        const uint64 E = c_.n_embd, F = c_.n_ff_expert, X = c_.n_expert;
        add(TensorRole::Router, X, E);
        for (uint32 e = 0; e < X; ++e) {
            expert_ = int32(e);
            push(TensorRole::ExpGate, tensor_name({TensorRole::ExpGate, layer_}), F, E, e * F, X * F);
            push(TensorRole::ExpUp, tensor_name({TensorRole::ExpUp, layer_}), F, E, e * F, X * F);
            push(TensorRole::ExpDown, tensor_name({TensorRole::ExpDown, layer_}), E, F, e * E, X * E);
        }
        expert_ = -1;
    }

private:
    void push(TensorRole r, std::string name, uint64 rows, uint64 cols, uint64 first, uint64 total) {
        TensorDesc d;
        d.id = {r, layer_, expert_};
        d.name = std::move(name);
        d.rows = rows;
        d.cols = cols;
        d.source_row = first;
        d.source_rows = total;
        out_.push_back(std::move(d));
    }

    const ModelConfig& c_;
    std::vector<TensorDesc>& out_;
    int32 layer_;
    int32 expert_ = -1;
};

std::string dims_text(const std::vector<uint64>& dims) {
    std::string s;
    for (size_t k = 0; k < dims.size(); ++k) s += (k ? ", " : "") + std::to_string(dims[k]);
    return s;
}

// The file's tensors that no descriptor reads (and that the config did not consume).
std::vector<std::string> unused_tensors(const ModelConfig& cfg, const ModelSource& g, const std::vector<TensorDesc>& ts) {
    std::unordered_set<std::string> used;
    for (const TensorDesc& d : ts) used.insert(d.name);
    used.insert(tensor_name({TensorRole::TokenEmbd, -1}));
    if (!cfg.rope_freq_factors.empty()) used.insert(kRopeFreqsTensor);
    std::vector<std::string> out;
    for (const GGUFTensorInfo& t : g.tensors())
        if (!used.count(t.name)) out.push_back(t.name);
    return out;
}

// The GGUF dims (ggml order) of the file tensor a descriptor reads: [cols] for a vector,
// [cols, rows, n_expert] for an expert's 3-D tensor, else [cols, rows of the whole tensor].
std::vector<uint64> expected_dims(const TensorDesc& d, const ModelConfig& cfg) {
    if (tensor_role_is_expert(d.id.role)) return {d.cols, d.rows, cfg.n_expert};
    if (tensor_role_is_vector(d.id.role)) return {d.cols};
    return {d.cols, d.source_rows};
}

// An expert the source keeps as a tensor of its own (ModelSource::find_expert): dims
// [cols, rows], its whole byte range.
ExpectedVoid bind_own_expert(TensorDesc& d, const GGUFTensorInfo& t, const std::string& f) {
    const std::vector<uint64> want{d.cols, d.rows};
    if (t.dims != want)
        return make_error(ErrorCode::Format, f + ": tensor '" + d.label() + "': shape [" + dims_text(t.dims) + "] does not match the config, expected [" +
                                                 dims_text(want) + "]");
    d.dtype = t.dtype;
    d.file_offset = t.file_offset;
    d.byte_size = d.rows * d.row_bytes();
    return {};
}

// Checks one descriptor against the file's tensor and fills its dtype and byte range.
ExpectedVoid bind_one(TensorDesc& d, const ModelConfig& cfg, const ModelSource& g, const std::string& unused_hint) {
    const std::string f = g.path().string();
    if (tensor_role_is_expert(d.id.role))
        if (const GGUFTensorInfo* own = g.find_expert(d.name, uint32(d.id.expert))) return bind_own_expert(d, *own, f);
    const GGUFTensorInfo* ti = g.find_tensor(d.name);
    if (d.id.role == TensorRole::Output && cfg.tied_output) ti = g.find_tensor(tensor_name({TensorRole::TokenEmbd, -1}));
    if (!ti) return make_error(ErrorCode::NotFound, f + ": tensor '" + d.name + "': required tensor missing" + unused_hint);
    if (ti->byte_size == 0)
        return make_error(ErrorCode::Unsupported, f + ": tensor '" + ti->name + "': type " + ggml_type_name(ti->ggml_type) + " is not supported (unquantized f32/f16/bf16 only)");
    const std::vector<uint64> want = expected_dims(d, cfg);
    if (ti->dims != want)
        return make_error(ErrorCode::Format, f + ": tensor '" + ti->name + "': shape [" + dims_text(ti->dims) + "] does not match the config, expected [" +
                                                 dims_text(want) + "]");
    d.dtype = ti->dtype;
    d.file_offset = ti->file_offset + d.source_row * d.row_bytes();
    d.byte_size = d.rows * d.row_bytes();
    return {};
}

}  // namespace

std::vector<TensorDesc> TensorRegistry::expected_tensors(const ModelConfig& c) {
    std::vector<TensorDesc> t;
    LayerTensors(c, t, -1).add(TensorRole::TokenEmbd, c.n_vocab, c.n_embd);
    for (uint32 l = 0; l < c.n_layer; ++l) LayerTensors(c, t, int32(l)).all();
    LayerTensors(c, t, -1).add(TensorRole::OutputNorm, 1, c.n_embd);
    LayerTensors(c, t, -1).add(TensorRole::Output, c.n_vocab, c.n_embd);
    t.back().required = !c.tied_output;
    return t;
}

Expected<TensorRegistry> TensorRegistry::bind(const ModelConfig& cfg, const ModelSource& g) {
    TensorRegistry reg;
    reg.tensors_ = expected_tensors(cfg);
    const std::vector<std::string> unused = unused_tensors(cfg, g, reg.tensors_);
    const std::string hint = unused.empty() ? "" : " (the file has tensors this " + cfg.architecture + " model does not use, e.g. '" + unused[0] + "')";
    for (auto& d : reg.tensors_) VKS_TRY(bind_one(d, cfg, g, hint));
    if (!unused.empty())
        return make_error(ErrorCode::Unsupported, g.path().string() + ": tensor '" + unused[0] + "': not part of a " + cfg.architecture +
                                                      " model as this engine implements it (" + std::to_string(unused.size()) +
                                                      " such tensors): refused rather than computed without it");
    return reg;
}

TensorRegistry TensorRegistry::layer_range(const TensorRegistry& full, uint32 first, uint32 count, bool embeds, bool head) {
    TensorRegistry reg;
    for (TensorDesc d : full.tensors_) {
        const int32 l = d.id.layer;
        const bool keep = l >= 0 ? uint32(l) >= first && uint32(l) < first + count
                                 : (d.id.role == TensorRole::TokenEmbd ? embeds : head);
        if (!keep) continue;
        if (l >= 0) d.id.layer = l - int32(first);
        reg.tensors_.push_back(std::move(d));
    }
    return reg;
}

const TensorDesc* TensorRegistry::find(TensorId id) const {
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

uint64 TensorRegistry::token_pass_bytes(const ModelConfig& cfg) const {
    uint64 experts = 0;
    for (const TensorDesc& d : tensors_) experts += tensor_role_is_expert(d.id.role) ? d.byte_size : 0;
    if (experts == 0 || cfg.n_expert == 0) return total_bytes();
    return total_bytes() - experts + experts / cfg.n_expert * cfg.n_expert_used;
}

uint64 TensorRegistry::layer_bytes(int32 layer) const {
    uint64 s = 0;
    for (auto& d : tensors_)
        if (d.id.layer == layer) s += d.byte_size;
    return s;
}

}  // namespace vk_symbiote
