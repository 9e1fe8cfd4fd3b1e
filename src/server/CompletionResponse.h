// CompletionResponse: the JSON OpenAI clients expect back: a whole chat.completion /
// text_completion object, or the chunks of a stream (chat.completion.chunk / text_completion
// with partial text), with usage, finish_reason and logprobs in each endpoint's own shape.
#pragma once

#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "server/CompletionRequest.h"
#include "vk_symbiote/Generation.h"

namespace vk_symbiote {
class Tokenizer;
}

namespace vk_symbiote::server {

// What every object of one response shares.
struct ResponseContext {
    Endpoint endpoint = Endpoint::Chat;
    std::string id;        // "chatcmpl-..." / "cmpl-..."
    int64 created = 0;     // Unix seconds
    std::string model;
    const Tokenizer* tokenizer = nullptr;  // token texts of logprobs
};

ResponseContext make_response_context(Endpoint endpoint, std::string model, const Tokenizer& tok);

// "stop" or "length" (a filled context is a length limit too); nullptr while running.
const char* openai_finish_reason(FinishReason r);
nlohmann::json usage_json(const GenerationStatus& st);
// The whole answer of a non-streamed request.
nlohmann::json completion_json(const ResponseContext& ctx, const GenerationStatus& st, bool with_logprobs);
// One streamed chunk: new text and the logprobs of new tokens; finish_reason when it ends
// (nullptr before). The chat's first chunk carries the assistant role.
nlohmann::json chunk_json(const ResponseContext& ctx, const std::string& text, std::span<const TokenLogprob> logprobs, bool with_logprobs,
                          const char* finish_reason, bool first);
// The last chunk of a stream with stream_options.include_usage: no choices, the usage.
nlohmann::json usage_chunk_json(const ResponseContext& ctx, const GenerationStatus& st);

}  // namespace vk_symbiote::server
