// Sampler: turns one row of logits into the next token. Order of operations follows
// llama.cpp's default chain so that settings mean the same thing there and here:
// penalties (repetition, frequency, presence) -> top-k -> top-p -> min-p -> temperature -> draw.
// temperature <= 0 means greedy (argmax; ties go to the lowest id).
#pragma once

#include <random>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct SamplerParams {
    float temperature = 0.7f;
    uint32 top_k = 40;            // 0 = disabled
    float top_p = 0.95f;          // 1 = disabled
    float min_p = 0.05f;          // 0 = disabled
    float repeat_penalty = 1.0f;  // 1 = disabled
    // llama.cpp's penalties over the last repeat_last_n tokens: a token seen c times there has
    // its logit divided (positive) or multiplied (negative) by repeat_penalty, then lowered by
    // c x frequency_penalty + presence_penalty (OpenAI's names; 0 = disabled).
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    uint32 repeat_last_n = 64;    // window of recent tokens the penalties look at
    uint64 seed = 0;
};

class Sampler {
public:
    explicit Sampler(const SamplerParams& p);
    // logits: [n_vocab] (modified in place by the penalty); history: tokens so far.
    uint32 sample(float* logits, uint32 n_vocab, const std::vector<uint32>& history);
    // Speculative verification of one drafted token (a deterministic draft: q is a point mass
    // at `draft`). Greedy: the argmax, so the draft is accepted exactly when it equals it.
    // Sampling: returns `draft` with probability p(draft) under the same chain as sample(),
    // else a token drawn from p with the draft's share removed; either way the returned token
    // is distributed as sample()'s. logits: [n_vocab], penalized in place as by sample().
    uint32 verify(float* logits, uint32 n_vocab, const std::vector<uint32>& history, uint32 draft);
    static uint32 argmax(const float* logits, uint32 n_vocab);
    // The penalties alone (the first step of sample()), in place on logits [n_vocab].
    void apply_penalties(float* logits, uint32 n_vocab, const std::vector<uint32>& history) const;
    const SamplerParams& params() const { return p_; }

private:
    // top-k -> top-p -> min-p -> temperature over penalized logits: the survivors in cand_ and
    // their probabilities (same order).
    std::vector<double> distribution(const float* logits, uint32 n_vocab);

    SamplerParams p_;
    std::mt19937_64 rng_;
    std::vector<std::pair<float, uint32>> cand_;  // (logit, id) scratch
};

}  // namespace vk_symbiote
