// The "normalizer" of a tokenizer.json: steps applied in order to each stretch of text between
// added tokens (a "Sequence" is flattened into its steps). Supported: NFC, NFD, Replace (with a
// String pattern), Prepend, Strip, Sequence; anything else is refused by name when read.
// Text that is not valid UTF-8 has each bad sequence replaced by U+FFFD first.
//
// Immutable after from_json(); apply() is reentrant.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class HfNormalizer {
public:
    // `j`: the normalizer object, or null for none. `where` names it in errors
    // ("<file>: normalizer").
    static Expected<HfNormalizer> from_json(const nlohmann::json& j, const std::string& where);

    std::string apply(std::string_view text) const;
    bool empty() const { return steps_.empty(); }

private:
    enum class Kind : uint8 { Nfc, Nfd, Replace, Prepend, Strip };
    struct Step {
        Kind kind = Kind::Nfc;
        std::string pattern, content;  // Replace: every `pattern` becomes `content`; Prepend: `content`
        bool left = false, right = false;  // Strip: whitespace removed at the start / the end
    };
    ExpectedVoid add(const nlohmann::json& j, const std::string& where);

    std::vector<Step> steps_;
};

}  // namespace vk_symbiote
