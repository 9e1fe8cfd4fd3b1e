// ChatConversation: the messages of one chat and the token ids the model has seen for them.
//
// Each turn the whole conversation is rendered again with the chat template (a template may
// rewrite earlier turns, e.g. Qwen3 drops the reasoning of old replies), and the rendering is
// compared with the text already turned into tokens: the longest run of earlier pieces (the
// prompts, the model's own reply tokens) that the new rendering still starts with keeps its
// token ids, and only the rest of the text is tokenized. So the prompt of turn n+1 starts
// with exactly the ids of turn n's prompt and reply whenever the template leaves them as they
// were.
//
// KV cache: the engine does not keep a sequence's KV cache from one generate call to the next
// yet (generate_tokens resets the session and evaluates the whole prompt). The ids of the
// common prefix stay identical from turn to turn, which is what reusing the cache needs: when
// the session keeps the cache of a matching prefix, chat evaluates only the new suffix, with
// no change here. reused_tokens() says how long that prefix is.
//
// Tokenization: special-token text is parsed (the template writes control tokens as text);
// BOS is added when the vocabulary asks for it and the rendering does not start with it.
// With SentencePiece vocabularies that prefix a space, a suffix that starts in plain text is
// tokenized as the start of a text, as llama.cpp's chat does.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/ChatTemplate.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class Tokenizer;

class ChatConversation {
public:
    // `tmpl` and `tok` must outlive the conversation.
    ChatConversation(const ChatTemplate& tmpl, const Tokenizer& tok, ChatRenderOptions options = {})
        : tmpl_(tmpl), tok_(tok), options_(std::move(options)) {}

    void add_message(const std::string& role, const std::string& content);
    // Renders the conversation with the assistant's turn opened; the ids of the whole prompt.
    Expected<std::vector<uint32>> next_prompt();
    // next_prompt() within `max_tokens`: while the prompt is longer, the oldest turn (the first
    // message after the system prompt and the replies up to the next user message) is dropped;
    // `dropped` counts the messages removed. When the newest message does not
    // fit even alone with the system prompt: BudgetTooSmall (the context is the budget; the caller
    // may drop_last_message() and go on); template errors keep their own codes.
    Expected<std::vector<uint32>> next_prompt_within(size_t max_tokens, size_t& dropped);
    // Removes the newest message (a user message that could not be sent).
    void drop_last_message();
    // The model's reply to the last prompt: its text (an assistant message) and its token ids;
    // empty ids when they no longer match the text (e.g. a cut reply): the text is then
    // tokenized again with the next prompt.
    void add_reply(const std::string& text, const std::vector<uint32>& tokens);

    const nlohmann::ordered_json& messages() const { return messages_; }
    size_t reused_tokens() const { return reused_; }  // ids of the last prompt kept from before

private:
    struct Piece {
        std::string text;
        std::vector<uint32> tokens;
    };
    std::vector<uint32> tokenize(const std::string& text, bool at_start) const;

    const ChatTemplate& tmpl_;
    const Tokenizer& tok_;
    ChatRenderOptions options_;
    nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
    std::vector<Piece> pieces_;  // the text turned into tokens so far, in order
    size_t reused_ = 0;
};

}  // namespace vk_symbiote
