#include "server/SseWriter.h"

#include <span>

namespace vk_symbiote::server {

namespace {
constexpr auto kKeepAlive = std::chrono::milliseconds(1000);
}

std::string sse_event(const nlohmann::json& body) {
    return "data: " + body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

SseWriter::SseWriter(ResponseContext ctx, std::shared_ptr<GenerationStream> stream, bool with_logprobs, bool include_usage)
    : ctx_(std::move(ctx)), stream_(std::move(stream)), with_logprobs_(with_logprobs), include_usage_(include_usage) {}

SseWriter::Pump SseWriter::pump(const Write& write) {
    GenerationStatus st;
    if (!stream_->wait_newer(version_, st, kKeepAlive)) return write(": waiting\n\n") ? Pump::More : Pump::ClientGone;
    if (st.finish == FinishReason::Error) {
        const bool ok = write(sse_event(server_error(st.error).to_json())) && write("data: [DONE]\n\n");
        return ok ? Pump::Done : Pump::ClientGone;
    }
    if (Pump p = write_news(write, st); p != Pump::More) return p;
    return is_done(st) ? write_end(write, st) : Pump::More;
}

// The text and logprobs that came since the last chunk, as one chunk (none when nothing came).
SseWriter::Pump SseWriter::write_news(const Write& write, const GenerationStatus& st) {
    const std::string text = st.text.size() > sent_text_ ? st.text.substr(sent_text_) : std::string();
    std::span<const TokenLogprob> lps;
    if (st.logprobs.size() > sent_logprobs_) lps = std::span(st.logprobs).subspan(sent_logprobs_);
    if (text.empty() && lps.empty() && !first_) return Pump::More;
    if (text.empty() && lps.empty() && is_done(st)) return Pump::More;  // the end chunk carries the role then
    const bool ok = write(sse_event(chunk_json(ctx_, text, lps, with_logprobs_, nullptr, first_)));
    first_ = false;
    sent_text_ = st.text.size();
    sent_logprobs_ = st.logprobs.size();
    return ok ? Pump::More : Pump::ClientGone;
}

SseWriter::Pump SseWriter::write_end(const Write& write, const GenerationStatus& st) {
    bool ok = write(sse_event(chunk_json(ctx_, "", {}, false, openai_finish_reason(st.finish), first_)));
    if (ok && include_usage_) ok = write(sse_event(usage_chunk_json(ctx_, st)));
    ok = ok && write("data: [DONE]\n\n");
    return ok ? Pump::Done : Pump::ClientGone;
}

}  // namespace vk_symbiote::server
