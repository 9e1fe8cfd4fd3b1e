#include "hf/HfLayout.h"

#include <cmath>
#include <cstring>

#include "common/HalfFloat.h"

namespace vk_symbiote {

uint64 qk_hf_row_of_gguf_row(uint64 gguf_row, uint64 head_dim) {
    // Within a head, GGUF row 2i + j (pair i, member j) holds HF row j * head_dim/2 + i.
    const uint64 head = gguf_row / head_dim, r = gguf_row % head_dim;
    return head * head_dim + (r % 2) * (head_dim / 2) + r / 2;
}

uint64 qk_gguf_row_of_hf_row(uint64 hf_row, uint64 head_dim) {
    const uint64 head = hf_row / head_dim, r = hf_row % head_dim, half = head_dim / 2;
    return head * head_dim + 2 * (r % half) + r / half;
}

void permute_qk_rows(const uint8* hf, uint8* gguf, uint64 rows, uint64 row_bytes, uint64 head_dim) {
    VKS_CHECK(head_dim % 2 == 0 && head_dim > 0 && rows % head_dim == 0, "permute_qk_rows: rows must be whole heads of even size");
    for (uint64 r = 0; r < rows; ++r) std::memcpy(gguf + r * row_bytes, hf + qk_hf_row_of_gguf_row(r, head_dim) * row_bytes, size_t(row_bytes));
}

void unpermute_qk_rows(const uint8* gguf, uint8* hf, uint64 rows, uint64 row_bytes, uint64 head_dim) {
    VKS_CHECK(head_dim % 2 == 0 && head_dim > 0 && rows % head_dim == 0, "unpermute_qk_rows: rows must be whole heads of even size");
    for (uint64 r = 0; r < rows; ++r) std::memcpy(hf + qk_hf_row_of_gguf_row(r, head_dim) * row_bytes, gguf + r * row_bytes, size_t(row_bytes));
}

std::vector<float> norm_weights_plus_one(const uint8* stored, uint64 n, DType dtype) {
    std::vector<float> out(static_cast<size_t>(n));
    for (uint64 k = 0; k < n; ++k) {
        float w;
        if (dtype == DType::F32) {
            std::memcpy(&w, stored + 4 * k, 4);
        } else {
            uint16 h;
            std::memcpy(&h, stored + 2 * k, 2);
            w = dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
        out[k] = 1.0f + w;
    }
    return out;
}

// Every step in float32, in the converter's order of operations (torch float32 tensors;
// Python scalars take the tensor's dtype).
std::vector<float> llama3_rope_factors(const HfRopeScaling& s, uint64 old_context, uint64 head_dim, double theta) {
    const float factor = float(s.factor), low = float(s.low_freq_factor), high = float(s.high_freq_factor);
    const float old_ctx = float(old_context);
    const float low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
    std::vector<float> f;
    for (uint64 i = 0; i < head_dim; i += 2) {
        const float freq = 1.0f / std::pow(float(theta), float(i) / float(head_dim));
        const float wavelen = float(2.0 * M_PI) / freq;
        if (wavelen < high_wavelen) {
            f.push_back(1.0f);
        } else if (wavelen > low_wavelen) {
            f.push_back(factor);
        } else {
            const float smooth = (old_ctx / wavelen - low) / (high - low);
            f.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
        }
    }
    return f;
}

std::vector<float> llama3_rope_factors(const HfConfig& c) {
    return llama3_rope_factors(c.rope_scaling, c.original_max_position_embeddings.value_or(8192), c.head_dim, c.rope_theta);
}

Expected<bool> hf_output_is_tied(const HfConfig& c, bool has_lm_head) {
    if (c.tie_word_embeddings) return true;
    if (has_lm_head) return false;
    return make_error(ErrorCode::NotFound, c.file.string() + ": 'tie_word_embeddings' is false but the checkpoint has no 'lm_head.weight'");
}

Expected<uint32> hf_vocab_padding(const HfConfig& c, uint32 tokenizer_tokens) {
    if (tokenizer_tokens > c.vocab_size)
        return make_error(ErrorCode::Format, c.file.string() + ": 'vocab_size' " + std::to_string(c.vocab_size) + " is below the tokenizer's " +
                                                 std::to_string(tokenizer_tokens) + " tokens");
    return c.vocab_size - tokenizer_tokens;
}

std::string hf_pad_token_text(uint32 id) { return "[PAD" + std::to_string(id) + "]"; }

FusedQkvRows fused_qkv_rows(const HfConfig& c) {
    const uint64 q = uint64(c.num_attention_heads) * c.head_dim, kv = uint64(c.num_key_value_heads) * c.head_dim;
    return {{0, q}, {q, q + kv}, {q + kv, q + 2 * kv}};
}

FusedGateUpRows fused_gate_up_rows(const HfConfig& c) { return {{0, c.intermediate_size}, {c.intermediate_size, 2 * uint64(c.intermediate_size)}}; }

}  // namespace vk_symbiote
