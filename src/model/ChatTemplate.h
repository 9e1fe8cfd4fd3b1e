// ChatTemplate: formats a conversation the way the model was trained to see it. GGUF
// files carry a Jinja template (tokenizer.chat_template); like llama.cpp we do not run
// Jinja but recognise the known template families by their markers (a table) and
// format with the matching hand-written formatter. Unknown or absent templates fall
// back to a plain "User:/Assistant:" transcript (logged by the caller).
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

// Picks the family from the template text (nullopt / empty -> Plain).
ChatFormat detect_chat_format(const std::optional<std::string>& tmpl);

// The prompt text for `messages`, ending with the opening of the assistant's turn.
// BOS is not included (the tokenizer adds it when the model asks for it).
std::string format_chat(ChatFormat f, const std::vector<ChatMessage>& messages);

}  // namespace vk_symbiote
