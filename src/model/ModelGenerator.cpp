#include "model/ModelGenerator.h"

#include "common/HalfFloat.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "hf/HfLayout.h"
#include "model/CopyCycle.h"
#include "model/RouterSkew.h"
#include "model/TensorRegistry.h"
#include "model/families/FamilyRegistry.h"

namespace vk_symbiote {

namespace {

ModelShape llama_shape(const char* name, uint32 vocab, uint32 embd, uint32 layers, uint32 heads, uint32 kv, uint32 ff, uint32 ctx, float rope) {
    ModelShape s;
    s.name = name;
    s.n_vocab = vocab;
    s.n_embd = embd;
    s.n_layer = layers;
    s.n_head = heads;
    s.n_head_kv = kv;
    s.n_ff = ff;
    s.n_ctx = ctx;
    s.rope_base = rope;
    return s;
}

// The mixtures of experts, as their published configs give them.
ModelShape moe_shape(const char* name) {
    if (std::string(name) == "mixtral-8x7b") {
        ModelShape m = llama_shape(name, 32000, 4096, 32, 32, 8, 14336, 32768, 1e6f);
        m.n_expert = 8, m.n_expert_used = 2, m.n_ff_expert = 14336;
        return m;
    }
    ModelShape q = llama_shape(name, 151936, 2048, 48, 32, 4, 6144, 40960, 1e6f);  // qwen3-30b-a3b
    q.architecture = "qwen3moe";
    q.head_dim = 128;
    q.rms_eps = 1e-6f;
    q.chat = ChatFormat::ChatML;
    q.n_expert = 128, q.n_expert_used = 8, q.n_ff_expert = 768;
    return q;
}

// The families' shapes, as their published configs give them.
std::vector<ModelShape> family_presets() {
    ModelShape l31 = llama_shape("llama3.1-8b", 128256, 4096, 32, 32, 8, 14336, 131072, 500000.0f);
    l31.rope_freqs = true;
    l31.chat = ChatFormat::Llama3;
    ModelShape q25 = llama_shape("qwen2.5-7b", 152064, 3584, 28, 28, 4, 18944, 32768, 1e6f);
    q25.architecture = "qwen2";
    q25.rms_eps = 1e-6f;
    q25.chat = ChatFormat::ChatML;
    ModelShape q3 = llama_shape("qwen3-8b", 151936, 4096, 36, 32, 8, 12288, 40960, 1e6f);
    q3.architecture = "qwen3";
    q3.head_dim = 128;
    q3.rms_eps = 1e-6f;
    q3.chat = ChatFormat::ChatML;
    ModelShape g2 = llama_shape("gemma2-9b", 256000, 3584, 42, 16, 8, 14336, 8192, 10000.0f);
    g2.architecture = "gemma2";
    g2.head_dim = 256;
    g2.tied_output = true;
    g2.sliding_window = 4096;
    g2.rms_eps = 1e-6f;
    g2.chat = ChatFormat::Gemma;
    ModelShape g3 = llama_shape("gemma3-12b", 262208, 3840, 48, 16, 8, 15360, 131072, 1e6f);
    g3.architecture = "gemma3";
    g3.head_dim = 256;
    g3.tied_output = true;
    g3.sliding_window = 1024;
    g3.rope_base_swa = 10000.0f;
    g3.rope_scale = 8.0f;
    g3.rms_eps = 1e-6f;
    g3.chat = ChatFormat::Gemma;
    ModelShape p3 = llama_shape("phi3-mini", 32064, 3072, 32, 32, 32, 8192, 4096, 10000.0f);
    p3.architecture = "phi3";
    p3.chat = ChatFormat::Phi3;
    return {l31, q25, q3, g2, g3, p3, moe_shape("mixtral-8x7b"), moe_shape("qwen3-30b-a3b")};
}

const std::vector<ModelShape>& presets() {
    static const std::vector<ModelShape> all = [] {
        std::vector<ModelShape> p = {
            llama_shape("llama2-7b", 32000, 4096, 32, 32, 32, 11008, 4096, 10000.0f),
            llama_shape("llama2-13b", 32000, 5120, 40, 40, 40, 13824, 4096, 10000.0f),
            llama_shape("llama2-70b", 32000, 8192, 80, 64, 8, 28672, 4096, 10000.0f),
            llama_shape("llama3-8b", 128256, 4096, 32, 32, 8, 14336, 8192, 500000.0f),
            llama_shape("mistral-7b", 32000, 4096, 32, 32, 8, 14336, 32768, 10000.0f),
            llama_shape("tinyllama-1.1b", 32000, 2048, 22, 32, 4, 5632, 2048, 10000.0f),
        };
        for (ModelShape& f : family_presets()) p.push_back(std::move(f));
        // Test shapes: small enough to generate in milliseconds.
        for (ModelShape t : {llama_shape("tiny", 384, 64, 2, 4, 2, 160, 256, 10000.0f), llama_shape("tiny-mha", 300, 48, 1, 3, 3, 96, 128, 10000.0f),
                             llama_shape("tiny-mqa", 320, 64, 2, 4, 1, 128, 256, 10000.0f), llama_shape("small", 2048, 256, 4, 8, 2, 704, 1024, 10000.0f)})
            p.push_back(std::move(t));
        ModelShape tiny_moe = llama_shape("tiny-moe", 384, 64, 2, 4, 2, 96, 256, 10000.0f);
        tiny_moe.n_expert = 8, tiny_moe.n_expert_used = 2, tiny_moe.n_ff_expert = 96;
        p.push_back(std::move(tiny_moe));
        return p;
    }();
    return all;
}

// llama.cpp's general.file_type values (LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_BF16).
uint32 file_type_of(DType d) { return d == DType::F32 ? 0 : d == DType::F16 ? 1 : 32; }

// ---- deterministic, counter-based random numbers --------------------------------------

inline uint64 splitmix64(uint64 z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

constexpr float kWeightStd = 0.02f;

// Approximately N(0, kWeightStd): the sum of four 16-bit uniforms (Irwin-Hall, n = 4), centred
// and scaled. A pure function of (key, element index).
inline float weight_value(uint64 key, uint64 e) {
    uint64 h = splitmix64(key + e * 0x9e3779b97f4a7c15ull);
    uint64 s = (h & 0xffff) + ((h >> 16) & 0xffff) + ((h >> 32) & 0xffff) + (h >> 48);
    constexpr float kScale = kWeightStd / 37837.2f;  // std of the sum: 4 * 65536^2 / 12, sqrt
    return (float(int64(s) - 131070)) * kScale;
}

// Writes elements [e0, e1) of one tensor to dst (packed, dtype-sized), each times `scale`.
void generate_elements(uint64 key, DType dt, bool norm, float scale, uint64 e0, uint64 e1, uint8* dst) {
    for (uint64 e = e0; e < e1; ++e) {
        float v = (weight_value(key, e) + (norm ? 1.0f : 0.0f)) * scale;
        uint64 k = e - e0;
        if (dt == DType::F32) {
            std::memcpy(dst + 4 * k, &v, 4);
        } else {
            uint16 h = dt == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
            std::memcpy(dst + 2 * k, &h, 2);
        }
    }
}

// Same, split over the cores: output does not depend on the split.
void generate_parallel(uint64 key, DType dt, bool norm, float scale, uint64 e0, uint64 e1, uint8* dst) {
    const uint64 n = e1 - e0;
    const uint64 hw = std::max(1u, std::thread::hardware_concurrency());
    const uint64 n_threads = std::min<uint64>(hw, std::max<uint64>(1, n / 65536));
    if (n_threads <= 1) return generate_elements(key, dt, norm, scale, e0, e1, dst);
    std::vector<std::thread> threads;
    const uint64 per = (n + n_threads - 1) / n_threads;
    for (uint64 t = 0; t < n_threads; ++t) {
        uint64 a = e0 + t * per, b = std::min(e1, a + per);
        if (a >= b) break;
        threads.emplace_back(generate_elements, key, dt, norm, scale, a, b, dst + (a - e0) * dtype_size(dt));
    }
    for (auto& th : threads) th.join();
}

// The fill callback for one tensor. Handles ranges that split an element (not produced by
// GGUFWriter for aligned layouts, but cheap to get right).
TensorFillFn make_fill(uint64 key, DType dt, bool norm, float scale) {
    return [key, dt, norm, scale](uint64 off, uint8* dst, uint64 n) -> ExpectedVoid {
        const uint64 es = dtype_size(dt);
        if (off % es == 0 && n % es == 0) {
            generate_parallel(key, dt, norm, scale, off / es, (off + n) / es, dst);
            return {};
        }
        uint64 e0 = off / es, e1 = (off + n + es - 1) / es;
        std::vector<uint8> tmp((e1 - e0) * es);
        generate_parallel(key, dt, norm, scale, e0, e1, tmp.data());
        std::memcpy(dst, tmp.data() + (off - e0 * es), n);
        return {};
    };
}

// A pair-merge-reachable word list: bijective base-26 "a".."z","aa",...
std::string word_for(uint64 i) {
    std::string w;
    ++i;
    while (i > 0) {
        --i;
        w.insert(w.begin(), char('a' + i % 26));
        i /= 26;
    }
    return w;
}

// A short template in the format's own markers (what detect_chat_format() recognises).
std::string chat_template_text(ChatFormat f) {
    switch (f) {
        case ChatFormat::ChatML: return "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n";
        case ChatFormat::Llama3:
            return "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n";
        case ChatFormat::Gemma: return "{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}<start_of_turn>model\n";
        case ChatFormat::Phi3: return "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}<|assistant|>\n";
        default: return "";
    }
}

void add_tokenizer(GGUFWriter& w, uint32 n_vocab, ChatFormat chat) {
    std::vector<std::string> toks = generated_vocab(n_vocab);
    std::vector<double> scores(n_vocab);
    std::vector<int64> types(n_vocab);
    for (uint32 k = 0; k < n_vocab; ++k) {
        types[k] = generated_token_type(k);
        scores[k] = generated_token_score(k);
    }
    // The chat tokens take the last ids, control tokens; the last of them ends a turn.
    const std::vector<std::string> special = chat_special_tokens(chat);
    for (size_t i = 0; i < special.size(); ++i) {
        const uint32 id = n_vocab - uint32(special.size()) + uint32(i);
        toks[id] = special[i];
        types[id] = 3;
        scores[id] = 0.0;
    }
    w.add("tokenizer.ggml.model", gguf_string("llama"));
    w.add("tokenizer.ggml.tokens", gguf_string_array(std::move(toks)));
    w.add("tokenizer.ggml.scores", gguf_float_array(GGUFType::F32, std::move(scores)));
    w.add("tokenizer.ggml.token_type", gguf_int_array(GGUFType::I32, std::move(types)));
    w.add("tokenizer.ggml.unknown_token_id", gguf_u32(0));
    w.add("tokenizer.ggml.bos_token_id", gguf_u32(1));
    w.add("tokenizer.ggml.eos_token_id", gguf_u32(2));
    if (!special.empty()) {
        w.add("tokenizer.ggml.eot_token_id", gguf_u32(n_vocab - 1));
        w.add("tokenizer.chat_template", gguf_string(chat_template_text(chat)));
    }
    w.add("tokenizer.ggml.add_bos_token", gguf_bool(true));
    w.add("tokenizer.ggml.add_eos_token", gguf_bool(false));
}

// Every key ModelConfig reads for this shape's family, as its converter writes them.
void add_model_keys(GGUFWriter& w, const ModelShape& s, const ModelConfig& c) {
    const std::string a = s.architecture + ".";
    w.add(a + "context_length", gguf_u32(s.n_ctx));
    w.add(a + "embedding_length", gguf_u32(s.n_embd));
    w.add(a + "block_count", gguf_u32(s.n_layer));
    w.add(a + "feed_forward_length", gguf_u32(s.n_ff));
    w.add(a + "rope.dimension_count", gguf_u32(c.n_rot));
    w.add(a + "rope.freq_base", gguf_f32(s.rope_base));
    w.add(a + "attention.head_count", gguf_u32(s.n_head));
    w.add(a + "attention.head_count_kv", gguf_u32(s.n_head_kv));
    w.add(a + "attention.layer_norm_rms_epsilon", gguf_f32(s.rms_eps));
    w.add(a + "vocab_size", gguf_u32(s.n_vocab));
    if (s.head_dim != 0) {
        w.add(a + "attention.key_length", gguf_u32(c.head_dim));
        w.add(a + "attention.value_length", gguf_u32(c.head_dim));
    }
    if (s.rope_scale > 0.0f) {
        w.add(a + "rope.scaling.type", gguf_string("linear"));
        w.add(a + "rope.scaling.factor", gguf_f32(s.rope_scale));
    }
    if (c.sliding_window > 0) w.add(a + "attention.sliding_window", gguf_u32(c.sliding_window));
    if (s.rope_base_swa > 0.0f) w.add(a + "rope.freq_base_swa", gguf_f32(s.rope_base_swa));
    if (c.attn_softcap > 0.0f) w.add(a + "attn_logit_softcapping", gguf_f32(c.attn_softcap));
    if (c.final_softcap > 0.0f) w.add(a + "final_logit_softcapping", gguf_f32(c.final_softcap));
    if (c.is_moe()) {
        w.add(a + "expert_count", gguf_u32(c.n_expert));
        w.add(a + "expert_used_count", gguf_u32(c.n_expert_used));
        if (find_family(s.architecture)->expert_width_key) w.add(a + "expert_feed_forward_length", gguf_u32(c.n_ff_expert));
    }
}

// Llama 3.1's rope frequency divisors (config.json's rope_scaling: factor 8, low / high
// frequency factors 1 / 4, original context 8192): 1 for short wavelengths, 8 for long ones, a
// smooth blend between, computed as llama.cpp's converter does (hf/HfLayout).
const HfRopeScaling kLlama31RopeScaling{HfRopeScaling::Type::Llama3, 8.0, 1.0, 4.0, 8192};

// The tensors: rope_freqs first (Llama 3.1), then the registry's list; a fused tensor's row
// ranges are one GGUF tensor, written once with all its rows (a layer's experts: one 3-D
// tensor per matrix). Vectors (norms, biases) and routers are f32.
void add_tensors(GGUFWriter& w, const ModelShape& s, const ModelConfig& c, DType dtype, uint64 seed) {
    if (!c.rope_freq_factors.empty()) {
        std::vector<float> f = c.rope_freq_factors;
        w.add_tensor(kRopeFreqsTensor, {f.size()}, DType::F32, [f](uint64 off, uint8* dst, uint64 n) -> ExpectedVoid {
            std::memcpy(dst, reinterpret_cast<const uint8*>(f.data()) + off, n);
            return {};
        });
    }
    for (const GeneratedTensor& t : generated_tensors(s, dtype, seed)) {
        std::vector<uint64> dims = t.desc.rows == 1 ? std::vector<uint64>{t.desc.cols} : std::vector<uint64>{t.desc.cols, t.desc.rows};
        if (tensor_role_is_expert(t.desc.id.role)) dims = {t.desc.cols, t.desc.rows / c.n_expert, c.n_expert};  // 3-D, the expert outermost
        w.add_tensor(t.desc.name, std::move(dims), t.dtype, generated_fill(t, t.dtype));
    }
}

// Everything but the data: metadata, tokenizer and the tensor table with fill callbacks.
GGUFWriter build_writer(const ModelShape& s, DType dtype, uint64 seed) {
    const ModelConfig c = model_config_for_shape(s);
    GGUFWriter w(3);
    w.add("general.architecture", gguf_string(s.architecture));
    w.add("general.name", gguf_string(s.name));
    w.add("general.file_type", gguf_u32(file_type_of(dtype)));
    w.set_alignment(32);
    add_model_keys(w, s, c);
    add_tokenizer(w, s.n_vocab, s.chat);
    add_tensors(w, s, c, dtype, seed);
    if (s.copy_cycle > 0) {
        const std::vector<uint32> cycle = copy_cycle_tokens(s, seed);
        w.add(kCopyCycleKey, gguf_int_array(GGUFType::U32, std::vector<int64>(cycle.begin(), cycle.end())));
    }
    return w;
}

}  // namespace

std::vector<std::string> chat_special_tokens(ChatFormat f) {
    switch (f) {
        case ChatFormat::ChatML: return {"<|im_start|>", "<|im_end|>"};
        case ChatFormat::Llama3: return {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
        case ChatFormat::Gemma: return {"<start_of_turn>", "<end_of_turn>"};
        case ChatFormat::Phi3: return {"<|system|>", "<|user|>", "<|assistant|>", "<|end|>"};
        default: return {};
    }
}

std::vector<std::string> model_shape_preset_names() {
    std::vector<std::string> n;
    for (auto& p : presets()) n.push_back(p.name);
    return n;
}

Expected<ModelShape> model_shape_preset(const std::string& name) {
    for (auto& p : presets())
        if (p.name == name) return p;
    std::string known;
    for (auto& p : presets()) known += (known.empty() ? "" : ", ") + p.name;
    return make_error(ErrorCode::InvalidArgument, "model shape '" + name + "': unknown preset (known: " + known + ")");
}

namespace {

// The expert fields against the family's expert layout.
ExpectedVoid validate_experts(const ModelShape& s, const ModelFamily& f) {
    auto bad = [&](const std::string& field, const std::string& what) {
        return make_error(ErrorCode::InvalidArgument, "model shape '" + s.name + "': " + field + ": " + what);
    };
    if (s.n_expert == 0) {
        if (f.experts == Presence::Required) return bad("n_expert", s.architecture + " needs experts");
        if (s.router_skew != 0.0f) return bad("router_skew", "needs experts (n_expert > 0)");
        return {};
    }
    if (f.experts == Presence::Never) return bad("n_expert", s.architecture + " files have no experts");
    if (s.n_expert > 4096) return bad("n_expert", "must be at most 4096");
    if (s.n_expert_used == 0 || s.n_expert_used > s.n_expert) return bad("n_expert_used", "must be in 1..n_expert");
    if (s.n_ff_expert == 0 || s.n_ff_expert > (1u << 20)) return bad("n_ff_expert", "must be in 1..1048576");
    if (!f.expert_width_key && s.n_ff_expert != s.n_ff) return bad("n_ff_expert", s.architecture + " experts are n_ff wide");
    if (!(s.router_skew >= 0.0f && s.router_skew <= 1000.0f)) return bad("router_skew", "must be in [0, 1000]");
    return {};
}

// The family features a shape asks for that its family cannot have.
ExpectedVoid validate_family_fields(const ModelShape& s, const ModelFamily& f, uint32 head_dim) {
    auto bad = [&](const std::string& field, const std::string& what) {
        return make_error(ErrorCode::InvalidArgument, "model shape '" + s.name + "': " + field + ": " + what);
    };
    if (head_dim % 2 != 0 || head_dim > 4096) return bad("head_dim", std::to_string(head_dim) + " must be even (rope) and at most 4096");
    const uint32 n_rot = s.n_rot ? s.n_rot : head_dim;
    if (n_rot % 2 != 0 || n_rot > head_dim) return bad("n_rot", std::to_string(n_rot) + " must be even and at most head_dim " + std::to_string(head_dim));
    if (s.rope_freqs && f.rope_freqs == Presence::Never) return bad("rope_freqs", s.architecture + " files have no rope_freqs.weight");
    if (f.swa_period > 0 && s.sliding_window == 0 && f.default_sliding_window == 0) return bad("sliding_window", s.architecture + " needs a window");
    if (s.n_vocab < 259 + chat_special_tokens(s.chat).size()) return bad("n_vocab", "too small for the chat tokens");
    if (!(s.rms_eps > 0.0f && s.rms_eps < 1.0f)) return bad("rms_eps", "must be in (0, 1)");
    if (s.rope_scale < 0.0f || s.rope_base_swa < 0.0f) return bad("rope_scale", "must not be negative");
    return validate_experts(s, f);
}

}  // namespace

ExpectedVoid validate_model_shape(const ModelShape& s) {
    auto bad = [&](const std::string& field, const std::string& what) {
        return make_error(ErrorCode::InvalidArgument, "model shape '" + s.name + "': " + field + ": " + what);
    };
    const ModelFamily* f = find_family(s.architecture);
    if (!f) return bad("architecture", "'" + s.architecture + "' is not supported (supported: " + supported_architectures() + ")");
    if (s.n_vocab < 259) return bad("n_vocab", std::to_string(s.n_vocab) + " < 259 (3 special + 256 byte tokens)");
    if (s.n_vocab > (1u << 22)) return bad("n_vocab", "too large");
    if (s.n_embd == 0 || s.n_embd > (1u << 17)) return bad("n_embd", "must be in 1..131072");
    if (s.n_layer == 0 || s.n_layer > 4096) return bad("n_layer", "must be in 1..4096");
    if (s.n_ff == 0 || s.n_ff > (1u << 20)) return bad("n_ff", "must be in 1..1048576");
    if (s.n_ctx == 0) return bad("n_ctx", "must be > 0");
    if (s.n_head == 0 || s.n_head > s.n_embd || (s.head_dim == 0 && s.n_embd % s.n_head != 0))
        return bad("n_head", std::to_string(s.n_head) + " does not divide n_embd " + std::to_string(s.n_embd));
    const uint32 head_dim = s.head_dim ? s.head_dim : s.n_embd / s.n_head;
    if (s.head_dim == 0 && head_dim % 2 != 0) return bad("n_head", "head_dim " + std::to_string(head_dim) + " must be even (rope)");
    if (s.n_head_kv == 0 || s.n_head % s.n_head_kv != 0)
        return bad("n_head_kv", std::to_string(s.n_head_kv) + " does not divide n_head " + std::to_string(s.n_head));
    if (!(s.rope_base > 1.0f && s.rope_base < 1e12f)) return bad("rope_base", "must be in (1, 1e12)");
    VKS_TRY(validate_family_fields(s, *f, head_dim));
    return validate_copy_cycle(s);
}

ModelConfig model_config_for_shape(const ModelShape& s) {
    ModelConfig c;
    c.architecture = s.architecture;
    c.name = s.name;
    c.n_vocab = s.n_vocab;
    c.n_embd = s.n_embd;
    c.n_layer = s.n_layer;
    c.n_head = s.n_head;
    c.n_head_kv = s.n_head_kv;
    c.head_dim = s.head_dim ? s.head_dim : s.n_head ? s.n_embd / s.n_head : 0;
    c.n_ff = s.n_ff;
    c.n_ctx_train = s.n_ctx;
    c.n_rot = s.n_rot ? s.n_rot : c.head_dim;
    c.rope_freq_base = s.rope_base;
    c.rope_freq_scale = s.rope_scale > 0.0f ? float(1.0 / double(s.rope_scale)) : 1.0f;
    c.rms_eps = s.rms_eps;
    c.tied_output = s.tied_output;
    const ModelFamily* f = find_family(s.architecture);
    VKS_CHECK(f != nullptr, "model shape '" + s.name + "': unknown architecture '" + s.architecture + "'");
    apply_family_defaults(*f, c);
    if (s.sliding_window > 0 && f->swa_period > 0) set_sliding_window(c, s.sliding_window, f->swa_period);
    if (s.rope_base_swa > 0.0f) c.rope_base_swa = s.rope_base_swa;
    if (s.rope_freqs) c.rope_freq_factors = llama3_rope_factors(kLlama31RopeScaling, 8192, c.n_rot, c.rope_freq_base);
    if (s.n_expert > 0) {
        c.n_expert = s.n_expert;
        c.n_expert_used = s.n_expert_used;
        c.n_ff_expert = s.n_ff_expert;
        c.expert_weights_norm = f->expert_weights_norm;
    }
    return c;
}

uint32 generated_token_type(uint32 id) { return id == 0 ? 2 : id < 3 ? 3 : id < 259 ? 6 : 1; }

float generated_token_score(uint32 id) { return id < 259 ? 0.0f : -float(id - 259); }  // later pieces are rarer

std::vector<std::string> generated_vocab(uint32 n_vocab) {
    std::vector<std::string> t = {"<unk>", "<s>", "</s>"};
    char buf[8];
    for (int b = 0; b < 256; ++b) {
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        t.emplace_back(buf);
    }
    const std::string sp = "\xe2\x96\x81";  // U+2581, SentencePiece's space
    t.push_back(sp);
    for (char c = 0x21; c < 0x7f; ++c) t.emplace_back(1, c);
    for (uint64 i = 0; t.size() < n_vocab; ++i) t.push_back(sp + word_for(i));
    t.resize(n_vocab);
    return t;
}

namespace {

// The router skew's massive activation (token_embd column 0) and router columns.
void add_router_skew(const ModelConfig& c, float skew, uint64 seed, std::vector<GeneratedTensor>& out) {
    const RouterSkewValues v = router_skew_values(c, skew, kWeightStd, seed);
    for (GeneratedTensor& t : out) {
        if (t.desc.id.role == TensorRole::TokenEmbd) t.column0.assign(c.n_vocab, v.massive);
        if (t.desc.id.role == TensorRole::Router) t.column0 = v.router_col0[uint32(t.desc.id.layer)];
    }
}

// The copy cycle's head (the embedding's values, rows permuted) and scaled layer inputs.
void add_copy_cycle(const ModelShape& s, const ModelConfig& c, uint64 seed, std::vector<GeneratedTensor>& out) {
    const float scale = copy_cycle_layer_scale(c, kWeightStd);
    uint64 embd_key = 0;
    for (const GeneratedTensor& t : out)
        if (t.desc.id.role == TensorRole::TokenEmbd) embd_key = t.key;
    for (GeneratedTensor& t : out) {
        if (copy_cycle_scales_role(t.desc.id.role)) t.scale = scale;
        if (t.desc.id.role != TensorRole::Output) continue;
        t.key = embd_key;
        t.rows_from = copy_cycle_head_rows(c.n_vocab, copy_cycle_tokens(s, seed));
    }
}

}  // namespace

std::vector<GeneratedTensor> generated_tensors(const ModelShape& s, DType dtype, uint64 seed) {
    const ModelConfig c = model_config_for_shape(s);
    const auto tensors = TensorRegistry::expected_tensors(c);
    std::vector<GeneratedTensor> out;
    for (size_t k = 0; k < tensors.size(); ++k) {
        TensorDesc d = tensors[k];
        // A tied output is the embedding; a fused tensor is written once, with all its rows.
        if ((d.id.role == TensorRole::Output && c.tied_output) || d.source_row > 0) continue;
        d.rows = d.source_rows;
        // Norms, biases and routers: f32, as llama.cpp's converter writes them.
        const DType dt = tensor_role_is_vector(d.id.role) || d.id.role == TensorRole::Router ? DType::F32 : dtype;
        out.push_back(GeneratedTensor{d, dt, tensor_role_is_norm(d.id.role), splitmix64(seed ^ splitmix64(uint64(k) + 0x5eed)), {}, 1.0f, {}});
    }
    if (s.router_skew > 0.0f) add_router_skew(c, s.router_skew, seed, out);
    if (s.copy_cycle > 0) add_copy_cycle(s, c, seed, out);
    return out;
}

TensorFillFn generated_fill(const GeneratedTensor& t, DType dtype) {
    TensorFillFn base = make_fill(t.key, dtype, t.norm, t.scale);
    if (!t.rows_from.empty()) return permuted_rows_fill(std::move(base), t.rows_from, t.desc.cols * dtype_size(dtype));
    if (t.column0.empty()) return base;
    // Row r's element 0 replaced by column0[r] wherever the requested bytes hold it.
    return [base, col = t.column0, row_bytes = t.desc.cols * dtype_size(dtype), dtype](uint64 off, uint8* dst, uint64 n) -> ExpectedVoid {
        VKS_TRY(base(off, dst, n));
        const uint64 es = dtype_size(dtype);
        for (uint64 r = off / row_bytes; r < col.size() && r * row_bytes < off + n; ++r) {
            if (r * row_bytes < off || r * row_bytes + es > off + n) continue;
            uint8* at = dst + (r * row_bytes - off);
            if (dtype == DType::F32) std::memcpy(at, &col[r], 4);
            else {
                const uint16 h = dtype == DType::F16 ? f32_to_f16(col[r]) : f32_to_bf16(col[r]);
                std::memcpy(at, &h, 2);
            }
        }
        return {};
    };
}

uint64 generated_model_bytes(const ModelShape& shape, DType dtype) { return build_writer(shape, dtype, 0).file_size(); }

ExpectedVoid check_disk_space(const Path& out, uint64 need) {
    Path dir = out.has_parent_path() ? out.parent_path() : Path(".");
    struct statvfs vfs {};
    if (::statvfs(dir.c_str(), &vfs) != 0) return {};  // unknown: let the write report it
    const uint64 avail = uint64(vfs.f_bavail) * uint64(vfs.f_frsize);
    if (avail < need)
        return make_error(ErrorCode::Io, out.string() + ": not enough disk space: the model needs " + std::to_string(need) + " bytes, " +
                                             std::to_string(avail) + " available in " + dir.string());
    return {};
}

Expected<Path> generate_model(const ModelShape& shape, DType dtype, const Path& out, uint64 seed, ProgressFn progress) {
    VKS_TRY(validate_model_shape(shape));
    if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
        return make_error(ErrorCode::InvalidArgument, out.string() + ": dtype " + std::to_string(uint32(dtype)) + " is not f32, f16 or bf16");
    GGUFWriter w = build_writer(shape, dtype, seed);
    VKS_TRY(check_disk_space(out, w.file_size()));
    VKS_TRY(w.write(out, progress));
    return out;
}

}  // namespace vk_symbiote
