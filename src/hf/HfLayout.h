// HfLayout: where a Hugging Face checkpoint's bytes differ from the GGUF that llama.cpp's
// converter writes from it, as small pure functions (each unit-tested on data computed in
// the test, and against a converted file where one exists):
//
// - Q/K rows (Llama, Mistral, Mixtral): transformers applies rotary embeddings to the two
//   halves of each head (dim i with dim i + head_dim/2); the converter permutes the rows of
//   q_proj / k_proj (and their biases) per head so that llama.cpp's adjacent-pair rope
//   (dims 2i, 2i+1) computes the same thing: GGUF row h*d + 2i + j = HF row h*d + j*d/2 + i.
//   RECOMMENDED for the engine: no permutation; run these classes with the rotate-half
//   (NEOX) rope the engine already has for Qwen / Gemma / Phi-3, on the rows as stored. The
//   two are the same function: the permutation relabels the dims of every Q and K head
//   alike, so each pair rotates by the same angle and every q.k is the same sum in another
//   order. The rows then stay byte ranges of the file: packs, the pack cache, O_DIRECT
//   reads and row-split matvecs work on them unchanged, with no gather on each read.
//   permute_qk_rows() is the converter's permutation (tests, writers, conversion).
// - Gemma norms: stored as w, applied as (1 + w); the converter writes 1 + w as f32.
// - llama3 rope scaling: per-frequency divisors, written by the converter as the tensor
//   rope_freqs.weight (head_dim / 2 floats), computed here exactly as the converter does.
// - Tied embeddings: no lm_head.weight; the output matrix is the embedding matrix.
// - Vocabulary padding: config.json's vocab_size may exceed the tokenizer's pieces; the
//   embedding and output matrices have vocab_size rows and the extra ids are padding tokens
//   "[PAD<id>]" (the converter's names), never produced by the tokenizer.
// - Fused Phi-3 matrices: qkv_proj rows are q, k, v; gate_up_proj rows are gate, up (kept
//   fused, as the converter keeps them).
#pragma once

#include <string>
#include <vector>

#include "hf/HfConfig.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// The HF row whose contents GGUF row `gguf_row` of a permuted Q or K matrix holds
// (head_dim even; rows counted over all heads).
uint64 qk_hf_row_of_gguf_row(uint64 gguf_row, uint64 head_dim);
// The inverse: the GGUF row that holds HF row `hf_row`.
uint64 qk_gguf_row_of_hf_row(uint64 hf_row, uint64 head_dim);

// The converter's permutation of a Q or K matrix (or bias) of `rows` rows of `row_bytes`
// bytes: dst row r = src row qk_hf_row_of_gguf_row(r). rows % head_dim == 0 (checked).
void permute_qk_rows(const uint8* hf, uint8* gguf, uint64 rows, uint64 row_bytes, uint64 head_dim);
// Its inverse (GGUF order back to transformers' order).
void unpermute_qk_rows(const uint8* gguf, uint8* hf, uint64 rows, uint64 row_bytes, uint64 head_dim);

// Gemma's norm weights as applied: 1 + w for each of the n stored values, in f32
// (transformers computes 1.0 + weight.float(); the converter does the same for bf16 input).
std::vector<float> norm_weights_plus_one(const uint8* stored, uint64 n, DType dtype);

// llama3 rope scaling: the factor each of the rotary_dims / 2 frequencies is divided by, as
// llama.cpp's converter computes rope_freqs.weight (in float32; the wavelength bounds use
// config.json's top-level original_max_position_embeddings, 8192 when absent, as the
// converter does, not the rope_scaling entry transformers reads; both are 8192 in Llama 3.1).
std::vector<float> llama3_rope_factors(const HfConfig& config);
// The same from the scaling, the pre-scaling context, the rotated dimensions and the rope
// base (the generator's Llama 3.1 shapes call it with Llama 3.1's constants).
std::vector<float> llama3_rope_factors(const HfRopeScaling& scaling, uint64 old_context, uint64 head_dim, double theta);

// Whether the output matrix is the embedding matrix: tie_word_embeddings (the class default
// when absent; transformers then ignores a stored lm_head.weight). An untied config without
// lm_head.weight is an error naming the tensor and the key.
Expected<bool> hf_output_is_tied(const HfConfig& config, bool has_lm_head);

// Padding tokens beyond the tokenizer's `tokenizer_tokens` (pieces plus added tokens) up
// to config.json's vocab_size; an error naming vocab_size when the tokenizer has more.
Expected<uint32> hf_vocab_padding(const HfConfig& config, uint32 tokenizer_tokens);
// The converter's text of padding token `id`: "[PAD<id>]".
std::string hf_pad_token_text(uint32 id);

// Row ranges [begin, end) inside a fused matrix.
struct RowRange {
    uint64 begin = 0;
    uint64 end = 0;
    bool operator==(const RowRange&) const = default;
};
// Phi-3's qkv_proj: q rows, then k, then v.
struct FusedQkvRows {
    RowRange q, k, v;
};
FusedQkvRows fused_qkv_rows(const HfConfig& config);
// Phi-3's gate_up_proj: the gate rows first, then the up rows.
struct FusedGateUpRows {
    RowRange gate, up;
};
FusedGateUpRows fused_gate_up_rows(const HfConfig& config);

}  // namespace vk_symbiote
