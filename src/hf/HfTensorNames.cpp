#include "hf/HfTensorNames.h"

#include <string>

namespace vk_symbiote {

namespace {

constexpr uint64 kMaxIndex = 1 << 20;  // layer and expert numbers (the config bounds them later)

bool any(const HfArchInfo&) { return true; }
bool phi3(const HfArchInfo& a) { return a.arch == HfArch::Phi3; }
bool not_phi3(const HfArchInfo& a) { return a.arch != HfArch::Phi3; }
bool sandwich(const HfArchInfo& a) { return a.sandwich_norms; }
bool not_sandwich(const HfArchInfo& a) { return !a.sandwich_norms; }
bool qk_norm(const HfArchInfo& a) { return a.arch == HfArch::Qwen3 || a.arch == HfArch::Qwen3Moe || a.arch == HfArch::Gemma3; }
bool mixtral(const HfArchInfo& a) { return a.arch == HfArch::Mixtral; }
bool qwen_moe(const HfArchInfo& a) { return a.arch == HfArch::Qwen3Moe; }

// One name rule. In `hf`, {L} stands for the layer number and {E} for the expert number;
// `gguf` is the engine name with {L} likewise (experts name the stacked tensor).
struct Rule {
    const char* hf;
    const char* gguf;
    bool (*applies)(const HfArchInfo&);
};

// clang-format off
const Rule kRules[] = {
    {"model.embed_tokens.weight",                       "token_embd.weight",               any},
    {"model.norm.weight",                               "output_norm.weight",              any},
    {"lm_head.weight",                                  "output.weight",                   any},
    {"model.layers.{L}.input_layernorm.weight",         "blk.{L}.attn_norm.weight",        any},
    {"model.layers.{L}.self_attn.q_proj.weight",        "blk.{L}.attn_q.weight",           not_phi3},
    {"model.layers.{L}.self_attn.q_proj.bias",          "blk.{L}.attn_q.bias",             not_phi3},
    {"model.layers.{L}.self_attn.k_proj.weight",        "blk.{L}.attn_k.weight",           not_phi3},
    {"model.layers.{L}.self_attn.k_proj.bias",          "blk.{L}.attn_k.bias",             not_phi3},
    {"model.layers.{L}.self_attn.v_proj.weight",        "blk.{L}.attn_v.weight",           not_phi3},
    {"model.layers.{L}.self_attn.v_proj.bias",          "blk.{L}.attn_v.bias",             not_phi3},
    {"model.layers.{L}.self_attn.qkv_proj.weight",      "blk.{L}.attn_qkv.weight",         phi3},
    {"model.layers.{L}.self_attn.qkv_proj.bias",        "blk.{L}.attn_qkv.bias",           phi3},
    {"model.layers.{L}.self_attn.o_proj.weight",        "blk.{L}.attn_output.weight",      any},
    {"model.layers.{L}.self_attn.o_proj.bias",          "blk.{L}.attn_output.bias",        any},
    {"model.layers.{L}.self_attn.q_norm.weight",        "blk.{L}.attn_q_norm.weight",      qk_norm},
    {"model.layers.{L}.self_attn.k_norm.weight",        "blk.{L}.attn_k_norm.weight",      qk_norm},
    {"model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.ffn_norm.weight",        not_sandwich},
    {"model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.post_attention_norm.weight", sandwich},
    {"model.layers.{L}.pre_feedforward_layernorm.weight", "blk.{L}.ffn_norm.weight",       sandwich},
    {"model.layers.{L}.post_feedforward_layernorm.weight", "blk.{L}.post_ffw_norm.weight", sandwich},
    {"model.layers.{L}.mlp.gate_proj.weight",           "blk.{L}.ffn_gate.weight",         not_phi3},
    {"model.layers.{L}.mlp.up_proj.weight",             "blk.{L}.ffn_up.weight",           not_phi3},
    {"model.layers.{L}.mlp.gate_up_proj.weight",        "blk.{L}.ffn_up.weight",           phi3},
    {"model.layers.{L}.mlp.down_proj.weight",           "blk.{L}.ffn_down.weight",         any},
    {"model.layers.{L}.block_sparse_moe.gate.weight",   "blk.{L}.ffn_gate_inp.weight",     mixtral},
    {"model.layers.{L}.block_sparse_moe.experts.{E}.w1.weight", "blk.{L}.ffn_gate_exps.weight", mixtral},
    {"model.layers.{L}.block_sparse_moe.experts.{E}.w2.weight", "blk.{L}.ffn_down_exps.weight", mixtral},
    {"model.layers.{L}.block_sparse_moe.experts.{E}.w3.weight", "blk.{L}.ffn_up_exps.weight",   mixtral},
    {"model.layers.{L}.mlp.gate.weight",                "blk.{L}.ffn_gate_inp.weight",     qwen_moe},
    {"model.layers.{L}.mlp.experts.{E}.gate_proj.weight", "blk.{L}.ffn_gate_exps.weight",  qwen_moe},
    {"model.layers.{L}.mlp.experts.{E}.up_proj.weight", "blk.{L}.ffn_up_exps.weight",      qwen_moe},
    {"model.layers.{L}.mlp.experts.{E}.down_proj.weight", "blk.{L}.ffn_down_exps.weight",  qwen_moe},
};
// clang-format on

// Reads a decimal number without sign or leading zeros (as transformers writes indices).
bool read_index(const std::string& s, size_t& pos, int32& out) {
    size_t end = pos;
    while (end < s.size() && end - pos < 8 && s[end] >= '0' && s[end] <= '9') ++end;
    if (end == pos || (s[pos] == '0' && end - pos > 1)) return false;
    const uint64 v = std::stoull(s.substr(pos, end - pos));
    if (v >= kMaxIndex) return false;
    out = int32(v);
    pos = end;
    return true;
}

// Does `name` fit `pattern`? Fills the {L} and {E} numbers it holds.
bool match(const char* pattern, const std::string& name, int32& layer, int32& expert) {
    size_t pos = 0;
    for (const char* p = pattern; *p; ++p) {
        if (p[0] == '{' && (p[1] == 'L' || p[1] == 'E') && p[2] == '}') {
            if (!read_index(name, pos, p[1] == 'L' ? layer : expert)) return false;
            p += 2;
        } else if (pos >= name.size() || name[pos++] != *p) {
            return false;
        }
    }
    return pos == name.size();
}

// `pattern` with {L} and {E} replaced by the numbers.
std::string fill(const char* pattern, int32 layer, int32 expert) {
    std::string out;
    for (const char* p = pattern; *p; ++p) {
        if (p[0] == '{' && (p[1] == 'L' || p[1] == 'E') && p[2] == '}') {
            out += std::to_string(p[1] == 'L' ? layer : expert);
            p += 2;
        } else {
            out += *p;
        }
    }
    return out;
}

bool has_expert(const char* pattern) { return std::string(pattern).find("{E}") != std::string::npos; }

bool ends_with(const std::string& s, const std::string& tail) { return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0; }

}  // namespace

Expected<std::optional<HfTensorTarget>> hf_tensor_target(const HfArchInfo& arch, const std::string& hf_name) {
    if (ends_with(hf_name, "rotary_emb.inv_freq")) return std::optional<HfTensorTarget>();
    for (const Rule& r : kRules) {
        int32 layer = -1, expert = -1;
        if (!r.applies(arch) || !match(r.hf, hf_name, layer, expert)) continue;
        return std::optional<HfTensorTarget>(HfTensorTarget{fill(r.gguf, layer, expert), layer, expert});
    }
    return make_error(ErrorCode::Unsupported, "tensor '" + hf_name.substr(0, 256) + "' is not a tensor of " + arch.class_name + " the engine knows");
}

Expected<std::string> hf_tensor_name(const HfArchInfo& arch, const HfTensorTarget& target) {
    for (const Rule& r : kRules) {
        if (!r.applies(arch) || has_expert(r.hf) != (target.expert >= 0)) continue;
        if (fill(r.gguf, target.layer, target.expert) == target.name) return fill(r.hf, target.layer, target.expert);
    }
    return make_error(ErrorCode::NotFound, std::string(arch.class_name) + " has no tensor for '" + target.name + "'" +
                                               (target.expert >= 0 ? " expert " + std::to_string(target.expert) : std::string()));
}

}  // namespace vk_symbiote
