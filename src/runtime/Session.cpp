#include "runtime/Session.h"

#include <algorithm>

namespace vk_symbiote {

Expected<std::vector<float>> Session::eval(const std::vector<uint32>& tokens, bool all_logits) {
    if (tokens.empty()) return make_error(ErrorCode::InvalidArgument, "eval: no tokens");
    for (uint32 t : tokens)
        if (t >= n_vocab_) return make_error(ErrorCode::InvalidArgument, "eval: token id " + std::to_string(t) + " outside the vocabulary (" + std::to_string(n_vocab_) + ")");
    if (uint64(pos_) + tokens.size() > backend_.n_ctx())
        return make_error(ErrorCode::InvalidArgument, "context full: position " + std::to_string(pos_) + " + " + std::to_string(tokens.size()) +
                                                          " tokens exceeds the context size " + std::to_string(backend_.n_ctx()) + " (raise --ctx-size)");
    std::vector<float> out(size_t(all_logits ? tokens.size() : 1) * n_vocab_);
    for (size_t b = 0; b < tokens.size(); b += n_batch_) {
        uint32 n = uint32(std::min<size_t>(n_batch_, tokens.size() - b));
        bool last_chunk = b + n == tokens.size();
        ForwardRequest req;
        req.tokens = tokens.data() + b;
        req.n_tokens = n;
        req.pos = pos_;
        req.all_logits = all_logits;
        std::vector<float> tmp;
        if (all_logits) {
            req.logits = out.data() + b * n_vocab_;
        } else if (last_chunk) {
            req.logits = out.data();
        } else {
            tmp.resize(n_vocab_);  // logits of a non-final chunk are not needed
            req.logits = tmp.data();
        }
        VKS_TRY(backend_.forward(req));
        pos_ += n;
        history_.insert(history_.end(), tokens.begin() + long(b), tokens.begin() + long(b + n));
    }
    return out;
}

void Session::rewind(uint32 pos) {
    if (pos >= pos_) return;
    pos_ = pos;
    history_.resize(pos);
}

void Session::reset() {
    backend_.reset();
    pos_ = 0;
    history_.clear();
}

ChatHistory::ChatHistory(ChatFormat format, std::string system_prompt) : format_(format) {
    if (system_prompt.empty()) return;
    messages_.push_back({"system", std::move(system_prompt)});
    first_turn_ = 1;
}

Expected<ChatHistory::Prompt> ChatHistory::next_prompt(const TokenCount& count, uint32 n_ctx, uint32 reply_tokens) {
    Prompt p;
    const size_t room = n_ctx > reply_tokens ? n_ctx - reply_tokens : 0;
    while (true) {
        p.text = format_chat(format_, messages_);
        p.tokens = count(p.text);
        if (p.tokens <= room) return p;
        if (messages_.size() <= first_turn_ + 1) break;  // the newest message alone is too long
        // A whole turn goes: the user message and the replies to it, so the kept
        // conversation still opens with a user message, as templates expect.
        do {
            messages_.erase(messages_.begin() + long(first_turn_));
            ++p.dropped_messages;
        } while (messages_.size() > first_turn_ + 1 && messages_[first_turn_].role != "user");
    }
    return make_error(ErrorCode::InvalidArgument, "the message takes " + std::to_string(p.tokens) + " tokens" +
                                                      (first_turn_ ? " with the system prompt" : "") + ", the context holds " + std::to_string(n_ctx) +
                                                      " with " + std::to_string(reply_tokens) + " kept for the reply (raise --ctx-size)");
}

}  // namespace vk_symbiote
