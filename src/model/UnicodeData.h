// Generated Unicode tables (src/model/UnicodeData.cpp, made by scripts/gen_unicode_tables.py
// from Debian's unicode-data package). Read them through model/Unicode.h, not directly.
#pragma once

#include <cstddef>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::unicode_data {

// One run of codepoints sharing a coarse general category (values of UnicodeClass).
struct ClassRun {
    uint32 first;
    uint8 cls;
};
struct CptRange {
    uint32 lo, hi;  // inclusive
};

extern const ClassRun kClassRuns[];  // sorted by first, kClassRuns[0].first == 0
extern const size_t kClassRunCount;
extern const CptRange kWhitespace[];  // sorted, White_Space property
extern const size_t kWhitespaceCount;

}  // namespace vk_symbiote::unicode_data
