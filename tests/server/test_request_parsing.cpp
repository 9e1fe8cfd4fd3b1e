// OpenAI request bodies read into GenerationOptions, the API key check, and the SSE framing,
// without a server.
#include <gtest/gtest.h>

#include "server/Auth.h"
#include "server/CompletionRequest.h"
#include "server/CompletionResponse.h"

using namespace vk_symbiote;
using namespace vk_symbiote::server;
using nlohmann::json;

namespace {

RequestDefaults defaults() {
    RequestDefaults d;
    d.options.temperature = 0.7f;
    d.options.max_tokens = 100;
    d.max_tokens_limit = 500;
    return d;
}

TEST(CompletionRequest, ReadsEverySamplingField) {
    const json body = {{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})},
                       {"max_completion_tokens", 42}, {"temperature", 0.2}, {"top_p", 0.5}, {"top_k", 7}, {"min_p", 0.1},
                       {"repeat_penalty", 1.3}, {"presence_penalty", 0.5}, {"frequency_penalty", -0.5}, {"seed", 99},
                       {"stop", "END"}, {"logprobs", true}, {"top_logprobs", 4}, {"stream", true},
                       {"stream_options", {{"include_usage", true}}}, {"user", "ignored"}};
    CompletionRequest r;
    ASSERT_FALSE(parse_completion_request(body, Endpoint::Chat, defaults(), r));
    EXPECT_EQ(r.options.max_tokens, 42u);
    EXPECT_FLOAT_EQ(r.options.temperature, 0.2f);
    EXPECT_FLOAT_EQ(r.options.top_p, 0.5f);
    EXPECT_EQ(r.options.top_k, 7u);
    EXPECT_FLOAT_EQ(r.options.min_p, 0.1f);
    EXPECT_FLOAT_EQ(r.options.repeat_penalty, 1.3f);
    EXPECT_FLOAT_EQ(r.options.presence_penalty, 0.5f);
    EXPECT_FLOAT_EQ(r.options.frequency_penalty, -0.5f);
    EXPECT_EQ(r.options.seed, 99u);
    EXPECT_EQ(r.options.stop, std::vector<std::string>{"END"});
    EXPECT_TRUE(r.options.logprobs);
    EXPECT_EQ(r.options.top_logprobs, 4u);
    EXPECT_TRUE(r.stream);
    EXPECT_TRUE(r.include_usage);
}

TEST(CompletionRequest, DefaultsAndPromptForms) {
    CompletionRequest r;
    ASSERT_FALSE(parse_completion_request({{"prompt", "abc"}}, Endpoint::Completion, defaults(), r));
    EXPECT_EQ(r.prompt, "abc");
    EXPECT_EQ(r.options.max_tokens, 100u);
    EXPECT_FLOAT_EQ(r.options.temperature, 0.7f);
    EXPECT_FALSE(r.options.logprobs);
    CompletionRequest ids;
    ASSERT_FALSE(parse_completion_request({{"prompt", json::array({json::array({1, 2, 3})})}, {"logprobs", 0}}, Endpoint::Completion, defaults(), ids));
    EXPECT_EQ(ids.prompt_tokens, (std::vector<uint32>{1, 2, 3}));
    EXPECT_TRUE(ids.options.logprobs);
    CompletionRequest parts;
    const json msg = {{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}})}};
    ASSERT_FALSE(parse_completion_request({{"messages", json::array({msg})}}, Endpoint::Chat, defaults(), parts));
    EXPECT_EQ(parts.messages[0]["content"], "ab");
}

TEST(CompletionRequest, RefusalsNameTheField) {
    const json msgs = json::array({{{"role", "user"}, {"content", "hi"}}});
    const std::vector<std::pair<json, std::string>> cases = {
        {{{"messages", msgs}, {"max_tokens", 501}}, "max_tokens"},
        {{{"messages", msgs}, {"max_tokens", 0}}, "max_tokens"},
        {{{"messages", msgs}, {"n", 3}}, "n"},
        {{{"messages", msgs}, {"seed", 1.5}}, "seed"},
        {{{"messages", msgs}, {"presence_penalty", 3}}, "presence_penalty"},
        {{{"messages", msgs}, {"stop", json::array({1})}}, "stop"},
        {{{"messages", msgs}, {"stream", "yes"}}, "stream"},
        {{{"messages", json::array({{{"role", "user"}, {"content", json::array({{{"type", "image_url"}}})}}})}}, "messages"},
        {{{"prompt", json::array({"a", "b"})}}, "prompt"},
    };
    for (const auto& [body, param] : cases) {
        CompletionRequest r;
        const Endpoint ep = body.contains("prompt") ? Endpoint::Completion : Endpoint::Chat;
        auto e = parse_completion_request(body, ep, defaults(), r);
        ASSERT_TRUE(e) << body.dump();
        EXPECT_EQ(e->status, 400);
        EXPECT_EQ(e->param, param) << body.dump();
    }
}

TEST(Auth, BearerKeyExceptHealth) {
    EXPECT_TRUE(is_authorized("/v1/models", "", ""));
    EXPECT_TRUE(is_authorized("/health", "", "k"));
    EXPECT_FALSE(is_authorized("/v1/models", "", "k"));
    EXPECT_FALSE(is_authorized("/v1/models", "Bearer x", "k"));
    EXPECT_FALSE(is_authorized("/v1/models", "Bearer kk", "k"));
    EXPECT_FALSE(is_authorized("/v1/models", "k", "k"));
    EXPECT_TRUE(is_authorized("/v1/models", "Bearer k", "k"));
}

TEST(CompletionResponse, FinishReasonsAndErrorObject) {
    EXPECT_STREQ(openai_finish_reason(FinishReason::Length), "length");
    EXPECT_STREQ(openai_finish_reason(FinishReason::ContextLimit), "length");
    EXPECT_STREQ(openai_finish_reason(FinishReason::Stop), "stop");
    EXPECT_EQ(openai_finish_reason(FinishReason::None), nullptr);
    const json e = bad_request("bad", "temperature").to_json();
    EXPECT_EQ(e["error"]["message"], "bad");
    EXPECT_EQ(e["error"]["param"], "temperature");
    EXPECT_TRUE(e["error"]["code"].is_null());
}

}  // namespace
