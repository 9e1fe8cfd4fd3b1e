#include "model/HfPreTokenizer.h"

#include <algorithm>

#include "model/HfJson.h"
#include "model/Unicode.h"

namespace vk_symbiote {

namespace {

using namespace hf_json;

constexpr const char* kSupported = "Split, ByteLevel, Metaspace, Digits, WhitespaceSplit, Sequence";

// A stretch [b, e) of a piece that matches the split pattern or lies between matches.
struct Seg {
    size_t b, e;
    bool match;
};
using Range = std::pair<size_t, size_t>;

size_t utf8_size(uint32 cpt) { return cpt < 0x80 ? 1 : cpt < 0x800 ? 2 : cpt < 0x10000 ? 3 : 4; }

// Every occurrence of `pattern` (left to right, not overlapping) and the text between them.
std::vector<Seg> find_string(std::string_view text, std::string_view pattern) {
    std::vector<Seg> segs;
    size_t pos = 0;
    for (size_t m; (m = text.find(pattern, pos)) != std::string_view::npos; pos = m + pattern.size()) {
        if (m > pos) segs.push_back({pos, m, false});
        segs.push_back({m, m + pattern.size(), true});
    }
    if (pos < text.size()) segs.push_back({pos, text.size(), false});
    return segs;
}

// Every character for which `pred` holds is a match of its own; the text between them is kept.
template <class Pred>
std::vector<Seg> find_chars(std::string_view text, Pred pred) {
    std::vector<Seg> segs;
    size_t pos = 0;
    for (uint32 c : unicode::utf8_to_cpts(text)) {
        const size_t n = utf8_size(c);
        if (pred(c))
            segs.push_back({pos, pos + n, true});
        else if (!segs.empty() && !segs.back().match)
            segs.back().e = pos + n;
        else
            segs.push_back({pos, pos + n, false});
        pos += n;
    }
    return segs;
}

// The pieces `segs` become under `b`. A match joins its neighbour only if that is not a match.
std::vector<Range> apply_behavior(const std::vector<Seg>& segs, SplitBehavior b) {
    using B = SplitBehavior;
    std::vector<Range> out;
    if (b == B::MergedWithNext) {  // MergedWithPrevious, walked from the end
        bool next_match = false;
        for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
            if (it->match && !next_match && !out.empty())
                out.back().first = it->b;
            else
                out.emplace_back(it->b, it->e);
            next_match = it->match;
        }
        std::reverse(out.begin(), out.end());
        return out;
    }
    bool prev_match = false;
    for (const Seg& s : segs) {
        if (b == B::Removed) {
            if (!s.match) out.emplace_back(s.b, s.e);
        } else if (!out.empty() && ((b == B::MergedWithPrevious && s.match && !prev_match) ||
                                    (b == B::Contiguous && s.match == prev_match))) {
            out.back().second = s.e;
        } else {
            out.emplace_back(s.b, s.e);
        }
        prev_match = s.match;
    }
    return out;
}

// The pieces a regex pass cuts `text` into (all of the text, as byte ranges).
std::vector<Range> regex_ranges(const PreTokenizer& pre, std::string_view text) {
    const std::vector<uint32> cpts = unicode::utf8_to_cpts(text);
    std::vector<Range> out;
    size_t cpt = 0, byte = 0;
    for (size_t len : pre.split_cpts(cpts)) {
        const size_t begin = byte;
        for (size_t k = 0; k < len; ++k) byte += utf8_size(cpts[cpt++]);
        out.emplace_back(begin, byte);
    }
    return out;
}

void emit(const std::string& text, bool at_start, const std::vector<Range>& ranges, std::vector<HfPiece>& out) {
    for (const auto& [b, e] : ranges)
        if (e > b) out.push_back(HfPiece{text.substr(b, e - b), at_start && b == 0});
}

std::string byte_level(std::string_view text) {
    std::string out;
    for (char c : text) out += unicode::byte_to_utf8(static_cast<uint8>(c));
    return out;
}

}  // namespace

Expected<HfPreTokenizer> HfPreTokenizer::from_json(const nlohmann::json& j, const std::string& where) {
    HfPreTokenizer p;
    if (!j.is_null()) VKS_TRY(p.add(j, where));
    return p;
}

ExpectedVoid HfPreTokenizer::add(const nlohmann::json& j, const std::string& where) {
    auto type = type_of(j, where);
    if (!type) return type.error();
    if (*type == "Sequence") return for_each_item(j, "pretokenizers", where, [this](const Json& e, const std::string& at) { return add(e, at); });
    if (*type == "Split") return add_split(j, where);
    if (*type == "Metaspace") return add_metaspace(j, where);
    Step s;
    if (*type == "ByteLevel") {
        s.kind = Kind::ByteLevel;
        auto prefix = bool_or(j, "add_prefix_space", true, where);
        auto use_regex = bool_or(j, "use_regex", true, where);
        if (!prefix) return prefix.error();
        if (!use_regex) return use_regex.error();
        s.add_prefix_space = *prefix;
        if (*use_regex) s.regex = PreTokenizer::from_name("gpt-2", where).value();
    } else if (*type == "Digits") {
        s.kind = Kind::Digits;
        auto individual = bool_or(j, "individual_digits", false, where);
        if (!individual) return individual.error();
        s.individual_digits = *individual;
    } else if (*type == "WhitespaceSplit") {
        s.kind = Kind::WhitespaceSplit;
    } else {
        return unsupported_type(where, *type, kSupported);
    }
    steps_.push_back(std::move(s));
    return {};
}

ExpectedVoid HfPreTokenizer::add_split(const nlohmann::json& j, const std::string& where) {
    using B = SplitBehavior;
    static const std::pair<std::string_view, B> kBehaviors[] = {
        {"Removed", B::Removed},       {"Isolated", B::Isolated},     {"MergedWithPrevious", B::MergedWithPrevious},
        {"MergedWithNext", B::MergedWithNext}, {"Contiguous", B::Contiguous},
    };
    auto behavior = string_at(j, "behavior", where);
    auto invert = bool_or(j, "invert", false, where);
    auto pattern = object_at(j, "pattern", where);
    if (!behavior) return behavior.error();
    if (!invert) return invert.error();
    if (!pattern) return pattern.error();
    if (*invert) return make_error(ErrorCode::Unsupported, field(where, "invert") + ": true is not supported");
    Step s;
    auto b = std::find_if(std::begin(kBehaviors), std::end(kBehaviors), [&](const auto& row) { return row.first == *behavior; });
    if (b == std::end(kBehaviors))
        return make_error(ErrorCode::Unsupported, field(where, "behavior") + ": '" + *behavior + "' is not supported");
    s.behavior = b->second;
    const std::string at = field(where, "pattern");
    if ((*pattern)->contains("Regex")) {
        auto regex = string_at(**pattern, "Regex", at);
        if (!regex) return regex.error();
        s.kind = Kind::SplitRegex;
        s.regex = PreTokenizer::from_regex(*regex);
        if (!s.regex)
            return make_error(ErrorCode::Unsupported, field(at, "Regex") + ": the regex '" + *regex + "' is not supported");
        if (s.behavior != B::Isolated)
            return make_error(ErrorCode::Unsupported, field(where, "behavior") + ": '" + *behavior +
                                                          "' with a Regex pattern is not supported (only Isolated)");
    } else {
        auto str = string_at(**pattern, "String", at);
        if (!str) return str.error();
        if (str->empty()) return make_error(ErrorCode::Format, field(at, "String") + ": empty pattern");
        s.kind = Kind::SplitString;
        s.pattern = *str;
    }
    steps_.push_back(std::move(s));
    return {};
}

ExpectedVoid HfPreTokenizer::add_metaspace(const nlohmann::json& j, const std::string& where) {
    Step s;
    s.kind = Kind::Metaspace;
    auto replacement = string_at(j, "replacement", where);
    auto split = bool_or(j, "split", true, where);
    auto legacy_prefix = bool_or(j, "add_prefix_space", true, where);  // before prepend_scheme existed
    auto scheme = optional_string(j, "prepend_scheme", where);
    if (!replacement) return replacement.error();
    if (!split) return split.error();
    if (!legacy_prefix) return legacy_prefix.error();
    if (!scheme) return scheme.error();
    if (unicode::utf8_to_cpts(*replacement).size() != 1)
        return make_error(ErrorCode::Format, field(where, "replacement") + ": expected one character");
    s.pattern = *replacement;
    s.split = *split;
    s.prepend = *legacy_prefix ? Prepend::Always : Prepend::Never;
    if (*scheme) {
        if (**scheme == "always") s.prepend = Prepend::Always;
        else if (**scheme == "first") s.prepend = Prepend::First;
        else if (**scheme == "never") s.prepend = Prepend::Never;
        else return make_error(ErrorCode::Unsupported, field(where, "prepend_scheme") + ": '" + **scheme + "' is not supported");
    }
    steps_.push_back(std::move(s));
    return {};
}

void HfPreTokenizer::apply(std::vector<HfPiece>& pieces) const {
    std::vector<HfPiece> next;
    for (const Step& step : steps_) {
        next.clear();
        for (const HfPiece& p : pieces) apply_step(step, p, next);
        pieces.swap(next);
    }
    std::erase_if(pieces, [](const HfPiece& p) { return p.text.empty(); });
}

void HfPreTokenizer::apply_step(const Step& step, const HfPiece& piece, std::vector<HfPiece>& out) const {
    const std::string& text = piece.text;
    switch (step.kind) {
        case Kind::SplitString: return emit(text, piece.at_start, apply_behavior(find_string(text, step.pattern), step.behavior), out);
        case Kind::SplitRegex: return emit(text, piece.at_start, regex_ranges(*step.regex, text), out);
        case Kind::Digits: {
            const auto segs = find_chars(text, [](uint32 c) { return unicode::is_number(c); });
            const SplitBehavior b = step.individual_digits ? SplitBehavior::Isolated : SplitBehavior::Contiguous;
            return emit(text, piece.at_start, apply_behavior(segs, b), out);
        }
        case Kind::WhitespaceSplit:
            return emit(text, piece.at_start, apply_behavior(find_chars(text, unicode::is_whitespace), SplitBehavior::Removed), out);
        case Kind::ByteLevel: {
            // " " first (unless there is one), then GPT-2's regex, then every byte -> its printable character
            const std::string spaced = step.add_prefix_space && text.rfind(' ', 0) != 0 ? " " + text : text;
            std::vector<HfPiece> words;
            emit(spaced, piece.at_start, step.regex ? regex_ranges(*step.regex, spaced) : std::vector<Range>{{0, spaced.size()}}, words);
            for (HfPiece& w : words) out.push_back(HfPiece{byte_level(w.text), w.at_start});
            return;
        }
        case Kind::Metaspace: {
            // every " " -> the replacement, which is also prepended as the scheme says; split before each
            std::string s = replace_all(text, " ", step.pattern);
            const bool prepend = step.prepend == Prepend::Always || (step.prepend == Prepend::First && piece.at_start);
            if (prepend && s.rfind(step.pattern, 0) != 0) s.insert(0, step.pattern);
            const std::vector<Range> all{{0, s.size()}};
            return emit(s, piece.at_start, step.split ? apply_behavior(find_string(s, step.pattern), SplitBehavior::MergedWithNext) : all, out);
        }
    }
}

}  // namespace vk_symbiote
