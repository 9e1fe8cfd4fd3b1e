// HfTensorNames: transformers' tensor names of each supported class mapped to the engine's
// GGUF-style names (the names llama.cpp's converter writes), as one table of rules:
//   model.embed_tokens.weight                          -> token_embd.weight
//   model.layers.N.self_attn.q_proj.weight             -> blk.N.attn_q.weight   (k, v, o; biases alike)
//   model.layers.N.self_attn.qkv_proj.weight           -> blk.N.attn_qkv.weight (Phi-3, rows q, k, v)
//   model.layers.N.mlp.gate_up_proj.weight             -> blk.N.ffn_up.weight   (Phi-3, rows gate, up)
//   model.layers.N.post_attention_layernorm.weight     -> blk.N.ffn_norm.weight, or for Gemma 2 / 3
//                                                         blk.N.post_attention_norm.weight (and
//                                                         pre_feedforward -> ffn_norm, post_feedforward
//                                                         -> post_ffw_norm)
//   model.layers.N.block_sparse_moe.experts.E.w1.weight -> expert E of blk.N.ffn_gate_exps.weight
//                                                         (w2: ffn_down_exps, w3: ffn_up_exps; Qwen3-MoE's
//                                                         mlp.experts.E.gate_proj / up_proj / down_proj alike)
//   model.layers.N.block_sparse_moe.gate.weight         -> blk.N.ffn_gate_inp.weight (the router)
//   lm_head.weight                                     -> output.weight (absent when tied)
// The converter stacks experts into one 3-D tensor per layer; here each expert stays its own
// tensor and names its slot of the stacked one. Names only: layout differences are HfLayout's.
#pragma once

#include <optional>
#include <string>

#include "hf/HfArchitecture.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct HfTensorTarget {
    std::string name;   // GGUF-style name; for an expert, the stacked tensor it is a slice of
    int32 layer = -1;   // -1 outside the layers
    int32 expert = -1;  // -1 unless an expert's matrix

    bool operator==(const HfTensorTarget&) const = default;
};

// The engine name of a transformers tensor of class `arch`. nullopt for tensors the engine
// does not use (rotary inv_freq buffers some checkpoints carry); Unsupported, naming the
// tensor and the class, for a name the class's table does not know.
Expected<std::optional<HfTensorTarget>> hf_tensor_target(const HfArchInfo& arch, const std::string& hf_name);

// The reverse: transformers' name of an engine tensor (writers of Hugging Face folders).
// NotFound when the class has no such tensor.
Expected<std::string> hf_tensor_name(const HfArchInfo& arch, const HfTensorTarget& target);

}  // namespace vk_symbiote
