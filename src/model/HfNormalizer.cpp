#include "model/HfNormalizer.h"

#include "model/HfJson.h"
#include "model/Unicode.h"
#include "model/UnicodeNorm.h"

namespace vk_symbiote {

namespace {

using namespace hf_json;

constexpr const char* kSupported = "NFC, NFD, Replace, Prepend, Strip, Sequence";

std::string valid_utf8(std::string_view text) {
    const std::vector<uint32> cpts = unicode::utf8_to_cpts(text);
    return unicode::cpts_to_utf8(cpts.data(), cpts.size());
}

}  // namespace

Expected<HfNormalizer> HfNormalizer::from_json(const nlohmann::json& j, const std::string& where) {
    HfNormalizer n;
    if (!j.is_null()) VKS_TRY(n.add(j, where));
    return n;
}

ExpectedVoid HfNormalizer::add(const nlohmann::json& j, const std::string& where) {
    auto type = type_of(j, where);
    if (!type) return type.error();
    Step s;
    if (*type == "Sequence") {
        return for_each_item(j, "normalizers", where, [this](const Json& e, const std::string& at) { return add(e, at); });
    } else if (*type == "NFC" || *type == "NFD") {
        s.kind = *type == "NFC" ? Kind::Nfc : Kind::Nfd;
    } else if (*type == "Replace") {
        s.kind = Kind::Replace;
        auto pattern = string_pattern(j, where);
        auto content = string_at(j, "content", where);
        if (!pattern) return pattern.error();
        if (!content) return content.error();
        s.pattern = *pattern, s.content = *content;
    } else if (*type == "Prepend") {
        s.kind = Kind::Prepend;
        auto content = string_at(j, "prepend", where);
        if (!content) return content.error();
        s.content = *content;
    } else if (*type == "Strip") {
        s.kind = Kind::Strip;
        auto left = bool_or(j, "strip_left", true, where);
        auto right = bool_or(j, "strip_right", true, where);
        if (!left) return left.error();
        if (!right) return right.error();
        s.left = *left, s.right = *right;
    } else {
        return unsupported_type(where, *type, kSupported);
    }
    steps_.push_back(std::move(s));
    return {};
}

std::string HfNormalizer::apply(std::string_view text) const {
    std::string s = valid_utf8(text);
    for (const Step& step : steps_) {
        switch (step.kind) {
            case Kind::Nfc:
            case Kind::Nfd: {
                const std::vector<uint32> cpts = unicode::utf8_to_cpts(s);
                const std::vector<uint32> n = step.kind == Kind::Nfc ? unicode::to_nfc(cpts) : unicode::to_nfd(cpts);
                s = unicode::cpts_to_utf8(n.data(), n.size());
                break;
            }
            case Kind::Replace: s = replace_all(s, step.pattern, step.content); break;
            case Kind::Prepend:
                if (!s.empty()) s.insert(0, step.content);  // an empty stretch stays empty
                break;
            case Kind::Strip: {
                const size_t end = step.right ? unicode::whitespace_start(s, 0, s.size()) : s.size();
                const size_t begin = step.left ? std::min(unicode::whitespace_end(s, 0), end) : 0;
                s = s.substr(begin, end - begin);
                break;
            }
        }
    }
    return s;
}

}  // namespace vk_symbiote
