#include "server/Auth.h"

namespace vk_symbiote::server {

namespace {
bool equal_constant_time(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}
}  // namespace

bool is_authorized(std::string_view path, std::string_view header, const std::string& api_key) {
    if (api_key.empty() || path == "/health") return true;
    constexpr std::string_view kBearer = "Bearer ";
    if (header.substr(0, kBearer.size()) != kBearer) return false;
    return equal_constant_time(header.substr(kBearer.size()), api_key);
}

}  // namespace vk_symbiote::server
