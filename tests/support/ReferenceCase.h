// ReferenceCase: one case of ../shared/reference (NAME.json + NAME.logits.f32), loaded
// for comparison, and the README's closeness measures. Other backends' tests may copy
// this pattern.
#pragma once

#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::test {

struct ReferenceCase {
    std::string name;                   // e.g. "syn-f16"
    std::string model;                  // file name in ../shared/models
    std::vector<uint32> prompt_tokens;  // BOS included
    std::vector<uint32> greedy_tokens;  // greedy continuation (may be empty)
    uint32 n_vocab = 0;
    std::vector<float> logits;          // (prompt_tokens.size(), n_vocab), row-major

    const float* logits_at(size_t pos) const { return logits.data() + pos * n_vocab; }
    // True when top-1 beats top-2 by more than `margin` at prompt position pos (argmax must agree).
    bool decisive(size_t pos, float margin = 1e-2f) const;
};

// Loads reference_dir()/NAME.json and NAME.logits.f32; checks the logits file size.
Expected<ReferenceCase> load_reference_case(const std::string& name);

// Every case NAME for which NAME.json exists in reference_dir(), sorted.
std::vector<std::string> list_reference_cases();

// NMSE = sum((a - b)^2) / sum(b^2), in double; b is the reference.
double nmse(const float* a, const float* b, size_t n);
size_t argmax(const float* x, size_t n);

}  // namespace vk_symbiote::test
