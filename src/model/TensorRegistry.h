// TensorRegistry: the one list of every weight tensor a model has (name, shape, role,
// whether required). Loading, shape checks, byte accounting, pack planning and tests
// all iterate it instead of spelling tensor names themselves.
#pragma once

#include <string>
#include <vector>

#include "model/ModelConfig.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ModelSource;

enum class TensorRole : uint32 {
    TokenEmbd = 0,  // (n_vocab, n_embd)
    OutputNorm,     // (n_embd)
    Output,         // (n_vocab, n_embd); aliases TokenEmbd when tied
    AttnNorm,       // per layer (n_embd)
    Wq,             // per layer (q_dim, n_embd)
    Wk,             // per layer (kv_dim, n_embd)
    Wv,             // per layer (kv_dim, n_embd)
    Wo,             // per layer (n_embd, q_dim)
    FfnNorm,        // per layer (n_embd)
    Wgate,          // per layer (n_ff, n_embd)
    Wup,            // per layer (n_ff, n_embd)
    Wdown,          // per layer (n_embd, n_ff)
    // Family features (ModelConfig flags say which a model has):
    BiasQ,          // per layer (q_dim): has_qkv_bias
    BiasK,          // per layer (kv_dim)
    BiasV,          // per layer (kv_dim)
    AttnQNorm,      // per layer (head_dim): has_qk_norm, one norm for every Q head
    AttnKNorm,      // per layer (head_dim)
    PostAttnNorm,   // per layer (n_embd): has_post_norms
    PostFfnNorm,    // per layer (n_embd)
    // Mixture of experts (n_expert > 0) instead of Wgate / Wup / Wdown:
    Router,         // per layer (n_expert, n_embd), f32: ffn_gate_inp
    ExpGate,        // per layer and expert (n_ff_expert, n_embd): expert e of the 3-D ffn_gate_exps
    ExpUp,          // per layer and expert (n_ff_expert, n_embd)
    ExpDown,        // per layer and expert (n_embd, n_ff_expert)
    Count
};

// The role's GGUF name without the layer prefix, e.g. "attn_q.bias", "ffn_norm.weight".
const char* tensor_role_name(TensorRole r);
bool tensor_role_is_layer(TensorRole r);
// RMSNorm weight vectors (converters store them f32).
bool tensor_role_is_norm(TensorRole r);
// One-dimensional tensors: norms and biases (rows == 1).
bool tensor_role_is_vector(TensorRole r);
// One expert's matrix (ExpGate, ExpUp, ExpDown): TensorId::expert says which.
bool tensor_role_is_expert(TensorRole r);

// Identifies one tensor of the model: a role and, for per-layer roles, the layer; for an
// expert's matrix also the expert.
struct TensorId {
    TensorRole role = TensorRole::TokenEmbd;
    int32 layer = -1;
    int32 expert = -1;
    bool operator==(const TensorId&) const = default;
};

struct TensorDesc {
    TensorId id;
    std::string name;   // GGUF tensor name, e.g. "blk.3.attn_q.weight" (a fused one: "blk.3.attn_qkv.weight")
    uint64 rows = 0;    // output features (ggml dims[1]); 1 for vectors
    uint64 cols = 0;    // input features (ggml dims[0], contiguous)
    bool required = true;
    // A row range of a fused GGUF tensor (phi3's attn_qkv, ffn_up): rows [source_row,
    // source_row + rows) of the source_rows rows of `name`. file_offset and byte_size cover
    // the range only, so every reader sees an ordinary tensor and nothing is copied.
    // One expert e of a 3-D expert tensor [cols, rows, n_expert] is the same: the rows
    // [e * rows, (e + 1) * rows) of its n_expert * rows rows (file offset base + e * stride).
    uint64 source_row = 0;
    uint64 source_rows = 0;     // == rows unless a row range
    DType dtype = DType::F32;   // filled by bind()
    uint64 file_offset = 0;     // filled by bind()
    uint64 byte_size = 0;       // filled by bind()

    uint64 row_bytes() const { return cols * dtype_size(dtype); }
    bool is_row_range() const { return source_rows != rows; }
    // For messages: the name, plus "rows [a, b)" for a row range or "expert e" for an expert.
    std::string label() const;
};

class TensorRegistry {
public:
    // Every tensor the config implies, in per-token use order: embedding, then for each
    // layer attn_norm, q, k, v, [q / k / v biases], [q / k head norms], o, [post-attention
    // norm], ffn_norm, gate, up, down (with experts: the router, then gate, up, down of
    // expert 0, of expert 1, ...), [post-FFN norm], then output_norm, output.
    static std::vector<TensorDesc> expected_tensors(const ModelConfig& cfg);

    // Checks every expected tensor against the file (present if required, exact shape,
    // supported dtype) and fills dtype / offsets, then refuses a file with a tensor the
    // model as configured does not use (a feature the engine does not implement, e.g. the
    // experts of a mixture of experts): never run approximately. Errors name the file and tensor.
    static Expected<TensorRegistry> bind(const ModelConfig& cfg, const ModelSource& gguf);

    // The tensors of layers [first, first + count) of `full`, renumbered from 0, with the
    // embedding (embeds) and the output norm and matrix (head): one device's part of a model
    // split across devices (LayerRangeProvider).
    static TensorRegistry layer_range(const TensorRegistry& full, uint32 first, uint32 count, bool embeds, bool head);

    const std::vector<TensorDesc>& tensors() const { return tensors_; }
    const TensorDesc& get(TensorId id) const;
    const TensorDesc* find(TensorId id) const;
    uint64 total_bytes() const;        // distinct weight bytes (tied output counted once)
    // What one token's forward pass reads: total_bytes(), of each layer's experts only the
    // n_expert_used a token chooses (on average: that share of the experts' bytes).
    uint64 token_pass_bytes(const ModelConfig& cfg) const;
    uint64 layer_bytes(int32 layer) const;

private:
    std::vector<TensorDesc> tensors_;
};

// The GGUF name of a role's own tensor, e.g. "blk.3.attn_q.bias" (a fused tensor's row range
// has another name: TensorDesc::name; every expert of a layer shares its 3-D tensor's name).
std::string tensor_name(TensorId id);
// For messages: tensor_name, plus " expert e" for an expert's matrix.
std::string tensor_label(TensorId id);
// "blk.<layer>.<stem>.weight": GGUF names of tensors with no role of their own (fused ones).
std::string layer_tensor_name(int32 layer, const char* stem);

}  // namespace vk_symbiote
