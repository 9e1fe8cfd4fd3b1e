// Batched-pass helpers shared by the CPU and Vulkan batch tests: the mixed-length sequences a
// reference case is checked with, and their all-position logits computed together through a
// backend's forward_batch over its KV pool.
#pragma once

#include <vector>

#include "backend/Backend.h"

namespace vk_symbiote::test {

// Three sequences of mixed lengths made of a prompt's tokens: the prompt, its first half (at
// least 2 tokens) and the prompt reversed.
std::vector<std::vector<uint32>> mixed_sequences(const std::vector<uint32>& prompt);

// All-position logits ([tokens x n_vocab] per sequence) of every sequence together: each pass
// feeds every unfinished sequence its next `step` tokens, so prompt chunks of different lengths
// and positions share each pass. Every block goes back to `be`'s pool at the end.
std::vector<std::vector<float>> batched_logits(Backend& be, const std::vector<std::vector<uint32>>& seqs, uint32 step, uint32 n_vocab);

// forward_batch refuses bad chunks with InvalidArgument, naming the fault: a table that does
// not cover the chunk, one table twice, more rows than n_batch, no chunk at all, and a token
// id past the vocabulary (its message holding `bad_token_words`, which the backends word
// differently). `be` is prepared for stories260K (512 tokens) with n_ctx 32 and n_batch 4;
// the blocks it takes stay in use.
void expect_bad_chunks_refused(Backend& be, const char* bad_token_words);

}  // namespace vk_symbiote::test
