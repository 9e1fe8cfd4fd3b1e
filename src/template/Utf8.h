// UTF-8 text with Python's string semantics, for the template engine: templates index,
// slice, count and case-map strings by code point, as Python's str does.
//
// Invalid bytes never fail: each becomes its own code point kRawByteBase + byte and is
// written back as that byte, so decode -> encode is lossless on any input.
// Case mapping covers Latin (ASCII, Latin-1, Extended-A and Additional), Greek, Cyrillic,
// Armenian and fullwidth Latin; other scripts have no case here and are left unchanged.
// All functions are pure and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::jinja::utf8 {

inline constexpr uint32 kRawByteBase = 0x110000;  // past Unicode: an invalid byte kept as is

std::vector<uint32> decode(std::string_view s);
void append(std::string& out, uint32 cp);
std::string encode(const uint32* cps, size_t n);
inline std::string encode(const std::vector<uint32>& cps) { return encode(cps.data(), cps.size()); }

size_t length(std::string_view s);  // code points
bool is_ascii(std::string_view s);

bool is_space(uint32 cp);  // Python's str.isspace()
// s without its leading / trailing whitespace (Python's str.lstrip() / rstrip()).
std::string_view strip_left(std::string_view s);
std::string_view strip_right(std::string_view s);
// Python's str.splitlines(keepends): breaks at \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85,
// U+2028 and U+2029; no empty last line for a trailing break.
std::vector<std::string> split_lines(std::string_view s, bool keepends);
uint32 to_upper(uint32 cp);
uint32 to_lower(uint32 cp);
bool is_cased(uint32 cp);  // has an upper or lower case counterpart here
// Python's str.isupper() / islower(): some cased character and none of the other case.
bool is_all_case(std::string_view s, bool upper);

// Python's str.upper() / lower() / capitalize() (including the special cases that change
// length: German sharp s uppercases to "SS", dotted capital I lowercases to "i" + U+0307,
// and capital sigma lowercases to final sigma at the end of a word).
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);

}  // namespace vk_symbiote::jinja::utf8
