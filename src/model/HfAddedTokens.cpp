#include "model/HfAddedTokens.h"

#include <algorithm>

#include "model/Tokenizer.h"
#include "model/Unicode.h"

namespace vk_symbiote {

namespace {

bool is_word_char(uint32 c) { return c == '_' || unicode::is_letter(c) || unicode::is_number(c); }

// Whether a letter, digit or '_' sits right before `begin` or right at `end`.
bool touches_word(std::string_view text, size_t begin, size_t end) {
    if (begin > 0) {
        size_t lead = begin - 1;
        while (lead > 0 && begin - lead < 4 && (static_cast<uint8>(text[lead]) & 0xC0) == 0x80) --lead;
        const std::vector<uint32> before = unicode::utf8_to_cpts(text.substr(lead, begin - lead));
        if (!before.empty() && is_word_char(before.back())) return true;
    }
    if (end < text.size()) {
        const size_t n = std::min(unicode::utf8_len(static_cast<uint8>(text[end])), text.size() - end);
        const std::vector<uint32> after = unicode::utf8_to_cpts(text.substr(end, n));
        if (!after.empty() && is_word_char(after.front())) return true;
    }
    return false;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<HfAddedToken>& tokens) {
    nodes_.emplace_back();
    for (const HfAddedToken& t : tokens) {
        if (t.content.empty()) continue;
        uint32 node = 0;
        for (char c : t.content) {
            const uint8 b = static_cast<uint8>(c);
            uint32 next = child(node, b);
            if (next == 0) {
                next = static_cast<uint32>(nodes_.size());
                nodes_.emplace_back();
                auto& edges = nodes_[node].next;
                edges.insert(std::upper_bound(edges.begin(), edges.end(), std::make_pair(b, 0u)), {b, next});
            }
            node = next;
        }
        if (nodes_[node].token >= 0) continue;  // same contents as an earlier token
        nodes_[node].token = static_cast<int32>(tokens_.size());
        tokens_.push_back(t);
    }
}

uint32 AddedTokenMatcher::child(uint32 node, uint8 byte) const {
    const auto& edges = nodes_[node].next;
    auto it = std::lower_bound(edges.begin(), edges.end(), std::make_pair(byte, 0u));
    return it != edges.end() && it->first == byte ? it->second : 0;
}

const HfAddedToken* AddedTokenMatcher::longest_at(std::string_view text, size_t pos, bool parse_special, size_t* len) const {
    const HfAddedToken* best = nullptr;
    uint32 node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
        node = child(node, static_cast<uint8>(text[i]));
        if (node == 0) break;
        const int32 t = nodes_[node].token;
        if (t >= 0 && (parse_special || !tokens_[t].special)) {
            best = &tokens_[t];
            *len = i + 1 - pos;
        }
    }
    return best;
}

std::vector<AddedTokenMatcher::Split> AddedTokenMatcher::split(std::string_view text, bool parse_special) const {
    std::vector<Split> out;
    size_t done = 0;  // text before `done` is in `out`
    size_t pos = 0;
    while (pos < text.size() && !tokens_.empty()) {
        size_t len = 0;
        const HfAddedToken* t = longest_at(text, pos, parse_special, &len);
        if (t == nullptr) {
            ++pos;
            continue;
        }
        size_t begin = pos, end = pos + len;
        pos = end;  // a discarded match is skipped whole, as Hugging Face does
        if (t->single_word && touches_word(text, begin, end)) continue;
        if (t->lstrip) begin = unicode::whitespace_start(text, done, begin);
        if (t->rstrip) end = unicode::whitespace_end(text, end);
        if (begin > done) out.push_back({done, begin, kNoTokenId});
        out.push_back({begin, end, t->id});
        done = pos = end;
    }
    if (done < text.size()) out.push_back({done, text.size(), kNoTokenId});
    return out;
}

}  // namespace vk_symbiote
