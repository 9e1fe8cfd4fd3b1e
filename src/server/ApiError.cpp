#include "server/ApiError.h"

namespace vk_symbiote::server {

nlohmann::json ApiError::to_json() const {
    auto null_if_empty = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
    return {{"error", {{"message", message}, {"type", type}, {"param", null_if_empty(param)}, {"code", null_if_empty(code)}}}};
}

ApiError api_error(int status, std::string message, std::string type, std::string param, std::string code) {
    ApiError e;
    e.status = status;
    e.message = std::move(message);
    e.type = std::move(type);
    e.param = std::move(param);
    e.code = std::move(code);
    return e;
}

ApiError bad_request(std::string message, std::string param) { return api_error(400, std::move(message), "invalid_request_error", std::move(param)); }

ApiError unauthorized() {
    return api_error(401, "missing or wrong API key: send the header 'Authorization: Bearer <key>' with the server's --api-key",
                     "authentication_error", {}, "invalid_api_key");
}

ApiError not_found(std::string message) { return api_error(404, std::move(message), "not_found_error"); }

ApiError server_error(std::string message) { return api_error(500, std::move(message), "server_error"); }

ApiError unavailable(std::string message) { return api_error(503, std::move(message), "server_error", {}, "server_busy"); }

ApiError from_engine_error(const Error& e) {
    if (e.code == ErrorCode::InvalidArgument || e.code == ErrorCode::BudgetTooSmall) return bad_request(e.message);
    return server_error(e.to_string());
}

}  // namespace vk_symbiote::server
