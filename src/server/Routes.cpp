#include "server/Routes.h"

#include <httplib.h>

#include "model/Tokenizer.h"
#include "server/Auth.h"
#include "server/ChatPage.h"
#include "server/CompletionHandler.h"
#include "server/PromptTokens.h"
#include "server/ServerContext.h"

namespace vk_symbiote::server {

namespace {
using nlohmann::json;
using httplib::Request;
using httplib::Response;

void send_json(Response& res, const json& body) { res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json"); }

json models_json(const ServerContext& ctx) {
    json model = {{"id", ctx.model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "vk_symbiote"},
                  {"meta", {{"n_ctx", ctx.context_size}, {"description", ctx.description}}}};
    return {{"object", "list"}, {"data", json::array({model})}};
}

json props_json(const ServerContext& ctx) {
    const DriverSnapshot s = ctx.driver->snapshot();
    const DriverCounters& c = s.counters;
    return {{"model", ctx.model_id},
            {"description", ctx.description},
            {"backend", s.metrics.backend},
            // The CPU backend has no placement line: the engine's description says where the weights are.
            {"placement", s.metrics.placement.empty() ? ctx.description : s.metrics.placement},
            {"scheduling", s.metrics.scheduling},
            {"n_ctx", ctx.context_size},
            {"parallel", ctx.parallel},
            {"tokens_per_second", c.busy_seconds > 0 ? double(c.generated_tokens) / c.busy_seconds : 0.0},
            {"decode_tokens_per_second", s.metrics.average_tokens_per_second},
            {"default_generation_settings", {{"temperature", ctx.defaults.options.temperature}, {"max_tokens", ctx.defaults.options.max_tokens}}}};
}

// {"content": text, "add_special": bool (false), "with_pieces": bool (false)} -> {"tokens": [...]}
void tokenize(const ServerContext& ctx, const Request& req, Response& res) {
    json body;
    if (!parse_body(req, res, body)) return;
    if (!body.is_object() || !body.contains("content") || !body["content"].is_string())
        return send_error(res, bad_request("'content' (a string) is required", "content"));
    const bool add_special = body.value("add_special", false), with_pieces = body.value("with_pieces", false);
    const auto ids = ctx.tokenizer->encode(body["content"].get<std::string>(), add_special, /*parse_special=*/true);
    json tokens = json::array();
    for (uint32 id : ids) tokens.push_back(with_pieces ? json{{"id", id}, {"piece", ctx.tokenizer->token_to_piece(id)}} : json(id));
    send_json(res, {{"tokens", tokens}});
}

// {"tokens": [ids]} -> {"content": text}
void detokenize(const ServerContext& ctx, const Request& req, Response& res) {
    json body;
    if (!parse_body(req, res, body)) return;
    if (!body.is_object() || !body.contains("tokens") || !body["tokens"].is_array())
        return send_error(res, bad_request("'tokens' (a list of token ids) is required", "tokens"));
    std::vector<uint32> ids;
    for (const json& t : body["tokens"]) {
        if (!t.is_number_integer() || t.get<int64>() < 0 || t.get<int64>() >= int64(ctx.tokenizer->n_vocab()))
            return send_error(res, bad_request("'tokens' must hold token ids below " + std::to_string(ctx.tokenizer->n_vocab()), "tokens"));
        ids.push_back(uint32(t.get<int64>()));
    }
    send_json(res, {{"content", ctx.tokenizer->decode(ids)}});
}

// {"messages": [...]} -> {"prompt": the chat template's rendering}
void apply_template(const ServerContext& ctx, const Request& req, Response& res) {
    json body;
    if (!parse_body(req, res, body)) return;
    CompletionRequest creq;
    if (auto e = parse_completion_request(body, Endpoint::Chat, ctx.defaults, creq)) return send_error(res, *e);
    std::string prompt;
    if (auto e = render_chat(*ctx.chat_template, creq.messages, prompt)) return send_error(res, *e);
    send_json(res, {{"prompt", prompt}});
}

void metrics(const ServerContext& ctx, Response& res) {
    res.set_content(prometheus_text(ctx.driver->snapshot(), ctx.budgets), "text/plain; version=0.0.4");
}

void register_completions(httplib::Server& http, const ServerContext& ctx) {
    for (const char* path : {"/v1/chat/completions", "/chat/completions"})
        http.Post(path, [&ctx](const Request& q, Response& r) { handle_completion(ctx, Endpoint::Chat, q, r); });
    for (const char* path : {"/v1/completions", "/completions"})
        http.Post(path, [&ctx](const Request& q, Response& r) { handle_completion(ctx, Endpoint::Completion, q, r); });
}

// 401 before any handler runs; OpenAI's error object for httplib's own errors (404, 413, ...).
void register_guards(httplib::Server& http, const ServerContext& ctx) {
    http.set_pre_routing_handler([&ctx](const Request& q, Response& r) {
        if (is_authorized(q.path, q.get_header_value("Authorization"), ctx.api_key)) return httplib::Server::HandlerResponse::Unhandled;
        send_error(r, unauthorized());
        return httplib::Server::HandlerResponse::Handled;
    });
    http.set_error_handler([](const Request& q, Response& r) {
        if (!r.body.empty()) return;
        if (r.status == 404) return send_error(r, not_found("no endpoint " + q.method + " " + q.path));
        if (r.status == 413) return send_error(r, api_error(413, "the request body is larger than --max-body-mb"));
        send_error(r, api_error(r.status, "HTTP error " + std::to_string(r.status)));
    });
    http.set_exception_handler([](const Request&, Response& r, std::exception_ptr e) {
        std::string what = "unknown error";
        try {
            if (e) std::rethrow_exception(e);
        } catch (const std::exception& x) {
            what = x.what();
        } catch (...) {
        }
        send_error(r, server_error("internal error: " + what));
    });
}
}  // namespace

void register_routes(httplib::Server& http, const ServerContext& ctx) {
    register_guards(http, ctx);
    register_completions(http, ctx);
    http.Get("/", [](const Request&, Response& r) { r.set_content(std::string(chat_page_html()), "text/html; charset=utf-8"); });
    http.Get("/health", [](const Request&, Response& r) { send_json(r, {{"status", "ok"}}); });
    for (const char* path : {"/v1/models", "/models"})
        http.Get(path, [&ctx](const Request&, Response& r) { send_json(r, models_json(ctx)); });
    http.Get("/props", [&ctx](const Request&, Response& r) { send_json(r, props_json(ctx)); });
    http.Get("/metrics", [&ctx](const Request&, Response& r) { metrics(ctx, r); });
    http.Post("/tokenize", [&ctx](const Request& q, Response& r) { tokenize(ctx, q, r); });
    http.Post("/detokenize", [&ctx](const Request& q, Response& r) { detokenize(ctx, q, r); });
    http.Post("/apply-template", [&ctx](const Request& q, Response& r) { apply_template(ctx, q, r); });
}

}  // namespace vk_symbiote::server
