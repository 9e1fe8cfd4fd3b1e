// PreTokenizer: splits text into words before byte-level BPE merges, reproducing the regex
// pre-tokenizer llama.cpp selects by `tokenizer.ggml.pre` (table of names in PreTokenizer.cpp).
// Ordered split passes, each keeping matches and the text between them; the regexes need
// Unicode categories std::regex lacks, so each is a hand-written matcher over codepoints.
// Immutable after lookup; split() is reentrant.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// One split pass. Names give the regex it reproduces (llama.cpp's regex text).
enum class SplitPass : uint8 {
    Gpt2,            // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
    Llama3,          // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    Qwen2,           // as Llama3 with \p{N} (single digits)
    Number,          // \p{N}
    Numbers,         // \p{N}+
    AsciiDigits3,    // [0-9][0-9][0-9]
    PunctRun,        // [\p{P}\$\+<=>\^~\|`]+
    Newline,         // [\r\n]
    SpaceLetters,    // \s?\p{L}+
    SpacePunct,      // \s?\p{P}+
    DeepseekLetters, // \s?[A-Za-zµÀ-Ö...]+ (DeepSeek LLM's explicit cased-letter class)
    DeepseekPunct,   // \s?[!-/:-~！-／：-～‘-‟　-。]+
    TrailingSpace,   // \s+$  ($ = end of the segment)
    Cjk,             // [一-龥ࠀ-一가-퟿]+
};

struct PreTokenizerInfo {
    std::string_view name;            // canonical family name (llama.cpp's enum), for messages
    std::vector<SplitPass> passes;
    bool ignore_merges = false;       // a whole word that is a token skips the merges (llama3)
    bool add_bos = false;             // default of tokenizer.ggml.add_bos_token for this family
};

class PreTokenizer {
public:
    // Looks up the `tokenizer.ggml.pre` value ("" means llama.cpp's "default").
    // Unknown names are an Unsupported error naming `file` and the value.
    static Expected<PreTokenizer> from_name(std::string_view pre, const std::string& file);
    // The split pass of a tokenizer.json "Split" regex, looked up by the regex's exact text;
    // nullopt for a regex no pass reproduces.
    static std::optional<PreTokenizer> from_regex(std::string_view regex);

    const PreTokenizerInfo& info() const { return *info_; }

    // Splits UTF-8 text into words (UTF-8, unmapped). Invalid UTF-8 bytes become U+FFFD.
    std::vector<std::string> split(std::string_view text) const;
    // Same on codepoints: returns the length (in codepoints) of each consecutive piece.
    std::vector<size_t> split_cpts(const std::vector<uint32>& cpts) const;

private:
    explicit PreTokenizer(const PreTokenizerInfo* info) : info_(info) {}
    const PreTokenizerInfo* info_;
};

}  // namespace vk_symbiote
