// Added tokens of a Hugging Face tokenizer (tokenizer.json "added_tokens"): strings cut out of
// the text before the model sees it, each becoming one token, matched as Hugging Face's
// tokenizers library matches them: the leftmost match first, then the longest there; a
// `single_word` token only where no letter, digit or '_' touches it; `lstrip` / `rstrip` also
// take the whitespace on that side. Special tokens are matched only when asked (parse_special).
//
// A byte trie over the contents. Immutable after construction; split() is reentrant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct HfAddedToken {
    uint32 id = 0;
    std::string content;
    bool special = false;
    bool lstrip = false, rstrip = false, single_word = false;
    bool normalized = false;  // matched in the normalized text instead of the raw text
};

class AddedTokenMatcher {
public:
    // Stretch [begin, end) of the text: one added token, or (id == kNoTokenId) text between them.
    struct Split {
        size_t begin, end;
        uint32 id;
    };

    AddedTokenMatcher() = default;
    // Tokens with empty contents are ignored; of two with the same contents the first is kept.
    explicit AddedTokenMatcher(const std::vector<HfAddedToken>& tokens);

    // Cuts `text` into added tokens and the text around them, in order, covering all of it
    // (no empty text stretches).
    std::vector<Split> split(std::string_view text, bool parse_special) const;
    bool empty() const { return tokens_.empty(); }

private:
    struct Node {
        std::vector<std::pair<uint8, uint32>> next;  // (byte, child node), sorted by byte
        int32 token = -1;                            // index into tokens_ of the token ending here
    };
    // The longest token that can be matched at `pos` (nullptr: none), and its length.
    const HfAddedToken* longest_at(std::string_view text, size_t pos, bool parse_special, size_t* len) const;
    uint32 child(uint32 node, uint8 byte) const;  // 0: none (the root is never a child)

    std::vector<HfAddedToken> tokens_;
    std::vector<Node> nodes_;  // nodes_[0] is the root
};

}  // namespace vk_symbiote
