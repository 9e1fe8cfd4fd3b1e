#include "server/CompletionHandler.h"

#include <httplib.h>

#include "server/CompletionResponse.h"
#include "server/PromptTokens.h"
#include "server/ServerContext.h"
#include "server/SseWriter.h"

namespace vk_symbiote::server {

namespace {
const char* kJson = "application/json";

void send_json(httplib::Response& res, const nlohmann::json& body) {
    res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kJson);
}

// Streams the generation; the releaser runs when the response ends, or when the connection
// broke (success false), which cancels the generation.
void stream_response(httplib::Response& res, ResponseContext rctx, const CompletionRequest& creq, std::shared_ptr<GenerationStream> stream) {
    auto writer = std::make_shared<SseWriter>(std::move(rctx), stream, creq.options.logprobs, creq.include_usage);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [writer, stream](size_t, httplib::DataSink& sink) {
            const auto p = writer->pump([&](const std::string& bytes) { return sink.write(bytes.data(), bytes.size()); });
            if (p == SseWriter::Pump::ClientGone) stream->cancel();
            if (p == SseWriter::Pump::Done) sink.done();
            return p != SseWriter::Pump::ClientGone;
        },
        [stream](bool success) {
            if (!success) stream->cancel();
        });
}

void whole_response(httplib::Response& res, const ResponseContext& rctx, const CompletionRequest& creq, GenerationStream& stream) {
    const GenerationStatus st = stream.wait_finished();
    if (st.finish == FinishReason::Error) return send_error(res, server_error(st.error));
    send_json(res, completion_json(rctx, st, creq.options.logprobs));
}
}  // namespace

void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    send_json(res, e.to_json());
}

bool parse_body(const httplib::Request& req, httplib::Response& res, nlohmann::json& out) {
    out = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!out.is_discarded()) return true;
    send_error(res, bad_request("the request body is not valid JSON"));
    return false;
}

void handle_completion(const ServerContext& ctx, Endpoint endpoint, const httplib::Request& req, httplib::Response& res) {
    nlohmann::json body;
    if (!parse_body(req, res, body)) return;
    CompletionRequest creq;
    if (auto e = parse_completion_request(body, endpoint, ctx.defaults, creq)) return send_error(res, *e);
    GenerationRequest greq;
    if (auto e = prompt_tokens(creq, *ctx.chat_template, *ctx.tokenizer, ctx.context_size, greq.prompt_tokens)) return send_error(res, *e);
    greq.options = creq.options;
    auto stream = ctx.driver->enqueue(std::move(greq));
    if (!stream) return send_error(res, unavailable("the server is busy: its queue (--max-queue) is full; try again later"));
    ResponseContext rctx = make_response_context(endpoint, ctx.model_id, *ctx.tokenizer);
    if (creq.stream) return stream_response(res, std::move(rctx), creq, std::move(stream));
    whole_response(res, rctx, creq, *stream);
}

}  // namespace vk_symbiote::server
