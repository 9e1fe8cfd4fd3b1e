// CpuLogits: every position's logits of a prompt through the CPU backend at the reference's
// attention precision (llama.cpp's f16 KV cache), the baseline the tests compare other weight
// providers (packs, compressed packs) and batched passes against.
#pragma once

#include <vector>

#include "memory/WeightProvider.h"

namespace vk_symbiote::test {

// (tokens.size(), n_vocab) row-major: `tokens` as one sequence from position 0 in one
// forward pass of a fresh 2-thread CpuBackend prepared for n_ctx = tokens.size() and n_batch
// (0: tokens.size()). NaN rows after a failed EXPECT when the pass fails.
std::vector<float> cpu_prompt_logits(WeightProvider& w, const std::vector<uint32>& tokens, uint32 n_batch = 0);

}  // namespace vk_symbiote::test
