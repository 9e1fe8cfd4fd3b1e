// The "decoder" of a tokenizer.json, turned into what each token decodes to. Hugging Face runs
// the decoder over a list of token strings; the steps these files use act on each token alone
// (ByteLevel, Replace, ByteFallback, Metaspace) or on the joined text (Fuse joins; a Strip of
// one leading " " after it, like Metaspace's prepended "▁", only removes the space the encoder
// added at the start of the text). So a token's bytes can be computed once, and decoding is
// concatenation: exact bytes, also for byte-fallback tokens and for characters split across
// tokens (Hugging Face would print U+FFFD there). Other decoders, and Strip / Replace uses
// that are not per token, are refused by name.
//
// Immutable after from_json(); piece() is reentrant.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class HfDecoder {
public:
    // `j`: the decoder object (null is refused: Hugging Face would join tokens with spaces).
    static Expected<HfDecoder> from_json(const nlohmann::json& j, const std::string& where);

    std::string piece(std::string_view token) const;  // the bytes `token` decodes to
    // Decoding drops one " " at the start of a text (the encoder's added prefix space).
    bool strips_leading_space() const { return strip_leading_space_; }

private:
    enum class Kind : uint8 { ByteLevel, Replace, ByteFallback };
    struct Step {
        Kind kind = Kind::ByteLevel;
        std::string pattern, content;  // Replace
    };
    ExpectedVoid add(const nlohmann::json& j, const std::string& where);
    ExpectedVoid add_strip(const nlohmann::json& j, const std::string& where);
    ExpectedVoid add_replace(const nlohmann::json& j, const std::string& where);
    ExpectedVoid add_metaspace(const nlohmann::json& j, const std::string& where);

    std::vector<Step> steps_;
    bool fused_ = false;     // a Fuse step came: later steps see the joined text
    bool stripped_ = false;  // a Strip step came: it must be the last
    bool strip_leading_space_ = false;
};

}  // namespace vk_symbiote
