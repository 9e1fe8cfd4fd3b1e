// Unicode helpers for the tokenizers: UTF-8 <-> codepoints, coarse general categories
// (\p{L}, \p{N}, \p{P}, ...) and White_Space from generated range tables, and GPT-2's
// byte <-> printable-codepoint mapping used by byte-level BPE vocabularies.
//
// All functions are pure and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::unicode {

// Coarse general category (the first letter of the two-letter Unicode category).
enum class UnicodeClass : uint8 {
    kUndefined = 0,    // Cn: unassigned, and anything past U+10FFFF
    kLetter = 1,       // L*
    kNumber = 2,       // N*
    kPunctuation = 3,  // P*
    kMark = 4,         // M*
    kSymbol = 5,       // S*
    kSeparator = 6,    // Z*
    kControl = 7,      // Cc, Cf, Cs, Co
};

UnicodeClass cpt_class(uint32 cpt);
bool is_whitespace(uint32 cpt);  // White_Space property (\s in the tokenizer regexes)
inline bool is_letter(uint32 cpt) { return cpt_class(cpt) == UnicodeClass::kLetter; }
inline bool is_number(uint32 cpt) { return cpt_class(cpt) == UnicodeClass::kNumber; }
inline bool is_punctuation(uint32 cpt) { return cpt_class(cpt) == UnicodeClass::kPunctuation; }

// Length in bytes of the UTF-8 sequence that starts with `lead` (1 for stray continuation
// bytes and invalid leads, so byte-wise walks always advance).
size_t utf8_len(uint8 lead);

inline constexpr uint32 kReplacementChar = 0xFFFD;

// Decodes UTF-8 to codepoints. Each invalid or truncated sequence becomes one U+FFFD and
// decoding resumes at the next byte (llama.cpp's behaviour for tokenizer input).
std::vector<uint32> utf8_to_cpts(std::string_view s);
void append_utf8(std::string& out, uint32 cpt);
std::string cpts_to_utf8(const uint32* cpts, size_t n);

// Whitespace runs next to a position of UTF-8 text (White_Space characters): whitespace_start
// returns where the run that ends at `pos` begins, at `floor` or later; whitespace_end where
// the run that starts at `pos` ends. Used for added tokens that take adjacent whitespace.
size_t whitespace_start(std::string_view s, size_t floor, size_t pos);
size_t whitespace_end(std::string_view s, size_t pos);

// Number of bytes at the end of `s` that form an incomplete-but-so-far-valid UTF-8 sequence
// (0..3): bytes that a streaming decoder must hold back until the rest arrives.
size_t utf8_incomplete_tail(std::string_view s);

// GPT-2 byte-level BPE: every byte maps to one printable codepoint (e.g. ' ' -> U+0120 'Ġ').
// byte_to_utf8 returns that codepoint's UTF-8; utf8_to_byte maps it back (false if `cpt` is
// not one of the 256 mapped codepoints).
const std::string& byte_to_utf8(uint8 b);
bool cpt_to_byte(uint32 cpt, uint8* out);

}  // namespace vk_symbiote::unicode
