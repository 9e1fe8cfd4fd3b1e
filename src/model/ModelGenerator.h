// ModelGenerator: random-weight GGUF models of any shape and family (Llama 2 7B/13B/70B, Llama
// 3.1 with rope_freqs, Qwen2.5, Qwen3, Gemma 2 / 3, Phi-3 mini included) with every key
// ModelConfig reads and a minimal SentencePiece vocabulary plus the family's chat special
// tokens, so tests and benchmarks run at real sizes without committed files. Matrices in the
// requested dtype, norms and biases f32; each value is a function of (seed, tensor, element),
// so the file is bit-identical however many threads generate it. Streamed through GGUFWriter,
// never whole in memory.
#pragma once

#include <string>
#include <vector>

#include "gguf/GGUFWriter.h"
#include "model/ChatTemplate.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct ModelShape {
    std::string name;        // written as general.name
    uint32 n_vocab = 0;      // >= 259 (3 specials + 256 byte tokens) + the family's chat tokens
    uint32 n_embd = 0;
    uint32 n_layer = 0;
    uint32 n_head = 0;
    uint32 n_head_kv = 0;
    uint32 n_ff = 0;
    uint32 n_ctx = 0;        // <arch>.context_length
    float rope_base = 10000.0f;
    // The family (model/families) and what its files may vary:
    std::string architecture = "llama";  // general.architecture
    uint32 head_dim = 0;         // 0: n_embd / n_head; else written as attention.key_length
    uint32 n_rot = 0;            // 0: head_dim; else partial rotary (rope.dimension_count)
    bool tied_output = false;    // no output.weight: the embedding matrix is the head
    bool rope_freqs = false;     // llama: Llama 3.1's rope_freqs.weight (factor 8 over 8192 positions)
    uint32 sliding_window = 0;   // families with sliding layers: the window (0: the family's default)
    float rope_base_swa = 0.0f;  // sliding layers' rope base (0: the family's)
    float rope_scale = 0.0f;     // linear rope scaling factor (rope.scaling.factor; 0: none)
    float rms_eps = 1e-5f;
    // The chat template written (tokenizer.chat_template) and its special tokens; Plain: none.
    ChatFormat chat = ChatFormat::Plain;
    // Mixture of experts (n_expert > 0; llama: Mixtral layout, expert width n_ff; qwen3moe:
    // width n_ff_expert, written as expert_feed_forward_length).
    uint32 n_expert = 0;
    uint32 n_expert_used = 0;
    uint32 n_ff_expert = 0;
    // > 0: routers that prefer a few experts, the more the larger (model/RouterSkew.h); 0: the
    // random routers alone.
    float router_skew = 0.0f;
    // > 0: a copy-cycle model (model/CopyCycle.h): greedy decoding follows a fixed cycle of this
    // many tokens, every matrix still random; 0: a plain random model.
    uint32 copy_cycle = 0;
};

// Named shapes: llama2-7b, llama2-13b, llama2-70b, llama3-8b, llama3.1-8b, mistral-7b,
// tinyllama-1.1b, qwen2.5-7b, qwen3-8b, gemma2-9b, gemma3-12b, phi3-mini, mixtral-8x7b,
// qwen3-30b-a3b, and test shapes tiny (GQA, 2 layers), tiny-mha (1 layer, n_head_kv ==
// n_head), tiny-mqa (n_head_kv 1), small (4 layers, 256 wide) and tiny-moe (2 layers, 8
// experts, 2 used). Error lists the known names.
Expected<ModelShape> model_shape_preset(const std::string& name);
std::vector<std::string> model_shape_preset_names();

// Checks a shape is one the engine can run (a known architecture, divisibility, even head_dim
// and n_rot, vocab large enough). Errors are InvalidArgument naming the field.
ExpectedVoid validate_model_shape(const ModelShape& shape);

// The ModelConfig a generated file of this shape loads as.
ModelConfig model_config_for_shape(const ModelShape& shape);

// One tensor of a generated model: the registry's description, the dtype the GGUF stores it
// in (norms f32) and the key its values derive from.
struct GeneratedTensor {
    TensorDesc desc;
    DType dtype = DType::F32;
    bool norm = false;  // values 1 + noise instead of noise
    uint64 key = 0;
    std::vector<float> column0;  // not empty: row r's first value is column0[r] (router skew)
    float scale = 1.0f;          // every value times this (copy cycle: the layers' input norms)
    std::vector<uint32> rows_from;  // not empty: row r holds row rows_from[r] of the values of `key`
};
// Every tensor generate_model writes, in file order.
std::vector<GeneratedTensor> generated_tensors(const ModelShape& shape, DType dtype, uint64 seed);
// The bytes of `t` stored as `dtype`: its values rounded to that type (the GGUF writes
// t.dtype; a checkpoint may store norms in its own dtype). Row-major, GGUF row order.
TensorFillFn generated_fill(const GeneratedTensor& t, DType dtype);

// The chat special tokens a generated file of chat format `f` carries as its vocabulary's last
// pieces (control tokens), the end-of-turn one last (tokenizer.ggml.eot_token_id), e.g.
// ChatML: "<|im_start|>", "<|im_end|>"; none for Plain.
std::vector<std::string> chat_special_tokens(ChatFormat f);

// Size in bytes of the file generate_model writes for this shape and dtype.
uint64 generated_model_bytes(const ModelShape& shape, DType dtype);

// The SentencePiece vocabulary written into generated models: "<unk>", "<s>", "</s>",
// "<0x00>".."<0xFF>", then "\u2581", printable ASCII, then "\u2581"+lowercase words of
// increasing length (every piece is reachable by merging two shorter pieces). Generated files
// replace its last pieces with family_chat_tokens().
std::vector<std::string> generated_vocab(uint32 n_vocab);
// Piece `id`'s type (llama.cpp's and SentencePiece's numbering: 1 normal, 2 unknown,
// 3 control, 6 byte) and score.
uint32 generated_token_type(uint32 id);
float generated_token_score(uint32 id);

// Io error naming `out` when the file system holding it has less than `need` bytes free
// (success when that cannot be determined: the write then reports any failure).
ExpectedVoid check_disk_space(const Path& out, uint64 need);

// Writes the model to `out` (via "<out>.tmp" + rename) and returns `out`. Fails with
// InvalidArgument for a bad shape or dtype, Io when the disk lacks space (checked first)
// or a write fails. `progress(done, total)` is called about every 32 MiB.
Expected<Path> generate_model(const ModelShape& shape, DType dtype, const Path& out, uint64 seed, ProgressFn progress = {});

}  // namespace vk_symbiote
