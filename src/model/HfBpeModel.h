// The "model" of a tokenizer.json of type BPE, encoding one pre-tokenized piece as Hugging
// Face's tokenizers library does: every character becomes its vocabulary token (or, with
// `byte_fallback`, its bytes' "<0xXX>" tokens, else the unknown token, runs of them fused with
// `fuse_unk`), then the adjacent pair whose merge has the lowest rank is merged, leftmost first,
// until no merge applies. `ignore_merges`: a piece that is itself in the vocabulary is one token.
// Merges are read as "a b" strings or ["a", "b"] pairs. `dropout`, `continuing_subword_prefix`
// and `end_of_word_suffix` are refused.
//
// Immutable after build(); encode() is reentrant.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class Tokenizer;

class HfBpeModel {
public:
    // `model`: the tokenizer.json "model" object; `vocab`: its "vocab" by id ("" where no
    // token has the id), as the reader collected it. Errors name `where`.
    static Expected<HfBpeModel> build(const nlohmann::json& model, const std::vector<std::string>& vocab,
                                      const std::string& where);

    // Appends the ids of `piece`. Characters are looked up in `tok` (whose ids are the model's)
    // among the model's own tokens only.
    void encode(const Tokenizer& tok, std::string_view piece, std::vector<uint32>& out) const;

    uint32 unk_id() const { return unk_; }  // kNoTokenId if the model has none
    bool byte_fallback() const { return byte_fallback_; }

private:
    struct Merge {
        uint32 rank, id;  // priority (lower first) and the merged token
    };
    struct Symbol {
        uint32 id;
        int prev, next;
        bool alive;
    };
    static uint64 pair_key(uint32 a, uint32 b) { return (uint64(a) << 32) | b; }
    using VocabIndex = std::unordered_map<std::string_view, uint32>;  // token text -> id, while building
    ExpectedVoid read_merges(const nlohmann::json& merges, const VocabIndex& index, const std::string& where);
    uint32 model_id(const Tokenizer& tok, std::string_view text) const;  // kNoTokenId if not a model token
    std::vector<Symbol> initial_symbols(const Tokenizer& tok, std::string_view piece) const;
    void merge_all(std::vector<Symbol>& syms) const;

    std::unordered_map<uint64, Merge> merges_;  // (left id, right id) -> merge
    std::vector<uint8> in_model_;               // by id: 1 if the id is in the model's vocab
    std::vector<uint32> byte_ids_;              // byte_fallback: byte -> "<0xXX>" id (kNoTokenId if absent)
    uint32 unk_ = 0xFFFFFFFFu;
    bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
};

}  // namespace vk_symbiote
