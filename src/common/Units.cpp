#include "common/Units.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace vk_symbiote {

namespace {

// Decimals that show `significant` digits of v (at least two).
int decimals_for(double v, int significant) {
    if (v <= 0) return 2;
    return std::max(2, significant - 1 - int(std::floor(std::log10(v))));
}

std::string fixed(double v, int decimals) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
    return b;
}

}  // namespace

std::string format_gib(uint64 bytes) {
    const double v = double(bytes) / kBytesPerGiB;
    return fixed(v, decimals_for(v, 3)) + " GiB";
}

std::string format_gib_up(uint64 bytes) {
    const double v = double(bytes) / kBytesPerGiB;
    const int d = decimals_for(v, 4);
    const double scale = std::pow(10.0, d);
    double shown = std::ceil(v * scale) / scale;
    // The text must parse back to at least `bytes` (MemoryConfig rounds GiB x 2^30 down).
    while (uint64(std::strtod(fixed(shown, d).c_str(), nullptr) * kBytesPerGiB) < bytes) shown += 1 / scale;
    return fixed(shown, d) + " GiB";
}

}  // namespace vk_symbiote
