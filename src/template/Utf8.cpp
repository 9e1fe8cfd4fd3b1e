#include "template/Utf8.h"

#include <algorithm>

namespace vk_symbiote::jinja::utf8 {

namespace {

// Length of a well-formed sequence starting at s[i], or 0 when the bytes there are not one
// (overlong forms, surrogates and code points past U+10FFFF included).
size_t valid_sequence(std::string_view s, size_t i, uint32* cp) {
    const uint8 b0 = uint8(s[i]);
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t n = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 0;
    if (n == 0 || b0 > 0xF4 || i + n > s.size()) return 0;
    uint32 v = b0 & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
        const uint8 b = uint8(s[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        v = (v << 6) | (b & 0x3F);
    }
    static constexpr uint32 kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < kMin[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

// A run of upper-case code points [lo, hi] and their lower-case partners: cp + delta, or,
// for alternating runs, every second code point (lo, lo + 2, ...) with the next one.
struct CaseRange {
    uint32 lo, hi;
    int32 delta;
    bool alternating;
};

constexpr CaseRange kCaseRanges[] = {
    {0x41, 0x5A, 32, false},     {0xC0, 0xD6, 32, false},     {0xD8, 0xDE, 32, false},
    {0x100, 0x12F, 1, true},     {0x132, 0x137, 1, true},     {0x139, 0x148, 1, true},
    {0x14A, 0x177, 1, true},     {0x178, 0x178, -121, false}, {0x179, 0x17E, 1, true},
    {0x386, 0x386, 38, false},   {0x388, 0x38A, 37, false},   {0x38C, 0x38C, 64, false},
    {0x38E, 0x38F, 63, false},   {0x391, 0x3A1, 32, false},   {0x3A3, 0x3AB, 32, false},
    {0x400, 0x40F, 80, false},   {0x410, 0x42F, 32, false},   {0x460, 0x481, 1, true},
    {0x48A, 0x4BF, 1, true},     {0x4C1, 0x4CE, 1, true},     {0x4D0, 0x52F, 1, true},
    {0x531, 0x556, 48, false},   {0x1E00, 0x1E95, 1, true},   {0x1EA0, 0x1EFF, 1, true},
    {0xFF21, 0xFF3A, 32, false},
};

bool in_upper_run(const CaseRange& r, uint32 cp) {
    return cp >= r.lo && cp <= r.hi && (!r.alternating || (cp - r.lo) % 2 == 0);
}

bool is_word_cased_before(const std::vector<uint32>& cps, size_t i) { return i > 0 && is_cased(cps[i - 1]); }
bool is_word_cased_after(const std::vector<uint32>& cps, size_t i) { return i + 1 < cps.size() && is_cased(cps[i + 1]); }

}  // namespace

std::vector<uint32> decode(std::string_view s) {
    std::vector<uint32> out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        uint32 cp = 0;
        size_t n = valid_sequence(s, i, &cp);
        if (n == 0) {
            out.push_back(kRawByteBase + uint8(s[i]));
            ++i;
        } else {
            out.push_back(cp);
            i += n;
        }
    }
    return out;
}

void append(std::string& out, uint32 cp) {
    if (cp >= kRawByteBase) {
        out += char(cp - kRawByteBase);
    } else if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

std::string encode(const uint32* cps, size_t n) {
    std::string out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) append(out, cps[i]);
    return out;
}

bool is_ascii(std::string_view s) {
    for (char c : s)
        if (uint8(c) >= 0x80) return false;
    return true;
}

size_t length(std::string_view s) { return is_ascii(s) ? s.size() : decode(s).size(); }

bool is_space(uint32 cp) {
    if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string_view strip_left(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        uint32 cp = 0;
        const size_t n = valid_sequence(s, i, &cp);
        if (n == 0 || !is_space(cp)) break;
        i += n;
    }
    return s.substr(i);
}

std::string_view strip_right(std::string_view s) {
    size_t end = 0;  // just past the last code point that is not whitespace
    for (size_t i = 0; i < s.size();) {
        uint32 cp = 0;
        const size_t n = std::max<size_t>(valid_sequence(s, i, &cp), 1);
        if (n == 1 && uint8(s[i]) >= 0x80) cp = kRawByteBase;  // an invalid byte is not whitespace
        i += n;
        if (!is_space(cp)) end = i;
    }
    return s.substr(0, end);
}

std::vector<std::string> split_lines(std::string_view s, bool keepends) {
    auto is_break = [](uint32 cp) {
        return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    };
    const std::vector<uint32> cps = decode(s);
    std::vector<std::string> out;
    std::string line;
    for (size_t i = 0; i < cps.size(); ++i) {
        if (!is_break(cps[i])) {
            append(line, cps[i]);
            continue;
        }
        const bool crlf = cps[i] == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n';
        if (keepends) {
            append(line, cps[i]);
            if (crlf) line += '\n';
        }
        i += crlf ? 1 : 0;
        out.push_back(std::move(line));
        line.clear();
    }
    if (!line.empty()) out.push_back(std::move(line));
    return out;
}

uint32 to_lower(uint32 cp) {
    for (const CaseRange& r : kCaseRanges)
        if (in_upper_run(r, cp)) return uint32(int64(cp) + r.delta);
    return cp;
}

uint32 to_upper(uint32 cp) {
    switch (cp) {
        case 0xB5: return 0x39C;   // micro sign
        case 0x131: return 'I';    // dotless i
        case 0x17F: return 'S';    // long s
        case 0x3C2: return 0x3A3;  // final sigma
        default: break;
    }
    for (const CaseRange& r : kCaseRanges) {
        const int64 up = int64(cp) - r.delta;
        if (up >= 0 && in_upper_run(r, uint32(up))) return uint32(up);
    }
    return cp;
}

bool is_cased(uint32 cp) { return to_upper(cp) != cp || to_lower(cp) != cp; }

bool is_all_case(std::string_view s, bool upper) {
    bool cased = false;
    for (uint32 cp : decode(s)) {
        if (!is_cased(cp)) continue;
        cased = true;
        if ((upper ? to_upper(cp) : to_lower(cp)) != cp) return false;
    }
    return cased;
}

std::string upper(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (uint32 cp : decode(s)) {
        if (cp == 0xDF) out += "SS";
        else append(out, to_upper(cp));
    }
    return out;
}

std::string lower(std::string_view s) {
    const std::vector<uint32> cps = decode(s);
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < cps.size(); ++i) {
        if (cps[i] == 0x130) {
            out += "i\xCC\x87";  // i + combining dot above
        } else if (cps[i] == 0x3A3 && is_word_cased_before(cps, i) && !is_word_cased_after(cps, i)) {
            append(out, 0x3C2);  // final sigma
        } else {
            append(out, to_lower(cps[i]));
        }
    }
    return out;
}

std::string capitalize(std::string_view s) {
    std::vector<uint32> cps = decode(s);
    if (cps.empty()) return {};
    std::string first = upper(encode(cps.data(), 1));
    return first + lower(encode(cps.data() + 1, cps.size() - 1));
}

}  // namespace vk_symbiote::jinja::utf8
