// Generated Unicode normalization tables (src/model/UnicodeNormData.cpp, made by
// scripts/gen_unicode_norm.py from Debian's unicode-data package). Read them through
// model/UnicodeNorm.h, not directly.
#pragma once

#include <cstddef>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::unicode_data {

struct CombiningRun {
    uint32 first, last;  // inclusive
    uint8 ccc;           // canonical combining class (never 0 here)
};
struct Decomposition {
    uint32 cpt;
    uint32 first, second;  // second == 0: a singleton decomposition
    uint8 composes;        // 1: NFC recombines (first, second) into cpt
};

extern const CombiningRun kCombiningRuns[];  // sorted by first
extern const size_t kCombiningRunCount;
extern const Decomposition kDecompositions[];  // sorted by cpt
extern const size_t kDecompositionCount;

}  // namespace vk_symbiote::unicode_data
