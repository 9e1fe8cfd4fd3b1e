#include "model/ModelGenerator.h"

#include "common/HalfFloat.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "model/TensorRegistry.h"

namespace vk_symbiote {

namespace {

// clang-format off
const ModelShape kPresets[] = {
    // name             vocab   embd  layer head kv   ff     ctx    rope
    {"llama2-7b",       32000,  4096, 32,   32,  32,  11008, 4096,  10000.0f},
    {"llama2-13b",      32000,  5120, 40,   40,  40,  13824, 4096,  10000.0f},
    {"llama2-70b",      32000,  8192, 80,   64,  8,   28672, 4096,  10000.0f},
    {"llama3-8b",       128256, 4096, 32,   32,  8,   14336, 8192,  500000.0f},
    {"mistral-7b",      32000,  4096, 32,   32,  8,   14336, 32768, 10000.0f},
    {"tinyllama-1.1b",  32000,  2048, 22,   32,  4,   5632,  2048,  10000.0f},
    // Test shapes: small enough to generate in milliseconds.
    {"tiny",            384,    64,   2,    4,   2,   160,   256,   10000.0f},
    {"tiny-mha",        300,    48,   1,    3,   3,   96,    128,   10000.0f},
    {"tiny-mqa",        320,    64,   2,    4,   1,   128,   256,   10000.0f},
    {"small",           2048,   256,  4,    8,   2,   704,   1024,  10000.0f},
};
// clang-format on

// llama.cpp's general.file_type values (LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_BF16).
uint32 file_type_of(DType d) { return d == DType::F32 ? 0 : d == DType::F16 ? 1 : 32; }

// ---- deterministic, counter-based random numbers --------------------------------------

inline uint64 splitmix64(uint64 z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Approximately N(0, 0.02): the sum of four 16-bit uniforms (Irwin-Hall, n = 4), centred
// and scaled. A pure function of (key, element index).
inline float weight_value(uint64 key, uint64 e) {
    uint64 h = splitmix64(key + e * 0x9e3779b97f4a7c15ull);
    uint64 s = (h & 0xffff) + ((h >> 16) & 0xffff) + ((h >> 32) & 0xffff) + (h >> 48);
    constexpr float kScale = 0.02f / 37837.2f;  // std of the sum: 4 * 65536^2 / 12, sqrt
    return (float(int64(s) - 131070)) * kScale;
}

// Writes elements [e0, e1) of one tensor to dst (packed, dtype-sized).
void generate_elements(uint64 key, DType dt, bool norm, uint64 e0, uint64 e1, uint8* dst) {
    for (uint64 e = e0; e < e1; ++e) {
        float v = weight_value(key, e) + (norm ? 1.0f : 0.0f);
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
void generate_parallel(uint64 key, DType dt, bool norm, uint64 e0, uint64 e1, uint8* dst) {
    const uint64 n = e1 - e0;
    const uint64 hw = std::max(1u, std::thread::hardware_concurrency());
    const uint64 n_threads = std::min<uint64>(hw, std::max<uint64>(1, n / 65536));
    if (n_threads <= 1) return generate_elements(key, dt, norm, e0, e1, dst);
    std::vector<std::thread> threads;
    const uint64 per = (n + n_threads - 1) / n_threads;
    for (uint64 t = 0; t < n_threads; ++t) {
        uint64 a = e0 + t * per, b = std::min(e1, a + per);
        if (a >= b) break;
        threads.emplace_back(generate_elements, key, dt, norm, a, b, dst + (a - e0) * dtype_size(dt));
    }
    for (auto& th : threads) th.join();
}

// The fill callback for one tensor. Handles ranges that split an element (not produced by
// GGUFWriter for aligned layouts, but cheap to get right).
TensorFillFn make_fill(uint64 key, DType dt, bool norm) {
    return [key, dt, norm](uint64 off, uint8* dst, uint64 n) -> ExpectedVoid {
        const uint64 es = dtype_size(dt);
        if (off % es == 0 && n % es == 0) {
            generate_parallel(key, dt, norm, off / es, (off + n) / es, dst);
            return {};
        }
        uint64 e0 = off / es, e1 = (off + n + es - 1) / es;
        std::vector<uint8> tmp((e1 - e0) * es);
        generate_parallel(key, dt, norm, e0, e1, tmp.data());
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

void add_tokenizer(GGUFWriter& w, uint32 n_vocab) {
    std::vector<std::string> toks = generated_vocab(n_vocab);
    std::vector<double> scores(n_vocab);
    std::vector<int64> types(n_vocab);
    for (uint32 k = 0; k < n_vocab; ++k) {
        types[k] = generated_token_type(k);
        scores[k] = generated_token_score(k);
    }
    w.add("tokenizer.ggml.model", gguf_string("llama"));
    w.add("tokenizer.ggml.tokens", gguf_string_array(std::move(toks)));
    w.add("tokenizer.ggml.scores", gguf_float_array(GGUFType::F32, std::move(scores)));
    w.add("tokenizer.ggml.token_type", gguf_int_array(GGUFType::I32, std::move(types)));
    w.add("tokenizer.ggml.unknown_token_id", gguf_u32(0));
    w.add("tokenizer.ggml.bos_token_id", gguf_u32(1));
    w.add("tokenizer.ggml.eos_token_id", gguf_u32(2));
    w.add("tokenizer.ggml.add_bos_token", gguf_bool(true));
    w.add("tokenizer.ggml.add_eos_token", gguf_bool(false));
}

// Everything but the data: metadata, tokenizer and the tensor table with fill callbacks.
GGUFWriter build_writer(const ModelShape& s, DType dtype, uint64 seed) {
    GGUFWriter w(3);
    w.add("general.architecture", gguf_string("llama"));
    w.add("general.name", gguf_string(s.name));
    w.add("general.file_type", gguf_u32(file_type_of(dtype)));
    w.set_alignment(32);
    w.add("llama.context_length", gguf_u32(s.n_ctx));
    w.add("llama.embedding_length", gguf_u32(s.n_embd));
    w.add("llama.block_count", gguf_u32(s.n_layer));
    w.add("llama.feed_forward_length", gguf_u32(s.n_ff));
    w.add("llama.rope.dimension_count", gguf_u32(s.n_embd / s.n_head));
    w.add("llama.rope.freq_base", gguf_f32(s.rope_base));
    w.add("llama.attention.head_count", gguf_u32(s.n_head));
    w.add("llama.attention.head_count_kv", gguf_u32(s.n_head_kv));
    w.add("llama.attention.layer_norm_rms_epsilon", gguf_f32(1e-5f));
    w.add("llama.vocab_size", gguf_u32(s.n_vocab));
    add_tokenizer(w, s.n_vocab);

    for (const GeneratedTensor& t : generated_tensors(s, dtype, seed)) {
        std::vector<uint64> dims = t.desc.rows == 1 ? std::vector<uint64>{t.desc.cols} : std::vector<uint64>{t.desc.cols, t.desc.rows};
        w.add_tensor(t.desc.name, std::move(dims), t.dtype, generated_fill(t, t.dtype));
    }
    return w;
}

}  // namespace

std::vector<std::string> model_shape_preset_names() {
    std::vector<std::string> n;
    for (auto& p : kPresets) n.push_back(p.name);
    return n;
}

Expected<ModelShape> model_shape_preset(const std::string& name) {
    for (auto& p : kPresets)
        if (p.name == name) return p;
    std::string known;
    for (auto& p : kPresets) known += (known.empty() ? "" : ", ") + p.name;
    return make_error(ErrorCode::InvalidArgument, "model shape '" + name + "': unknown preset (known: " + known + ")");
}

ExpectedVoid validate_model_shape(const ModelShape& s) {
    auto bad = [&](const std::string& field, const std::string& what) {
        return make_error(ErrorCode::InvalidArgument, "model shape '" + s.name + "': " + field + ": " + what);
    };
    if (s.n_vocab < 259) return bad("n_vocab", std::to_string(s.n_vocab) + " < 259 (3 special + 256 byte tokens)");
    if (s.n_vocab > (1u << 22)) return bad("n_vocab", "too large");
    if (s.n_embd == 0 || s.n_embd > (1u << 17)) return bad("n_embd", "must be in 1..131072");
    if (s.n_layer == 0 || s.n_layer > 4096) return bad("n_layer", "must be in 1..4096");
    if (s.n_ff == 0 || s.n_ff > (1u << 20)) return bad("n_ff", "must be in 1..1048576");
    if (s.n_ctx == 0) return bad("n_ctx", "must be > 0");
    if (s.n_head == 0 || s.n_embd % s.n_head != 0) return bad("n_head", std::to_string(s.n_head) + " does not divide n_embd " + std::to_string(s.n_embd));
    if ((s.n_embd / s.n_head) % 2 != 0) return bad("n_head", "head_dim " + std::to_string(s.n_embd / s.n_head) + " must be even (rope)");
    if (s.n_head_kv == 0 || s.n_head % s.n_head_kv != 0)
        return bad("n_head_kv", std::to_string(s.n_head_kv) + " does not divide n_head " + std::to_string(s.n_head));
    if (!(s.rope_base > 1.0f && s.rope_base < 1e12f)) return bad("rope_base", "must be in (1, 1e12)");
    return {};
}

ModelConfig model_config_for_shape(const ModelShape& s) {
    ModelConfig c;
    c.architecture = "llama";
    c.name = s.name;
    c.n_vocab = s.n_vocab;
    c.n_embd = s.n_embd;
    c.n_layer = s.n_layer;
    c.n_head = s.n_head;
    c.n_head_kv = s.n_head_kv;
    c.head_dim = s.n_head ? s.n_embd / s.n_head : 0;
    c.n_ff = s.n_ff;
    c.n_ctx_train = s.n_ctx;
    c.n_rot = c.head_dim;
    c.rope_freq_base = s.rope_base;
    c.rms_eps = 1e-5f;
    c.tied_output = false;
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

std::vector<GeneratedTensor> generated_tensors(const ModelShape& s, DType dtype, uint64 seed) {
    std::vector<GeneratedTensor> out;
    const auto tensors = TensorRegistry::expected_tensors(model_config_for_shape(s));
    for (size_t k = 0; k < tensors.size(); ++k) {
        const bool norm = tensor_role_is_norm(tensors[k].id.role);
        out.push_back(GeneratedTensor{tensors[k], norm ? DType::F32 : dtype, norm, splitmix64(seed ^ splitmix64(uint64(k) + 0x5eed))});
    }
    return out;
}

TensorFillFn generated_fill(const GeneratedTensor& t, DType dtype) { return make_fill(t.key, dtype, t.norm); }

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
