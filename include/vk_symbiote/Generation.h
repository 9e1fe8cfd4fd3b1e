// Generation: the public vocabulary of one generation in flight: the token callback, why a
// generation ended, and what status() reports about it (VulkanSymbioteEngine::submit and
// friends). Included by VulkanSymbioteEngine.h.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Called with each generated piece of text (complete UTF-8 only) and the token id.
// Return false to stop early.
using TokenCallback = std::function<bool(const std::string& piece, uint32 token)>;

// Why a generation ended.
enum class FinishReason : uint32 {
    None = 0,      // not yet: waiting for KV cache blocks, or running
    Stop,          // an end-of-generation token (unless ignore_eos) or a stop string
    Length,        // max_tokens generated
    Cancelled,     // cancel(), or the token callback returned false
    ContextLimit,  // the sequence filled its context (--ctx-size, or the KV cache's --kv-pool-tokens)
    Error,         // the forward pass failed (GenerationStatus::error says why)
};
const char* finish_reason_name(FinishReason r);  // "stop", "length", ...

using GenerationId = uint64;

// Log probabilities of one generated token under the model (log-softmax of the raw logits,
// before penalties, truncation and temperature), when GenerationOptions::logprobs asks.
struct TokenLogprob {
    uint32 token = 0;
    float logprob = 0;
    std::vector<std::pair<uint32, float>> top;  // the top_logprobs most likely (token, logprob), best first
};

struct GenerationStatus {
    bool known = false;                  // false: no such generation (never submitted, or released)
    bool waiting = false;                // queued until the KV cache has room for it
    FinishReason finish = FinishReason::None;
    std::string error;                   // FinishReason::Error: what failed
    std::vector<uint32> tokens;          // generated so far
    std::string text;                    // generated so far (complete UTF-8, stop strings removed)
    std::vector<TokenLogprob> logprobs;  // one per generated token (options.logprobs), else empty
    uint32 prompt_tokens = 0;
    uint32 cached_prompt_tokens = 0;     // prompt positions shared from prefix_from, not computed
    double time_to_first_token_ms = 0;   // submit -> first token sampled (0 before)
    double decode_ms = 0;                // first token -> last token sampled
};

}  // namespace vk_symbiote
