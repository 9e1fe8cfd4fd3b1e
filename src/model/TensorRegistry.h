// TensorRegistry: the one list of every weight tensor a model has (name, shape, role,
// whether required). Loading, shape checks, byte accounting, pack planning and tests
// all iterate it instead of spelling tensor names themselves.
#pragma once

#include <string>
#include <vector>

#include "model/ModelConfig.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class GGUFLoader;

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
    Count
};

const char* tensor_role_name(TensorRole r);
bool tensor_role_is_layer(TensorRole r);
bool tensor_role_is_norm(TensorRole r);

// Identifies one tensor of the model: a role and, for per-layer roles, the layer.
struct TensorId {
    TensorRole role = TensorRole::TokenEmbd;
    int32 layer = -1;
    bool operator==(const TensorId&) const = default;
};

struct TensorDesc {
    TensorId id;
    std::string name;   // GGUF tensor name, e.g. "blk.3.attn_q.weight"
    uint64 rows = 0;    // output features (ggml dims[1]); 1 for vectors
    uint64 cols = 0;    // input features (ggml dims[0], contiguous)
    bool required = true;
    DType dtype = DType::F32;   // filled by bind()
    uint64 file_offset = 0;     // filled by bind()
    uint64 byte_size = 0;       // filled by bind()

    uint64 row_bytes() const { return cols * dtype_size(dtype); }
};

class TensorRegistry {
public:
    // Every tensor the config implies, in per-token use order: embedding, then for each
    // layer attn_norm, q, k, v, o, ffn_norm, gate, up, down, then output_norm, output.
    static std::vector<TensorDesc> expected_tensors(const ModelConfig& cfg);

    // Checks every expected tensor against the file (present if required, exact shape,
    // supported dtype) and fills dtype / offsets. Errors name the file and tensor.
    static Expected<TensorRegistry> bind(const ModelConfig& cfg, const GGUFLoader& gguf);

    const std::vector<TensorDesc>& tensors() const { return tensors_; }
    const TensorDesc& get(TensorId id) const;
    const TensorDesc* find(TensorId id) const;
    uint64 total_bytes() const;        // distinct weight bytes (tied output counted once)
    uint64 layer_bytes(int32 layer) const;

private:
    std::vector<TensorDesc> tensors_;
};

std::string tensor_name(TensorId id);

}  // namespace vk_symbiote
