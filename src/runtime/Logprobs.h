// Logprobs: log probabilities of a row of logits, as OpenAI's `logprobs` / `top_logprobs`
// report them (llama.cpp's server does the same from the raw logits): the log-softmax over the
// whole vocabulary, before any penalty, truncation or temperature.
#pragma once

#include "vk_symbiote/Generation.h"

namespace vk_symbiote {

// Token `token`'s log probability under logits [n_vocab], with the `k` most likely tokens
// (best first, ties to the lower id).
TokenLogprob token_logprobs(const float* logits, uint32 n_vocab, uint32 token, uint32 k);

}  // namespace vk_symbiote
