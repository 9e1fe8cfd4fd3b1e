// SseWriter: one generation streamed as server-sent events, OpenAI's way: a `data: {chunk}`
// event per batch of new text, a last chunk with finish_reason, the usage chunk when
// stream_options.include_usage asked for it, then `data: [DONE]`. A failure mid-stream is an
// event with OpenAI's error object. While there is nothing new (queued behind --parallel) it
// sends an SSE comment every second, so a client that went away is noticed even then.
//
// Thread-safety: one HTTP thread per writer.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "server/CompletionResponse.h"
#include "server/GenerationStream.h"

namespace vk_symbiote::server {

class SseWriter {
public:
    // Sends bytes to the client; false when the connection is gone.
    using Write = std::function<bool(const std::string&)>;
    enum class Pump { More, Done, ClientGone };

    SseWriter(ResponseContext ctx, std::shared_ptr<GenerationStream> stream, bool with_logprobs, bool include_usage);
    // Waits (at most about a second) for news and writes it.
    Pump pump(const Write& write);

private:
    Pump write_news(const Write& write, const GenerationStatus& st);
    Pump write_end(const Write& write, const GenerationStatus& st);

    ResponseContext ctx_;
    std::shared_ptr<GenerationStream> stream_;
    bool with_logprobs_;
    bool include_usage_;
    uint64 version_ = 0;
    size_t sent_text_ = 0;      // bytes of the text already sent
    size_t sent_logprobs_ = 0;  // tokens whose logprobs were sent
    bool first_ = true;
};

// "data: <json>\n\n"
std::string sse_event(const nlohmann::json& body);

}  // namespace vk_symbiote::server
