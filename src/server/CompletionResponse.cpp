#include "server/CompletionResponse.h"

#include <atomic>
#include <chrono>

#include "model/Tokenizer.h"

namespace vk_symbiote::server {

namespace {
using nlohmann::json;

json token_entry(const Tokenizer& tok, uint32 id, float logprob) {
    const std::string text = tok.token_to_piece(id);
    json bytes = json::array();
    for (unsigned char c : text) bytes.push_back(int(c));
    return {{"token", text}, {"logprob", logprob}, {"bytes", bytes}};
}

// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}, ...]}.
json chat_logprobs(const Tokenizer& tok, std::span<const TokenLogprob> lps) {
    json content = json::array();
    for (const TokenLogprob& lp : lps) {
        json e = token_entry(tok, lp.token, lp.logprob);
        e["top_logprobs"] = json::array();
        for (const auto& [id, l] : lp.top) e["top_logprobs"].push_back(token_entry(tok, id, l));
        content.push_back(std::move(e));
    }
    return {{"content", content}};
}

// Completions (the legacy shape): parallel lists of tokens, their logprobs, {token: logprob}
// of the alternatives and each token's offset in the text.
json completion_logprobs(const Tokenizer& tok, std::span<const TokenLogprob> lps) {
    json tokens = json::array(), logprobs = json::array(), top = json::array(), offsets = json::array();
    size_t offset = 0;
    for (const TokenLogprob& lp : lps) {
        const std::string text = tok.token_to_piece(lp.token);
        tokens.push_back(text);
        logprobs.push_back(lp.logprob);
        json alts = json::object();
        for (const auto& [id, l] : lp.top) alts[tok.token_to_piece(id)] = l;
        top.push_back(std::move(alts));
        offsets.push_back(offset);
        offset += text.size();
    }
    return {{"tokens", tokens}, {"token_logprobs", logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

json logprobs_json(const ResponseContext& ctx, std::span<const TokenLogprob> lps, bool wanted) {
    if (!wanted) return nullptr;
    return ctx.endpoint == Endpoint::Chat ? chat_logprobs(*ctx.tokenizer, lps) : completion_logprobs(*ctx.tokenizer, lps);
}

json envelope(const ResponseContext& ctx, const char* object) {
    return {{"id", ctx.id}, {"object", object}, {"created", ctx.created}, {"model", ctx.model}, {"system_fingerprint", "vk_symbiote"}};
}

json finish_value(const char* r) { return r ? json(r) : json(nullptr); }
}  // namespace

ResponseContext make_response_context(Endpoint endpoint, std::string model, const Tokenizer& tok) {
    static std::atomic<uint64> counter{0};
    const int64 now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const std::string prefix = endpoint == Endpoint::Chat ? "chatcmpl-" : "cmpl-";
    return {endpoint, prefix + std::to_string(now) + "-" + std::to_string(++counter), now, std::move(model), &tok};
}

const char* openai_finish_reason(FinishReason r) {
    switch (r) {
        case FinishReason::None: return nullptr;
        case FinishReason::Length:
        case FinishReason::ContextLimit: return "length";
        default: return "stop";
    }
}

json usage_json(const GenerationStatus& st) {
    const uint64 completion = st.tokens.size();
    return {{"prompt_tokens", st.prompt_tokens}, {"completion_tokens", completion}, {"total_tokens", st.prompt_tokens + completion},
            {"prompt_tokens_details", {{"cached_tokens", st.cached_prompt_tokens}}}};
}

json completion_json(const ResponseContext& ctx, const GenerationStatus& st, bool with_logprobs) {
    const bool chat = ctx.endpoint == Endpoint::Chat;
    json choice = {{"index", 0}, {"finish_reason", finish_value(openai_finish_reason(st.finish))},
                   {"logprobs", logprobs_json(ctx, st.logprobs, with_logprobs)}};
    if (chat) choice["message"] = {{"role", "assistant"}, {"content", st.text}};
    else choice["text"] = st.text;
    json body = envelope(ctx, chat ? "chat.completion" : "text_completion");
    body["choices"] = json::array({choice});
    body["usage"] = usage_json(st);
    body["timings"] = {{"prompt_n", st.prompt_tokens}, {"predicted_n", st.tokens.size()}, {"time_to_first_token_ms", st.time_to_first_token_ms},
                       {"decode_ms", st.decode_ms}};
    return body;
}

json chunk_json(const ResponseContext& ctx, const std::string& text, std::span<const TokenLogprob> lps, bool with_logprobs,
                const char* finish_reason, bool first) {
    const bool chat = ctx.endpoint == Endpoint::Chat;
    json choice = {{"index", 0}, {"finish_reason", finish_value(finish_reason)}, {"logprobs", logprobs_json(ctx, lps, with_logprobs && !lps.empty())}};
    if (chat) {
        json delta = json::object();
        if (first) delta["role"] = "assistant";
        if (!text.empty() || (first && !finish_reason)) delta["content"] = text;
        choice["delta"] = delta;
    } else {
        choice["text"] = text;
    }
    json body = envelope(ctx, chat ? "chat.completion.chunk" : "text_completion");
    body["choices"] = json::array({choice});
    return body;
}

json usage_chunk_json(const ResponseContext& ctx, const GenerationStatus& st) {
    json body = envelope(ctx, ctx.endpoint == Endpoint::Chat ? "chat.completion.chunk" : "text_completion");
    body["choices"] = json::array();
    body["usage"] = usage_json(st);
    return body;
}

}  // namespace vk_symbiote::server
