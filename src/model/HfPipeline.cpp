#include "model/HfPipeline.h"

#include "model/Tokenizer.h"

namespace vk_symbiote {

namespace {

std::vector<HfAddedToken> select(const std::vector<HfAddedToken>& tokens, bool normalized, const HfNormalizer& n) {
    std::vector<HfAddedToken> out;
    for (const HfAddedToken& t : tokens) {
        if (t.normalized != normalized) continue;
        out.push_back(t);
        if (normalized) out.back().content = n.apply(t.content);  // matched in normalized text
    }
    return out;
}

}  // namespace

HfPipeline::HfPipeline(std::vector<HfAddedToken> added, HfNormalizer normalizer, HfPreTokenizer pre, HfBpeModel model)
    : raw_added_(select(added, false, normalizer)),
      normalized_added_(select(added, true, normalizer)),
      normalizer_(std::move(normalizer)),
      pre_(std::move(pre)),
      model_(std::move(model)) {}

void HfPipeline::encode(const Tokenizer& tok, std::string_view text, bool parse_special, std::vector<uint32>& out) const {
    for (const AddedTokenMatcher::Split& s : raw_added_.split(text, parse_special)) {
        if (s.id != kNoTokenId) {
            out.push_back(s.id);
            continue;
        }
        encode_stretch(tok, text.substr(s.begin, s.end - s.begin), s.begin == 0, parse_special, out);
    }
}

// One stretch of raw text between added tokens: normalize, cut out normalized added tokens,
// pre-tokenize, encode each piece. `at_start`: the stretch begins the whole text.
void HfPipeline::encode_stretch(const Tokenizer& tok, std::string_view text, bool at_start, bool parse_special,
                                std::vector<uint32>& out) const {
    const std::string normalized = normalizer_.apply(text);
    std::vector<HfPiece> pieces;
    for (const AddedTokenMatcher::Split& s : normalized_added_.split(normalized, parse_special)) {
        if (s.id != kNoTokenId) {
            out.push_back(s.id);
            continue;
        }
        pieces.assign(1, HfPiece{normalized.substr(s.begin, s.end - s.begin), at_start && s.begin == 0});
        pre_.apply(pieces);
        for (const HfPiece& p : pieces) model_.encode(tok, p.text, out);
    }
}

}  // namespace vk_symbiote
