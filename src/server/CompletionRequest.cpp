#include "server/CompletionRequest.h"

#include <cmath>

namespace vk_symbiote::server {

namespace {
using nlohmann::json;
using Problem = std::optional<ApiError>;

constexpr size_t kMaxStopStrings = 16;
constexpr uint32 kMaxTopLogprobs = 20;

// A number in [lo, hi] at `key`, when present and not null.
Problem read_number(const json& body, const char* key, double lo, double hi, float& out) {
    if (!body.contains(key) || body[key].is_null()) return {};
    const json& v = body[key];
    if (!v.is_number()) return bad_request(std::string("'") + key + "' must be a number", key);
    const double d = v.get<double>();
    if (!std::isfinite(d) || d < lo || d > hi)
        return bad_request(std::string("'") + key + "' must be between " + json(lo).dump() + " and " + json(hi).dump(), key);
    out = float(d);
    return {};
}

// An integer in [lo, hi] at `key`, when present and not null.
Problem read_integer(const json& body, const char* key, int64 lo, int64 hi, std::optional<int64>& out) {
    if (!body.contains(key) || body[key].is_null()) return {};
    const json& v = body[key];
    if (!v.is_number_integer()) return bad_request(std::string("'") + key + "' must be an integer", key);
    const int64 i = v.is_number_unsigned() && v.get<uint64>() > uint64(INT64_MAX) ? INT64_MAX : v.get<int64>();
    if (i < lo || i > hi) return bad_request(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi), key);
    out = i;
    return {};
}

Problem read_bool(const json& body, const char* key, bool& out) {
    if (!body.contains(key) || body[key].is_null()) return {};
    if (!body[key].is_boolean()) return bad_request(std::string("'") + key + "' must be true or false", key);
    out = body[key].get<bool>();
    return {};
}

// "stop": a string or a list of strings, none empty.
Problem read_stop(const json& body, std::vector<std::string>& out) {
    if (!body.contains("stop") || body["stop"].is_null()) return {};
    const json& v = body["stop"];
    const json list = v.is_string() ? json::array({v}) : v;
    if (!list.is_array() || list.size() > kMaxStopStrings)
        return bad_request("'stop' must be a string or a list of at most " + std::to_string(kMaxStopStrings) + " strings", "stop");
    for (const json& s : list) {
        if (!s.is_string() || s.get<std::string>().empty()) return bad_request("'stop' strings must be non-empty strings", "stop");
        out.push_back(s.get<std::string>());
    }
    return {};
}

// max_tokens / max_completion_tokens (the newer name wins), within the server's limit.
Problem read_max_tokens(const json& body, const RequestDefaults& d, uint32& out) {
    for (const char* key : {"max_tokens", "max_completion_tokens"}) {
        std::optional<int64> v;
        if (auto p = read_integer(body, key, 1, d.max_tokens_limit, v)) {
            p->message += " (the server's --max-tokens-limit)";
            return p;
        }
        if (v) out = uint32(*v);
    }
    return {};
}

Problem read_sampling(const json& body, GenerationOptions& o) {
    Problem p;
    if ((p = read_number(body, "temperature", 0, 100, o.temperature))) return p;
    if ((p = read_number(body, "top_p", 0, 1, o.top_p))) return p;
    if ((p = read_number(body, "min_p", 0, 1, o.min_p))) return p;
    if ((p = read_number(body, "repeat_penalty", 1e-3, 100, o.repeat_penalty))) return p;
    if ((p = read_number(body, "presence_penalty", -2, 2, o.presence_penalty))) return p;
    if ((p = read_number(body, "frequency_penalty", -2, 2, o.frequency_penalty))) return p;
    std::optional<int64> top_k, seed;
    if ((p = read_integer(body, "top_k", 0, 1 << 30, top_k))) return p;
    if ((p = read_integer(body, "seed", INT64_MIN, INT64_MAX, seed))) return p;
    if (top_k) o.top_k = uint32(*top_k);
    if (seed) o.seed = uint64(*seed);
    return read_bool(body, "ignore_eos", o.ignore_eos);
}

// Chat: "logprobs" true/false and "top_logprobs" 0..20; completions: "logprobs" 0..20 (the
// number of alternatives; present means wanted).
Problem read_logprobs(const json& body, Endpoint ep, GenerationOptions& o) {
    std::optional<int64> top;
    if (ep == Endpoint::Completion) {
        if (auto p = read_integer(body, "logprobs", 0, kMaxTopLogprobs, top)) return p;
        o.logprobs = top.has_value();
        o.top_logprobs = uint32(top.value_or(0));
        return {};
    }
    if (auto p = read_bool(body, "logprobs", o.logprobs)) return p;
    if (auto p = read_integer(body, "top_logprobs", 0, kMaxTopLogprobs, top)) return p;
    if (top && !o.logprobs) return bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
    o.top_logprobs = uint32(top.value_or(0));
    return {};
}

// A message's content as text: a string, or a list of {"type": "text", "text": ...} parts.
Problem text_content(json& message) {
    json& c = message["content"];
    if (c.is_string() || c.is_null()) return {};
    if (!c.is_array()) return bad_request("a message's 'content' must be a string or a list of text parts", "messages");
    std::string text;
    for (const json& part : c) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
            return bad_request("only text content parts ({\"type\": \"text\", \"text\": ...}) are supported", "messages");
        text += part["text"].get<std::string>();
    }
    c = text;
    return {};
}

Problem read_messages(const json& body, nlohmann::ordered_json& out) {
    if (!body.contains("messages")) return bad_request("'messages' is required", "messages");
    out = nlohmann::ordered_json::parse(body["messages"].dump());  // keeps the client's key order for the template
    if (!out.is_array() || out.empty()) return bad_request("'messages' must be a non-empty list", "messages");
    for (auto& m : out) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
            return bad_request("every message must be an object with a string 'role'", "messages");
        json plain = json::parse(m.dump());
        if (auto p = text_content(plain)) return p;
        if (plain.contains("content")) m["content"] = plain["content"];
    }
    return {};
}

// "prompt": a string, a list of one string, a list of token ids, or a list of one such list.
Problem read_prompt(const json& body, CompletionRequest& r) {
    if (!body.contains("prompt")) return bad_request("'prompt' is required", "prompt");
    json v = body["prompt"];
    if (v.is_array() && v.size() == 1 && (v[0].is_string() || v[0].is_array())) v = json(v[0]);
    if (v.is_string()) {
        r.prompt = v.get<std::string>();
        return {};
    }
    if (!v.is_array() || v.empty()) return bad_request("'prompt' must be a string, token ids, or a list of one of them (several prompts need n > 1)", "prompt");
    for (const json& t : v) {
        if (!t.is_number_integer() || t.get<int64>() < 0 || t.get<int64>() > int64(UINT32_MAX))
            return bad_request("'prompt' token ids must be non-negative integers", "prompt");
        r.prompt_tokens.push_back(uint32(t.get<int64>()));
    }
    return {};
}

Problem read_stream(const json& body, CompletionRequest& r) {
    if (auto p = read_bool(body, "stream", r.stream)) return p;
    if (!body.contains("stream_options") || body["stream_options"].is_null()) return {};
    if (!body["stream_options"].is_object()) return bad_request("'stream_options' must be an object", "stream_options");
    return read_bool(body["stream_options"], "include_usage", r.include_usage);
}
}  // namespace

std::optional<ApiError> parse_completion_request(const json& body, Endpoint ep, const RequestDefaults& d, CompletionRequest& out) {
    if (!body.is_object()) return bad_request("the request body must be a JSON object");
    out.endpoint = ep;
    out.options = d.options;
    out.options.max_tokens = std::min(out.options.max_tokens, d.max_tokens_limit);
    std::optional<int64> n;
    Problem p;
    if ((p = read_integer(body, "n", 1, 1, n))) return bad_request("'n' must be 1: this server generates one choice per request", "n");
    if ((p = ep == Endpoint::Chat ? read_messages(body, out.messages) : read_prompt(body, out))) return p;
    if ((p = read_stream(body, out))) return p;
    if ((p = read_max_tokens(body, d, out.options.max_tokens))) return p;
    if ((p = read_sampling(body, out.options))) return p;
    if ((p = read_stop(body, out.options.stop))) return p;
    return read_logprobs(body, ep, out.options);
}

}  // namespace vk_symbiote::server
