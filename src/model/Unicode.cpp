#include "model/Unicode.h"

#include <algorithm>
#include <array>

#include "model/UnicodeData.h"

namespace vk_symbiote::unicode {

namespace ud = unicode_data;

UnicodeClass cpt_class(uint32 cpt) {
    if (cpt < 0x80) {
        // ASCII fast path: the hot case for source code and English text.
        static const std::array<UnicodeClass, 128> ascii = [] {
            std::array<UnicodeClass, 128> t{};
            for (uint32 c = 0; c < 128; ++c) {
                const ud::ClassRun* r = std::upper_bound(ud::kClassRuns, ud::kClassRuns + ud::kClassRunCount, c,
                                                         [](uint32 v, const ud::ClassRun& run) { return v < run.first; });
                t[c] = static_cast<UnicodeClass>((r - 1)->cls);
            }
            return t;
        }();
        return ascii[cpt];
    }
    if (cpt > 0x10FFFF) return UnicodeClass::kUndefined;
    const ud::ClassRun* r = std::upper_bound(ud::kClassRuns, ud::kClassRuns + ud::kClassRunCount, cpt,
                                             [](uint32 v, const ud::ClassRun& run) { return v < run.first; });
    return static_cast<UnicodeClass>((r - 1)->cls);
}

bool is_whitespace(uint32 cpt) {
    for (size_t i = 0; i < ud::kWhitespaceCount; ++i) {
        if (cpt < ud::kWhitespace[i].lo) return false;
        if (cpt <= ud::kWhitespace[i].hi) return true;
    }
    return false;
}

size_t utf8_len(uint8 lead) {
    if (lead < 0x80) return 1;
    if ((lead & 0xE0) == 0xC0) return 2;
    if ((lead & 0xF0) == 0xE0) return 3;
    if ((lead & 0xF8) == 0xF0) return 4;
    return 1;
}

// Decodes one sequence at s[pos]; returns its length, or 0 if invalid (bad continuation,
// overlong, surrogate, > U+10FFFF, truncated).
static size_t decode_one(std::string_view s, size_t pos, uint32* cpt) {
    const uint8 b0 = static_cast<uint8>(s[pos]);
    const size_t len = utf8_len(b0);
    if (len == 1) {
        if (b0 >= 0x80) return 0;
        *cpt = b0;
        return 1;
    }
    if (pos + len > s.size()) return 0;
    uint32 c = b0 & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
        const uint8 b = static_cast<uint8>(s[pos + k]);
        if ((b & 0xC0) != 0x80) return 0;
        c = (c << 6) | (b & 0x3F);
    }
    static constexpr uint32 kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cpt = c;
    return len;
}

std::vector<uint32> utf8_to_cpts(std::string_view s) {
    std::vector<uint32> out;
    out.reserve(s.size());
    size_t pos = 0;
    while (pos < s.size()) {
        uint32 c = 0;
        const size_t n = decode_one(s, pos, &c);
        if (n == 0) {
            out.push_back(kReplacementChar);
            ++pos;
        } else {
            out.push_back(c);
            pos += n;
        }
    }
    return out;
}

void append_utf8(std::string& out, uint32 c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

std::string cpts_to_utf8(const uint32* cpts, size_t n) {
    std::string out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) append_utf8(out, cpts[i]);
    return out;
}

size_t whitespace_start(std::string_view s, size_t floor, size_t pos) {
    while (pos > floor) {
        size_t q = pos - 1;
        while (q > floor && (static_cast<uint8>(s[q]) & 0xC0) == 0x80) --q;  // back to the lead byte
        uint32 c = 0;
        if (decode_one(s, q, &c) != pos - q || !is_whitespace(c)) break;
        pos = q;
    }
    return pos;
}

size_t whitespace_end(std::string_view s, size_t pos) {
    while (pos < s.size()) {
        uint32 c = 0;
        const size_t n = decode_one(s, pos, &c);
        if (n == 0 || !is_whitespace(c)) break;
        pos += n;
    }
    return pos;
}

size_t utf8_incomplete_tail(std::string_view s) {
    // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
    const size_t max_back = std::min<size_t>(3, s.size());
    for (size_t back = 1; back <= max_back; ++back) {
        const uint8 b = static_cast<uint8>(s[s.size() - back]);
        if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for its lead
        const size_t len = utf8_len(b);
        return (len > back) ? back : 0;    // lead with missing continuation bytes
    }
    return 0;
}

namespace {
// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes
// to U+0100.. in byte order.
struct ByteMap {
    std::array<std::string, 256> utf8;
    std::array<int16_t, 324> byte_of_cpt;  // codepoints 0..323 cover the whole image; -1 = unmapped
    ByteMap() {
        byte_of_cpt.fill(-1);
        uint32 next = 256;
        for (uint32 b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            const uint32 cpt = printable ? b : next++;
            append_utf8(utf8[b], cpt);
            byte_of_cpt[cpt] = static_cast<int16_t>(b);
        }
    }
};
const ByteMap& byte_map() {
    static const ByteMap m;
    return m;
}
}  // namespace

const std::string& byte_to_utf8(uint8 b) { return byte_map().utf8[b]; }

bool cpt_to_byte(uint32 cpt, uint8* out) {
    const auto& m = byte_map();
    if (cpt >= m.byte_of_cpt.size() || m.byte_of_cpt[cpt] < 0) return false;
    *out = static_cast<uint8>(m.byte_of_cpt[cpt]);
    return true;
}

}  // namespace vk_symbiote::unicode
