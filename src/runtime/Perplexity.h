// Perplexity the way llama.cpp's perplexity tool computes it, so numbers compare:
// tokenize the whole text with BOS; cut into consecutive chunks of n_ctx tokens (the
// remainder is dropped); set each chunk's first token to BOS; evaluate each chunk from
// an empty cache; score the tokens at positions n_ctx/2+1 .. n_ctx-1 given their
// prefix: NLL_i = -log softmax(logits[i-1])[tok[i]]. PPL = exp(mean NLL over all scored
// tokens of all chunks).
#pragma once

#include <functional>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct PerplexityResult {
    double ppl = 0;
    double mean_nll = 0;
    uint64 n_scored = 0;
    uint32 n_chunks = 0;
};

// Evaluates one chunk from an empty cache and returns logits [n][n_vocab] for every position.
using ChunkEvaluator = std::function<Expected<std::vector<float>>(const std::vector<uint32>& chunk)>;
// Called after each chunk with (chunk index, chunks total, running PPL).
using PerplexityProgress = std::function<void(uint32, uint32, double)>;

// Negative log-likelihood of `target` under softmax(logits[0..n_vocab)), computed in double.
double token_nll(const float* logits, uint32 n_vocab, uint32 target);

// Errors: InvalidArgument (context below 4, text shorter than one chunk), the evaluator's,
// Format when a scored position's logits are not finite (the chunk and position named).
Expected<PerplexityResult> compute_perplexity(const std::vector<uint32>& tokens_with_bos, uint32 bos_id, uint32 n_ctx, uint32 n_vocab,
                                              const ChunkEvaluator& eval, const PerplexityProgress& progress = {});

}  // namespace vk_symbiote
