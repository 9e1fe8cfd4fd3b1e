// ApiError: an HTTP error answered in OpenAI's form,
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
// with the status code OpenAI uses for it (400 bad request, 401 no or wrong key, 404 unknown
// route or model, 413 body too large, 500 the engine failed, 503 the queue is full).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::server {

struct ApiError {
    int status = 400;
    std::string message;
    std::string type = "invalid_request_error";
    std::string param;  // the request field at fault ("" = null)
    std::string code;   // a machine-readable reason ("" = null)

    nlohmann::json to_json() const;
};

ApiError api_error(int status, std::string message, std::string type = "invalid_request_error", std::string param = {}, std::string code = {});
ApiError bad_request(std::string message, std::string param = {});
ApiError unauthorized();
ApiError not_found(std::string message);
ApiError server_error(std::string message);
ApiError unavailable(std::string message);
// An engine Error: InvalidArgument / BudgetTooSmall are the request's fault (400), the rest 500.
ApiError from_engine_error(const Error& e);

}  // namespace vk_symbiote::server
