// How a tokenizer.json turns text into ids (Hugging Face's encoding pipeline, minus the
// post-processor, which Tokenizer applies as its prefix / suffix ids):
//   text -> added tokens cut out of the raw text (AddedTokenMatcher)
//        -> each stretch between them normalized (HfNormalizer), then `normalized` added tokens
//           cut out of it
//        -> each remaining stretch pre-tokenized into pieces (HfPreTokenizer)
//        -> each piece encoded by the BPE model (HfBpeModel).
// Built by the tokenizer.json reader (model/HfTokenizerJson.h); immutable, encode() is reentrant.
#pragma once

#include <string_view>
#include <vector>

#include "model/HfAddedTokens.h"
#include "model/HfBpeModel.h"
#include "model/HfNormalizer.h"
#include "model/HfPreTokenizer.h"

namespace vk_symbiote {

class Tokenizer;

class HfPipeline {
public:
    HfPipeline(std::vector<HfAddedToken> added, HfNormalizer normalizer, HfPreTokenizer pre, HfBpeModel model);

    // Appends the ids of `text`; special added tokens are recognised only with parse_special.
    // `tok` is the tokenizer this pipeline belongs to (its vocabulary).
    void encode(const Tokenizer& tok, std::string_view text, bool parse_special, std::vector<uint32>& out) const;

private:
    void encode_stretch(const Tokenizer& tok, std::string_view text, bool at_start, bool parse_special,
                        std::vector<uint32>& out) const;

    AddedTokenMatcher raw_added_;         // added tokens with normalized == false
    AddedTokenMatcher normalized_added_;  // the others, their contents normalized
    HfNormalizer normalizer_;
    HfPreTokenizer pre_;
    HfBpeModel model_;
};

}  // namespace vk_symbiote
