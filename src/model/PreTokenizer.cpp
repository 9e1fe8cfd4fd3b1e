#include "model/PreTokenizer.h"

#include <algorithm>
#include <array>

#include "model/Unicode.h"

namespace vk_symbiote {

namespace {

using unicode::UnicodeClass;
using Lengths = std::vector<size_t>;

// ---- the table: families, then every accepted `tokenizer.ggml.pre` name ---------------------
// Passes per family as in llama.cpp's llm_tokenizer_bpe (llama-vocab.cpp).
using P = SplitPass;
const PreTokenizerInfo kDefault{"default", {P::PunctRun, P::Gpt2, P::Numbers, P::AsciiDigits3}};
const PreTokenizerInfo kLlama3{"llama3", {P::Llama3}, /*ignore_merges=*/true, /*add_bos=*/true};
const PreTokenizerInfo kLlama3Like{"dbrx/smaug", {P::Llama3}};
const PreTokenizerInfo kGpt2{"gpt2", {P::Gpt2}};
const PreTokenizerInfo kQwen2{"qwen2", {P::Qwen2}};
const PreTokenizerInfo kStarcoder{"starcoder", {P::Number, P::Gpt2}};
const PreTokenizerInfo kFalcon{"falcon", {P::PunctRun, P::Gpt2, P::AsciiDigits3}};
const PreTokenizerInfo kDeepseekLlm{
    "deepseek-llm", {P::Newline, P::DeepseekLetters, P::DeepseekPunct, P::TrailingSpace, P::Cjk, P::Numbers}};
const PreTokenizerInfo kDeepseekCoder{"deepseek-coder", {P::Newline, P::SpaceLetters, P::SpacePunct, P::Cjk, P::Number}};

struct NameRow {
    std::string_view pre;  // value of tokenizer.ggml.pre
    const PreTokenizerInfo* info;
};
const NameRow kNames[] = {
    {"", &kDefault},           {"default", &kDefault},
    {"llama3", &kLlama3},      {"llama-v3", &kLlama3},         {"llama-bpe", &kLlama3},  {"falcon3", &kLlama3},
    {"dbrx", &kLlama3Like},    {"smaug-bpe", &kLlama3Like},
    {"gpt-2", &kGpt2},         {"phi-2", &kGpt2},              {"mpt", &kGpt2},          {"olmo", &kGpt2},
    {"jais", &kGpt2},          {"trillion", &kGpt2},
    {"qwen2", &kQwen2},        {"deepseek-r1-qwen", &kQwen2},  {"stablelm2", &kQwen2},   {"megrez", &kQwen2},
    {"starcoder", &kStarcoder}, {"refact", &kStarcoder},       {"command-r", &kStarcoder}, {"smollm", &kStarcoder},
    {"codeshell", &kStarcoder}, {"exaone", &kStarcoder},       {"minerva-7b", &kStarcoder},
    {"falcon", &kFalcon},
    {"deepseek-llm", &kDeepseekLlm},
    {"deepseek-coder", &kDeepseekCoder},
};

// tokenizer.json "Split" regexes (Isolated behaviour) that a family's passes reproduce exactly.
struct RegexRow {
    std::string_view regex;
    const PreTokenizerInfo* info;
};
const RegexRow kRegexes[] = {
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     &kLlama3Like},
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     &kQwen2},
    {R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", &kGpt2},
};

// ---- explicit character classes of the DeepSeek regexes (inclusive codepoint ranges) -----------
struct Range {
    uint32 lo, hi;
};
// [A-Za-zµÀ-ÖØ-öø-ƺ...𞤀-𞥃]: DeepSeek LLM's cased letters.
constexpr Range kDeepseekLetters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},       {0xD8, 0xF6},
    {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},     {0x295, 0x2AF},     {0x370, 0x373},
    {0x376, 0x377},     {0x37B, 0x37D},     {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},
    {0x38C, 0x38C},     {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},   {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},   {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},   {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B},   {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},   {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},   {0x2102, 0x2102},   {0x2107, 0x2107},
    {0x210A, 0x2113},   {0x2115, 0x2115},   {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},
    {0x2128, 0x2128},   {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},   {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},   {0xA680, 0xA69B},   {0xA722, 0xA76F},
    {0xA771, 0xA787},   {0xA78B, 0xA78E},   {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A},   {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
// [!-/:-~！-／：-～‘-‟　-。]
constexpr Range kDeepseekPunct[] = {{0x21, 0x2F},     {0x3A, 0x7E},     {0xFF01, 0xFF0F},
                                    {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002}};
// [一-龥ࠀ-一가-퟿]
constexpr Range kCjk[] = {{0x4E00, 0x9FA5}, {0x800, 0x4E00}, {0xAC00, 0xD7FF}};

template <size_t N>
bool in_ranges(const Range (&r)[N], uint32 c) {
    for (const Range& x : r)
        if (c >= x.lo && c <= x.hi) return true;
    return false;
}

// ---- per-text context: codepoints with their class and White_Space flag, computed once -----------
struct Ctx {
    const std::vector<uint32>& c;
    std::vector<UnicodeClass> cls;
    std::vector<uint8> ws;
    size_t b = 0, e = 0;  // current segment [b, e)

    explicit Ctx(const std::vector<uint32>& cpts) : c(cpts), cls(cpts.size()), ws(cpts.size()) {
        for (size_t i = 0; i < cpts.size(); ++i) {
            cls[i] = unicode::cpt_class(cpts[i]);
            ws[i] = unicode::is_whitespace(cpts[i]) ? 1 : 0;
        }
    }
    // Outside the segment every predicate is false (llama.cpp's OUT_OF_RANGE / empty flags).
    bool in(size_t p) const { return p >= b && p < e; }
    uint32 cpt(size_t p) const { return in(p) ? c[p] : 0xFFFFFFFFu; }
    bool space(size_t p) const { return in(p) && ws[p]; }
    bool letter(size_t p) const { return in(p) && cls[p] == UnicodeClass::kLetter; }
    bool number(size_t p) const { return in(p) && cls[p] == UnicodeClass::kNumber; }
    bool punct(size_t p) const { return in(p) && cls[p] == UnicodeClass::kPunctuation; }
    // [^\s\p{L}\p{N}] (false outside the segment)
    bool other(size_t p) const { return in(p) && !ws[p] && cls[p] != UnicodeClass::kLetter && cls[p] != UnicodeClass::kNumber; }
    // Membership in an explicit class of a regex without \p{..}: llama.cpp matches those with
    // std::wregex after replacing non-ASCII whitespace by U+000B, so such codepoints never match.
    template <size_t N>
    bool in_class(const Range (&r)[N], size_t p) const {
        return in(p) && !(c[p] >= 0x80 && ws[p]) && in_ranges(r, c[p]);
    }
};

// Appends piece lengths covering [b, end) in calls of add(end).
struct Emitter {
    Lengths& out;
    size_t prev;
    void add(size_t end) {
        if (end > prev) out.push_back(end - prev);
        prev = end;
    }
};

inline bool is_rn(uint32 c) { return c == '\r' || c == '\n'; }
inline uint32 ascii_lower(uint32 c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// 's|'t|'re|'ve|'m|'ll|'d at pos; returns the match length (0: none).
size_t contraction(const Ctx& x, size_t pos, bool case_insensitive) {
    if (x.cpt(pos) != '\'' || pos + 1 >= x.e) return 0;
    auto low = [&](size_t p) { return case_insensitive ? ascii_lower(x.cpt(p)) : x.cpt(p); };
    const uint32 n1 = low(pos + 1);
    if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') return 2;
    if (pos + 2 >= x.e) return 0;
    const uint32 n2 = low(pos + 2);
    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) return 3;
    return 0;
}

// Whitespace tail shared by the GPT-2 and Llama 3 matchers: \s+(?!\S) | \s+ at pos.
// Returns the new position, or pos when pos is not whitespace.
size_t whitespace_run(const Ctx& x, size_t pos) {
    size_t n = 0;
    while (x.space(pos + n)) ++n;
    if (n > 1 && pos + n < x.e) return pos + n - 1;  // leave the last space to the next word
    return pos + n;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
void pass_gpt2(const Ctx& x, Lengths& out) {
    Emitter em{out, x.b};
    for (size_t pos = x.b; pos < x.e;) {
        if (size_t n = contraction(x, pos, false)) {
            em.add(pos += n);
            continue;
        }
        const size_t q = pos + (x.cpt(pos) == ' ' ? 1 : 0);  // after the optional leading space
        if (x.letter(q) || x.number(q) || x.other(q)) {
            bool (Ctx::*pred)(size_t) const =
                x.letter(q) ? &Ctx::letter : x.number(q) ? &Ctx::number : &Ctx::other;
            size_t p = q;
            while ((x.*pred)(p)) ++p;
            em.add(pos = p);
            continue;
        }
        const size_t ws_end = whitespace_run(x, pos);
        em.add(pos = (ws_end > pos ? ws_end : pos + 1));
    }
}

// Llama 3 (max_digits = 3) and Qwen2 (max_digits = 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
void pass_llama3(const Ctx& x, Lengths& out, size_t max_digits) {
    Emitter em{out, x.b};
    for (size_t pos = x.b; pos < x.e;) {
        const uint32 c = x.cpt(pos);
        if (size_t n = contraction(x, pos, true)) {
            em.add(pos += n);
            continue;
        }
        if (!(is_rn(c) || x.number(pos)) && (x.letter(pos) || x.letter(pos + 1))) {
            ++pos;
            while (x.letter(pos)) ++pos;
            em.add(pos);
            continue;
        }
        if (x.number(pos)) {
            size_t ini = pos;
            while (x.number(pos)) {
                if (++pos - ini >= max_digits) {
                    em.add(pos);
                    ini = pos;
                }
            }
            em.add(pos);
            continue;
        }
        const size_t q = pos + (c == ' ' ? 1 : 0);
        if (!(x.space(q) || x.letter(q) || x.number(q))) {  // also a lone trailing ' ' (as llama.cpp)
            pos = q;
            while (x.other(pos)) ++pos;
            while (is_rn(x.cpt(pos))) ++pos;
            em.add(pos);
            continue;
        }
        size_t n = 0, last_rn = 0;
        while (x.space(pos + n)) {
            if (is_rn(x.cpt(pos + n))) last_rn = pos + n + 1;
            ++n;
        }
        if (last_rn > 0) {  // \s*[\r\n]+
            em.add(pos = last_rn);
            continue;
        }
        const size_t ws_end = whitespace_run(x, pos);
        em.add(pos = (ws_end > pos ? ws_end : pos + 1));
    }
}

// A regex pass: leftmost non-overlapping matches; the text between them is kept as pieces
// too (llama.cpp's unicode_regex_split_stl). `match` returns the match length at pos (0: no
// match) and may raise *skip_to to where the next match can start.
template <class Match>
void pass_search(const Ctx& x, Lengths& out, Match match) {
    Emitter em{out, x.b};
    for (size_t pos = x.b; pos < x.e;) {
        size_t skip_to = pos + 1;
        const size_t len = match(pos, &skip_to);
        if (len == 0) {
            pos = skip_to;
            continue;
        }
        em.add(pos);
        em.add(pos += len);
    }
    em.add(x.e);
}

// \s?X+ at pos where X is `pred`.
template <class Pred>
size_t optional_space_run(const Ctx& x, size_t pos, Pred pred) {
    size_t p = pos;
    if (x.space(p) && pred(p + 1)) ++p;
    if (!pred(p)) return 0;
    while (pred(p)) ++p;
    return p - pos;
}

template <class Pred>
size_t run(size_t pos, Pred pred) {
    size_t p = pos;
    while (pred(p)) ++p;
    return p - pos;
}

void run_pass(SplitPass pass, const Ctx& x, Lengths& out) {
    auto letter = [&](size_t p) { return x.letter(p); };
    auto number = [&](size_t p) { return x.number(p); };
    auto punct = [&](size_t p) { return x.punct(p); };
    switch (pass) {
        case P::Gpt2: return pass_gpt2(x, out);
        case P::Llama3: return pass_llama3(x, out, 3);
        case P::Qwen2: return pass_llama3(x, out, 1);
        case P::Number: return pass_search(x, out, [&](size_t p, size_t*) -> size_t { return x.number(p) ? 1 : 0; });
        case P::Numbers: return pass_search(x, out, [&](size_t p, size_t*) { return run(p, number); });
        case P::AsciiDigits3:
            return pass_search(x, out, [&](size_t p, size_t*) -> size_t {
                auto d = [&](size_t i) { return x.in(i) && x.c[i] >= '0' && x.c[i] <= '9'; };
                return (d(p) && d(p + 1) && d(p + 2)) ? 3 : 0;
            });
        case P::PunctRun:
            return pass_search(x, out, [&](size_t p, size_t*) {
                return run(p, [&](size_t i) {
                    if (!x.in(i)) return false;
                    const uint32 c = x.c[i];
                    return x.punct(i) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' ||
                           c == '~' || c == '|' || c == '`';
                });
            });
        case P::Newline: return pass_search(x, out, [&](size_t p, size_t*) -> size_t { return is_rn(x.cpt(p)) ? 1 : 0; });
        case P::SpaceLetters: return pass_search(x, out, [&](size_t p, size_t*) { return optional_space_run(x, p, letter); });
        case P::SpacePunct: return pass_search(x, out, [&](size_t p, size_t*) { return optional_space_run(x, p, punct); });
        case P::DeepseekLetters:
            return pass_search(x, out, [&](size_t p, size_t*) {
                return optional_space_run(x, p, [&](size_t i) { return x.in_class(kDeepseekLetters, i); });
            });
        case P::DeepseekPunct:
            return pass_search(x, out, [&](size_t p, size_t*) {
                return optional_space_run(x, p, [&](size_t i) { return x.in_class(kDeepseekPunct, i); });
            });
        case P::TrailingSpace:
            return pass_search(x, out, [&](size_t p, size_t* skip_to) -> size_t {
                const size_t end = p + run(p, [&](size_t i) { return x.space(i); });
                if (end == x.e) return end - p;
                *skip_to = std::max(end, p + 1);  // no start inside this run can reach the end
                return 0;
            });
        case P::Cjk: return pass_search(x, out, [&](size_t p, size_t*) { return run(p, [&](size_t i) { return x.in_class(kCjk, i); }); });
    }
}

}  // namespace

Expected<PreTokenizer> PreTokenizer::from_name(std::string_view pre, const std::string& file) {
    for (const NameRow& row : kNames)
        if (row.pre == pre) return PreTokenizer(row.info);
    return make_error(ErrorCode::Unsupported,
                      file + ": tokenizer.ggml.pre: unknown pre-tokenizer '" + std::string(pre) + "'");
}

std::optional<PreTokenizer> PreTokenizer::from_regex(std::string_view regex) {
    for (const RegexRow& row : kRegexes)
        if (row.regex == regex) return PreTokenizer(row.info);
    return std::nullopt;
}

std::vector<size_t> PreTokenizer::split_cpts(const std::vector<uint32>& cpts) const {
    Ctx x(cpts);
    Lengths offsets{cpts.size()};
    Lengths next;
    for (SplitPass pass : info_->passes) {
        next.clear();
        size_t start = 0;
        for (size_t len : offsets) {
            x.b = start;
            x.e = start + len;
            run_pass(pass, x, next);
            start += len;
        }
        offsets.swap(next);
    }
    return offsets;
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
    const std::vector<uint32> cpts = unicode::utf8_to_cpts(text);
    std::vector<std::string> words;
    size_t start = 0;
    for (size_t len : split_cpts(cpts)) {
        words.push_back(unicode::cpts_to_utf8(cpts.data() + start, len));
        start += len;
    }
    return words;
}

}  // namespace vk_symbiote
