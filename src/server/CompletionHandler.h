// CompletionHandler: POST /v1/chat/completions and /v1/completions. Reads the request
// (CompletionRequest), builds its prompt tokens (PromptTokens), queues it on the engine driver
// and answers either the whole completion when it ends or a stream of server-sent events
// (SseWriter) as it is generated. A streaming client that disconnects cancels its generation.
#pragma once

#include "server/CompletionRequest.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace vk_symbiote::server {

struct ServerContext;

void handle_completion(const ServerContext& ctx, Endpoint endpoint, const httplib::Request& req, httplib::Response& res);

// Answers `e` as OpenAI's error object with its status.
void send_error(httplib::Response& res, const ApiError& e);
// The body as JSON; false (and the 400 answered) when it is not.
bool parse_body(const httplib::Request& req, httplib::Response& res, nlohmann::json& out);

}  // namespace vk_symbiote::server
