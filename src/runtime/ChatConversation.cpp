#include "runtime/ChatConversation.h"

#include "model/Tokenizer.h"

namespace vk_symbiote {

void ChatConversation::add_message(const std::string& role, const std::string& content) {
    messages_.push_back({{"role", role}, {"content", content}});
}

std::vector<uint32> ChatConversation::tokenize(const std::string& text, bool at_start) const {
    std::vector<uint32> ids;
    if (at_start && tok_.add_bos() && tok_.bos_id() != Tokenizer::kNoToken) {
        const std::string& bos = tok_.token_text(tok_.bos_id());
        if (bos.empty() || text.compare(0, bos.size(), bos) != 0) ids.push_back(tok_.bos_id());
    }
    const std::vector<uint32> body = tok_.encode(text, /*add_special=*/false, /*parse_special=*/true);
    ids.insert(ids.end(), body.begin(), body.end());
    return ids;
}

Expected<std::vector<uint32>> ChatConversation::next_prompt() {
    auto rendered = tmpl_.render(messages_, options_);
    if (!rendered) return rendered.error();
    // Keep the earlier pieces the new rendering still starts with.
    size_t kept = 0, offset = 0;
    while (kept < pieces_.size() && rendered->compare(offset, pieces_[kept].text.size(), pieces_[kept].text) == 0) {
        offset += pieces_[kept].text.size();
        ++kept;
    }
    pieces_.resize(kept);
    std::vector<uint32> ids;
    for (const Piece& p : pieces_) ids.insert(ids.end(), p.tokens.begin(), p.tokens.end());
    reused_ = ids.size();
    if (offset < rendered->size() || pieces_.empty()) {
        Piece suffix{rendered->substr(offset), tokenize(rendered->substr(offset), pieces_.empty())};
        ids.insert(ids.end(), suffix.tokens.begin(), suffix.tokens.end());
        pieces_.push_back(std::move(suffix));
    }
    return ids;
}

Expected<std::vector<uint32>> ChatConversation::next_prompt_within(size_t max_tokens, size_t& dropped) {
    dropped = 0;
    while (true) {
        auto ids = next_prompt();
        if (!ids || ids->size() <= max_tokens) return ids;
        size_t first = 0;
        while (first < messages_.size() && messages_[first].value("role", "") == "system") ++first;
        if (first + 1 >= messages_.size())
            return make_error(ErrorCode::BudgetTooSmall, "the message makes a prompt of " + std::to_string(ids->size()) + " tokens, more than the " +
                                                              std::to_string(max_tokens) + " the context leaves");
        size_t end = first + 1;
        while (end + 1 < messages_.size() && messages_[end].value("role", "") != "user") ++end;
        messages_.erase(messages_.begin() + std::ptrdiff_t(first), messages_.begin() + std::ptrdiff_t(end));
        dropped += end - first;
    }
}

void ChatConversation::drop_last_message() {
    if (!messages_.empty()) messages_.erase(messages_.size() - 1);
}

void ChatConversation::add_reply(const std::string& text, const std::vector<uint32>& tokens) {
    add_message("assistant", text);
    if (!tokens.empty()) pieces_.push_back({text, tokens});
}

}  // namespace vk_symbiote
