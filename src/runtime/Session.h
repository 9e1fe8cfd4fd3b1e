// Session: one sequence being evaluated: the backend (which owns the KV cache), the
// current position and the tokens fed so far. Mutable per-call state lives here; the
// model (config, weights) is immutable and shared.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "backend/Backend.h"
#include "model/ChatTemplate.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class Session {
public:
    Session(Backend& backend, uint32 n_vocab, uint32 n_batch) : backend_(backend), n_vocab_(n_vocab), n_batch_(n_batch) {}

    // Feeds tokens at the current position. Returns logits [all ? n : 1][n_vocab].
    // Batches larger than n_batch are split; the KV cache keeps growing.
    Expected<std::vector<float>> eval(const std::vector<uint32>& tokens, bool all_logits);
    void reset();
    // Keeps positions [0, pos) (pos <= pos()): the next eval() continues from pos, its K / V
    // overwriting what followed (a cached prefix reused).
    void rewind(uint32 pos);
    uint32 pos() const { return pos_; }
    uint32 n_ctx() const { return backend_.n_ctx(); }
    const std::vector<uint32>& history() const { return history_; }

private:
    Backend& backend_;
    uint32 n_vocab_;
    uint32 n_batch_;
    uint32 pos_ = 0;
    std::vector<uint32> history_;
};

// ChatHistory: the messages of a chat and the prompt for the next reply, fitted to the
// context. When the conversation outgrows it, the oldest turns go first (the system prompt
// stays), so a long chat goes on; the caller says so in one line.
class ChatHistory {
public:
    // Tokens of a prompt text as the engine will feed it (BOS included).
    using TokenCount = std::function<size_t(const std::string&)>;

    explicit ChatHistory(ChatFormat format, std::string system_prompt = "");

    void add_user(std::string text) { messages_.push_back({"user", std::move(text)}); }
    void add_assistant(std::string text) { messages_.push_back({"assistant", std::move(text)}); }
    // Drops the newest message (a user message that could not be answered).
    void drop_last() { if (messages_.size() > first_turn_) messages_.pop_back(); }
    const std::vector<ChatMessage>& messages() const { return messages_; }

    struct Prompt {
        std::string text;             // format_chat() of what was kept
        size_t tokens = 0;            // count(text)
        size_t dropped_messages = 0;  // oldest turns dropped by this call (user and assistant)
    };
    // The conversation ending in the assistant's turn, with count(text) + reply_tokens <=
    // n_ctx: the oldest messages after the system prompt are dropped (for good) until it
    // fits. InvalidArgument, saying how many tokens the message has and the context holds,
    // when the newest user message alone (with the system prompt) does not fit.
    Expected<Prompt> next_prompt(const TokenCount& count, uint32 n_ctx, uint32 reply_tokens);

private:
    ChatFormat format_;
    std::vector<ChatMessage> messages_;
    size_t first_turn_ = 0;  // messages_[0] is the system prompt when 1
};

}  // namespace vk_symbiote
