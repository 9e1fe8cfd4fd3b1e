// Routes: every HTTP endpoint of `vk_symbiote serve` on a cpp-httplib server:
//   GET  /                     the chat page (ChatPage)
//   GET  /health               {"status": "ok"} (never asks for the API key)
//   GET  /v1/models            the one model served
//   GET  /props                model, backend, placement, context, parallel, tokens/s (the chat page reads it)
//   GET  /metrics              Prometheus text (Metrics)
//   POST /v1/chat/completions  POST /v1/completions  (also without /v1), streamed or not
//   POST /tokenize  /detokenize  /apply-template     llama.cpp's helpers
// With an API key, every other endpoint answers 401 without "Authorization: Bearer <key>".
// Errors are OpenAI's error object (ApiError).
#pragma once

namespace httplib {
class Server;
}

namespace vk_symbiote::server {

struct ServerContext;

// `ctx` must outlive the server.
void register_routes(httplib::Server& http, const ServerContext& ctx);

}  // namespace vk_symbiote::server
