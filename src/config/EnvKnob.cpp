#include "config/EnvKnob.h"

#include <cstdlib>
#include <string>

namespace vk_symbiote {

ExpectedVoid env_whole_number(const char* name, int64 lo, int64 hi, const char* what, int64& out) {
    const char* z = std::getenv(name);
    if (!z || !*z) return {};
    char* end = nullptr;
    const long long v = std::strtoll(z, &end, 10);
    if (*end || v < lo || v > hi)
        return make_error(ErrorCode::InvalidArgument, std::string(name) + "=" + z + ": expected " + what + " in [" + std::to_string(lo) + ", " +
                                                          std::to_string(hi) + "]");
    out = int64(v);
    return {};
}

}  // namespace vk_symbiote
