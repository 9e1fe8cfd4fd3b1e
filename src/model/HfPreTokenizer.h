// The "pre_tokenizer" of a tokenizer.json: steps that cut each normalized stretch of text into
// the pieces the BPE model encodes one by one, applied in order (a "Sequence" is flattened).
// Supported: Split (a String pattern with any behaviour, or one of the regexes the PreTokenizer
// passes reproduce, "Isolated"), ByteLevel, Metaspace, Digits, WhitespaceSplit, Sequence;
// anything else is refused by name when read.
//
// Immutable after from_json(); apply() is reentrant.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/PreTokenizer.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// What becomes of the matches of a split (Hugging Face's SplitDelimiterBehavior): dropped,
// pieces of their own, joined to the piece before / after (unless that is a match too), or
// runs of adjacent matches joined into one piece.
enum class SplitBehavior : uint8 { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// One piece of text on its way to the model.
struct HfPiece {
    std::string text;
    bool at_start = false;  // begins at the very start of the encoded text (Metaspace "first")
};

class HfPreTokenizer {
public:
    // `j`: the pre_tokenizer object, or null for none. `where` names it in errors.
    static Expected<HfPreTokenizer> from_json(const nlohmann::json& j, const std::string& where);

    // Replaces each piece by the pieces it splits into (empty pieces are dropped).
    void apply(std::vector<HfPiece>& pieces) const;

private:
    enum class Kind : uint8 { SplitString, SplitRegex, ByteLevel, Metaspace, Digits, WhitespaceSplit };
    enum class Prepend : uint8 { Always, First, Never };
    struct Step {
        Kind kind = Kind::SplitString;
        std::string pattern;               // SplitString; Metaspace: the replacement character
        std::optional<PreTokenizer> regex;  // SplitRegex; ByteLevel with use_regex: GPT-2's
        SplitBehavior behavior = SplitBehavior::Isolated;
        bool add_prefix_space = false;     // ByteLevel: " " before a piece that lacks one
        Prepend prepend = Prepend::Never;  // Metaspace
        bool split = true;                 // Metaspace: split before each replacement character
        bool individual_digits = false;    // Digits
    };
    ExpectedVoid add(const nlohmann::json& j, const std::string& where);
    ExpectedVoid add_split(const nlohmann::json& j, const std::string& where);
    ExpectedVoid add_metaspace(const nlohmann::json& j, const std::string& where);
    void apply_step(const Step& step, const HfPiece& piece, std::vector<HfPiece>& out) const;

    std::vector<Step> steps_;
};

}  // namespace vk_symbiote
