// ChatPage: the page GET / serves: one static HTML file with its script (chat_page.html next
// to this file, compiled in by CMake; no external assets). A conversation with streamed
// replies (POST /v1/chat/completions, stream: true), a stop button, temperature and
// max-tokens fields, and the server's tokens/s and placement (GET /props).
#pragma once

#include <string_view>

namespace vk_symbiote::server {

std::string_view chat_page_html();

}  // namespace vk_symbiote::server
