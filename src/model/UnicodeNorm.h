// Unicode normalization forms NFD and NFC (canonical decomposition, canonical ordering and,
// for NFC, canonical composition; UAX #15), as tokenizer.json's "NFD" / "NFC" normalizers
// apply them. Compatibility forms (NFKD, NFKC) are not implemented.
//
// Pure functions over codepoints, thread-safe.
#pragma once

#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::unicode {

uint8 combining_class(uint32 cpt);  // canonical combining class, 0 for starters
std::vector<uint32> to_nfd(const std::vector<uint32>& cpts);
std::vector<uint32> to_nfc(const std::vector<uint32>& cpts);

}  // namespace vk_symbiote::unicode
