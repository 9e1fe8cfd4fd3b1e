// PromptTokens: the token ids a request's generation starts from. Chat: the messages rendered
// by the model's chat template, tokenized with special tokens parsed and BOS added unless the
// rendering starts with it (as `chat` does, runtime/ChatConversation); completions: the prompt
// text (BOS as the model asks) or the client's token ids, checked against the vocabulary. Both
// must leave room in the context for one generated token.
#pragma once

#include <optional>
#include <vector>

#include "model/ChatTemplate.h"
#include "server/ApiError.h"
#include "server/CompletionRequest.h"

namespace vk_symbiote {
class Tokenizer;
}

namespace vk_symbiote::server {

// The chat template's prompt text for `messages` (a generation prompt appended).
std::optional<ApiError> render_chat(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages, std::string& out);

std::optional<ApiError> prompt_tokens(const CompletionRequest& req, const ChatTemplate& tmpl, const Tokenizer& tok, uint32 context_size,
                                      std::vector<uint32>& out);

}  // namespace vk_symbiote::server
