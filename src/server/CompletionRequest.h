// CompletionRequest: an OpenAI request body (POST /v1/chat/completions or /v1/completions)
// read into the engine's terms: the conversation or prompt, and GenerationOptions (sampling,
// stop strings, max_tokens, logprobs). Fields OpenAI defines and this server cannot honour
// (n other than 1, non-text message parts) are refused with 400 naming the field; fields it
// does not know (user, metadata, ...) are ignored as OpenAI's own API ignores unknown ones.
// llama.cpp's extensions are read too: top_k, min_p, repeat_penalty, ignore_eos.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/ApiError.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote::server {

enum class Endpoint { Chat, Completion };

struct CompletionRequest {
    Endpoint endpoint = Endpoint::Chat;
    nlohmann::ordered_json messages;   // Chat: [{"role", "content" (text)}, ...]
    std::string prompt;                // Completion: the text, when not given as token ids
    std::vector<uint32> prompt_tokens; // Completion: the prompt as token ids, when given so
    GenerationOptions options;
    bool stream = false;
    bool include_usage = false;        // stream_options.include_usage: a last chunk with the usage
};

// What a request gets when it says nothing, and what it may ask for.
struct RequestDefaults {
    GenerationOptions options;      // the server's sampling options (--temperature, --max-tokens, ...)
    uint32 max_tokens_limit = 4096; // --max-tokens-limit
};

// Fills `out` from `body` (a parsed JSON value); the error names the field at fault.
std::optional<ApiError> parse_completion_request(const nlohmann::json& body, Endpoint endpoint, const RequestDefaults& defaults,
                                                 CompletionRequest& out);

}  // namespace vk_symbiote::server
