// ReferenceCase: one case of ../shared/reference (NAME.json + NAME.logits.f32; case arch-NAME:
// arch/NAME.json + arch/NAME.logits.f32; case hf-NAME: hf/NAME.*, whose model is a Hugging
// Face folder), loaded for comparison, and the README's closeness measures. Other backends' tests may copy this pattern.
#pragma once

#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::test {

struct ReferenceCase {
    std::string name;                   // e.g. "syn-f16", "arch-qwen2"
    std::string model;                  // file or folder in ../shared/models, e.g. "arch/qwen2.gguf", "hf/qwen2"
    DType weights = DType::F32;         // dtype of the model's matrices (blk.0.attn_output.weight)
    std::string prompt;                 // the text llama.cpp tokenized
    std::vector<uint32> prompt_tokens;  // BOS included
    std::vector<uint32> greedy_tokens;  // greedy continuation (may be empty)
    uint32 n_vocab = 0;
    std::vector<float> logits;          // (prompt_tokens.size(), n_vocab), row-major

    const float* logits_at(size_t pos) const { return logits.data() + pos * n_vocab; }
    // True when top-1 beats top-2 by more than `margin` at prompt position pos (argmax must agree).
    bool decisive(size_t pos, float margin = 1e-2f) const;
    // The README's per-position NMSE limit: f32 weights 1e-6 (arch-* cases 1e-5: llama.cpp's
    // f16 KV cache and f16 GELU table), f16 / bf16 weights 1e-4.
    double tolerance() const;
    bool is_arch() const { return name.rfind("arch-", 0) == 0; }
    bool is_hf() const { return name.rfind("hf-", 0) == 0; }  // a Hugging Face folder (random weights, like arch-*)
};

// Loads reference_dir()/NAME.json and NAME.logits.f32 (arch-NAME: from reference_dir()/arch);
// checks the logits file size and reads the model's matrix dtype from its header.
Expected<ReferenceCase> load_reference_case(const std::string& name);

// Every case of reference_dir(), sorted: NAME for each NAME.json at the top level, then
// arch-NAME for each arch/NAME.json, then hf-NAME for each hf/NAME.json.
std::vector<std::string> list_reference_cases();

// gtest's test-name generator for parameters that are case or preset names
// ("stories260K.once" -> "stories260K_once": names take letters, digits and '_' only).
struct CaseName {
    template <class Info>
    std::string operator()(const Info& info) const {
        std::string s = info.param;
        for (char& c : s)
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        return s;
    }
};

// The engine's refusal of this case's model when it uses a feature not implemented (a
// message naming "mixture-of-experts": a layout the engine lacks, e.g. shared experts), or
// nullopt when the model loads (every case of ../shared today). The Vulkan tests skip such
// cases with this message (VulkanCaseSkip.h).
std::optional<std::string> unimplemented_reason(const ReferenceCase& c);

// NMSE = sum((a - b)^2) / sum(b^2), in double; b is the reference.
double nmse(const float* a, const float* b, size_t n);
size_t argmax(const float* x, size_t n);

}  // namespace vk_symbiote::test
