#include "model/HfDecoder.h"

#include "model/HfJson.h"
#include "model/Unicode.h"

namespace vk_symbiote {

namespace {

using namespace hf_json;

constexpr const char* kSupported = "ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence";

// GPT-2's printable characters back to bytes; a token with any other character keeps its text.
std::string byte_level(std::string_view token) {
    std::string out;
    for (uint32 c : unicode::utf8_to_cpts(token)) {
        uint8 b = 0;
        if (!unicode::cpt_to_byte(c, &b)) return std::string(token);
        out += static_cast<char>(b);
    }
    return out;
}

// "<0xXX>" -> the byte XX; other tokens unchanged.
std::string byte_fallback(std::string_view token) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>' || hex(token[3]) < 0 || hex(token[4]) < 0)
        return std::string(token);
    return std::string(1, static_cast<char>(hex(token[3]) * 16 + hex(token[4])));
}

}  // namespace

Expected<HfDecoder> HfDecoder::from_json(const nlohmann::json& j, const std::string& where) {
    if (j.is_null())
        return make_error(ErrorCode::Unsupported, where + ": no decoder (null) is not supported: tokens would be joined with spaces");
    HfDecoder d;
    VKS_TRY(d.add(j, where));
    return d;
}

ExpectedVoid HfDecoder::add(const nlohmann::json& j, const std::string& where) {
    auto type = type_of(j, where);
    if (!type) return type.error();
    if (*type == "Sequence") return for_each_item(j, "decoders", where, [this](const Json& e, const std::string& at) { return add(e, at); });
    // After Fuse the steps see the joined text: only those that act the same there as per token.
    const bool per_char = *type == "Replace" || *type == "Metaspace" || *type == "Strip" || *type == "Fuse";
    if (stripped_ || (fused_ && !per_char))
        return make_error(ErrorCode::Unsupported, where + ": a '" + *type + "' step after " +
                                                      (stripped_ ? "Strip" : "Fuse") + " is not supported");
    if (*type == "Fuse") {
        fused_ = true;
        return {};
    }
    if (*type == "Strip") return add_strip(j, where);
    if (*type == "Replace") return add_replace(j, where);
    if (*type == "Metaspace") return add_metaspace(j, where);
    if (*type == "ByteLevel") {
        steps_.push_back(Step{Kind::ByteLevel, "", ""});
    } else if (*type == "ByteFallback") {
        steps_.push_back(Step{Kind::ByteFallback, "", ""});
    } else {
        return unsupported_type(where, *type, kSupported);
    }
    return {};
}

// Replace {pattern: {String}, content}, per token; after Fuse only a one-character pattern
// (a longer one could span two tokens).
ExpectedVoid HfDecoder::add_replace(const nlohmann::json& j, const std::string& where) {
    auto pattern = string_pattern(j, where);
    auto content = string_at(j, "content", where);
    if (!pattern) return pattern.error();
    if (!content) return content.error();
    if (fused_ && unicode::utf8_to_cpts(*pattern).size() != 1)
        return make_error(ErrorCode::Unsupported, field(where, "pattern") + ": a pattern of several characters after Fuse is not supported");
    steps_.push_back(Step{Kind::Replace, *pattern, *content});
    return {};
}

// Metaspace {replacement, prepend_scheme}: the replacement character back to " "; unless the
// scheme is "never", the one prepended at the start of the text goes.
ExpectedVoid HfDecoder::add_metaspace(const nlohmann::json& j, const std::string& where) {
    auto replacement = string_at(j, "replacement", where);
    auto scheme = optional_string(j, "prepend_scheme", where);
    auto legacy = bool_or(j, "add_prefix_space", true, where);  // before prepend_scheme existed
    if (!replacement) return replacement.error();
    if (!scheme) return scheme.error();
    if (!legacy) return legacy.error();
    if (unicode::utf8_to_cpts(*replacement).size() != 1)
        return make_error(ErrorCode::Format, field(where, "replacement") + ": expected one character");
    steps_.push_back(Step{Kind::Replace, *replacement, " "});
    strip_leading_space_ = *scheme ? **scheme != "never" : *legacy;
    return {};
}

// Strip {content, start, stop}: only removing one leading " " from the joined text (after Fuse)
// is supported; that is Llama 2's decoder, undoing the prefix space its normalizer adds.
ExpectedVoid HfDecoder::add_strip(const nlohmann::json& j, const std::string& where) {
    auto content = string_at(j, "content", where);
    if (!content) return content.error();
    const auto start = j.value("start", nlohmann::json()), stop = j.value("stop", nlohmann::json());
    if (!start.is_number_integer() || !stop.is_number_integer() || start.get<int64>() < 0 || stop.get<int64>() < 0)
        return make_error(ErrorCode::Format, where + ": start and stop must be non-negative integers");
    if (stop.get<int64>() == 0 && start.get<int64>() == 0) return {};
    if (!fused_ || *content != " " || start.get<int64>() != 1 || stop.get<int64>() != 0)
        return make_error(ErrorCode::Unsupported, where + ": only {content: \" \", start: 1, stop: 0} after a Fuse is supported");
    strip_leading_space_ = stripped_ = true;
    return {};
}

std::string HfDecoder::piece(std::string_view token) const {
    std::string s(token);
    for (const Step& step : steps_) {
        switch (step.kind) {
            case Kind::ByteLevel: s = byte_level(s); break;
            case Kind::ByteFallback: s = byte_fallback(s); break;
            case Kind::Replace: s = replace_all(s, step.pattern, step.content); break;
        }
    }
    return s;
}

}  // namespace vk_symbiote
