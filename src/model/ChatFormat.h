// ChatFormat: the fallback prompt formats for a model that carries no chat template
// (ChatTemplate renders the model's own Jinja template when there is one). The family is
// recognised by its marker strings (a table), looked for in a text: the special tokens of the
// vocabulary, or a template's source; the matching hand-written formatter lays out the
// conversation. Nothing recognised: a plain "User:/Assistant:" transcript.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace vk_symbiote {

struct ChatMessage {
    std::string role;     // "system", "user" or "assistant"
    std::string content;
};

enum class ChatFormat { Plain, ChatML, Llama2, Llama3, Zephyr, Phi3, Gemma, Mistral };

const char* chat_format_name(ChatFormat f);

// Picks the family from a text holding its markers (nullopt / empty -> Plain).
ChatFormat detect_chat_format(const std::optional<std::string>& text);

// The prompt text for `messages`, ending with the opening of the assistant's turn when
// add_generation_prompt is set. BOS is not included (the caller adds it when the model asks).
std::string format_chat(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt = true);

}  // namespace vk_symbiote
