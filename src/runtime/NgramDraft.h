// NgramDraft: prompt-lookup drafting (speculative decoding with no draft model). The last n
// tokens of the context are looked up earlier in the same context; the tokens that followed
// their latest earlier occurrence are the draft. n starts at the n-gram size and shrinks to 1
// until a match is found (prompt lookup decoding; llama.cpp's lookup searches n-grams of 1 to
// 4 tokens the same way). Deterministic: the same context always gives the same draft, so the
// verification treats it as a point mass (Sampler::verify).
#pragma once

#include <span>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ModelDraft;

// Settings of speculative decoding for one sequence (the option table's --draft-* flags).
struct DraftParams {
    bool ngram = false;       // draft from the context (prompt lookup)
    // Draft from a small model of the same vocabulary (--draft-model; not owned, outlives the
    // sequence; nullptr: none). Takes precedence over ngram. Neither: no speculation.
    ModelDraft* model = nullptr;
    uint32 ngram_size = 3;    // longest n-gram looked up, at least 1
    uint32 draft_max = 8;     // most tokens drafted for one verification pass
    uint32 draft_min = 1;     // a shorter draft is not verified (the sequence decodes plainly)
    bool adaptive = true;     // draft length from the measured acceptance and pass cost
    bool enabled() const { return (ngram || model) && draft_max > 0; }
};

// max_tokens tokens that followed the latest earlier occurrence of the context's last n-gram
// (context: prompt and generated tokens); where they reach the context's end, the stretch from
// the occurrence's continuation to the end repeats (a loop goes on). Empty when no suffix of
// 1 .. ngram_size tokens occurred before.
std::vector<uint32> ngram_draft(std::span<const uint32> context, uint32 ngram_size, uint32 max_tokens);

}  // namespace vk_symbiote
