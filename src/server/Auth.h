// Auth: the --api-key check. A request is authorized when no key is set, when it asks for
// /health, or when it carries "Authorization: Bearer <key>" (compared in constant time, so
// the answer's timing does not tell how much of a guess was right).
#pragma once

#include <string>
#include <string_view>

namespace vk_symbiote::server {

bool is_authorized(std::string_view path, std::string_view authorization_header, const std::string& api_key);

}  // namespace vk_symbiote::server
