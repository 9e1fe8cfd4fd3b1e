// Units: byte sizes printed in the unit the options take, GiB (2^30 bytes: --vram-gb,
// --ram-gb), so that a printed figure can be passed back as an option value.
#pragma once

#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

inline constexpr double kBytesPerGiB = 1073741824.0;

// "3.39 GiB", "0.361 GiB", "0.00109 GiB": three significant digits, at least two decimals.
std::string format_gib(uint64 bytes);
// A minimum, e.g. "0.3613 GiB": four significant digits rounded up, so that
// `--ram-gb <the number>` is at least `bytes` bytes.
std::string format_gib_up(uint64 bytes);

}  // namespace vk_symbiote
