// Generation through the server: streamed and whole answers agree, stop strings are never
// emitted, a seed reproduces a sampled answer, usage / finish_reason / logprobs are OpenAI's.
#include <gtest/gtest.h>

#include <cmath>

#include "TestServer.h"

using namespace vk_symbiote;
using nlohmann::json;

namespace {

class ServerGeneration : public ::testing::Test {
protected:
    static void SetUpTestSuite() { server_ = new test::TestServer({"--parallel", "2"}); }
    static void TearDownTestSuite() { delete server_; }
    static test::TestServer* server_;

    static json completion(json body) {
        auto [s, r] = server_->post("/v1/completions", body);
        EXPECT_EQ(s, 200) << r.dump();
        return r;
    }
};
test::TestServer* ServerGeneration::server_ = nullptr;

const json kMessages = json::array({{{"role", "user"}, {"content", "Tell me a story"}}});

TEST_F(ServerGeneration, ChatWholeAndStreamedAgree) {
    auto [s, whole] = server_->post("/v1/chat/completions", {{"messages", kMessages}, {"max_tokens", 24}});
    ASSERT_EQ(s, 200) << whole.dump();
    EXPECT_EQ(whole["object"], "chat.completion");
    const auto& choice = whole["choices"][0];
    EXPECT_EQ(choice["message"]["role"], "assistant");
    const std::string text = choice["message"]["content"];
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(whole["usage"]["total_tokens"], whole["usage"]["prompt_tokens"].get<int>() + whole["usage"]["completion_tokens"].get<int>());
    EXPECT_TRUE(choice["finish_reason"] == "length" || choice["finish_reason"] == "stop");

    auto streamed = test::post_stream(*server_, "/v1/chat/completions",
                                      {{"messages", kMessages}, {"max_tokens", 24}, {"stream_options", {{"include_usage", true}}}});
    ASSERT_EQ(streamed.status, 200);
    ASSERT_GE(streamed.events.size(), 3u);
    EXPECT_EQ(streamed.events.back(), "[DONE]");
    EXPECT_EQ(streamed.text(), text);
    const json first = json::parse(streamed.events.front());
    EXPECT_EQ(first["object"], "chat.completion.chunk");
    EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
    EXPECT_EQ(streamed.last_chunk_with_choices()["choices"][0]["finish_reason"], choice["finish_reason"]);
    const json usage = json::parse(streamed.events[streamed.events.size() - 2]);
    EXPECT_TRUE(usage["choices"].empty());
    for (const char* k : {"prompt_tokens", "completion_tokens", "total_tokens"}) EXPECT_EQ(usage["usage"][k], whole["usage"][k]) << k;
    EXPECT_EQ(usage["usage"]["prompt_tokens_details"]["cached_tokens"], whole["usage"]["prompt_tokens"].get<int>() - 1)
        << "the same prompt again: all but its last token from the first request's kept cache";
}

TEST_F(ServerGeneration, CompletionLengthAndUsage) {
    const json r = completion({{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"ignore_eos", true}});
    EXPECT_EQ(r["object"], "text_completion");
    EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(r["usage"]["completion_tokens"], 10);
    // Token ids as the prompt give the same answer as the text they encode.
    auto [ts, tok] = server_->post("/tokenize", {{"content", "Once upon a time"}, {"add_special", true}});
    ASSERT_EQ(ts, 200);
    const json by_ids = completion({{"prompt", tok["tokens"]}, {"max_tokens", 10}, {"ignore_eos", true}});
    EXPECT_EQ(by_ids["choices"][0]["text"], r["choices"][0]["text"]);
    EXPECT_EQ(by_ids["usage"]["prompt_tokens"], r["usage"]["prompt_tokens"]);
}

// A stop string cuts the text before it, in whole answers and in every streamed chunk.
TEST_F(ServerGeneration, StopStringsAreNeverEmitted) {
    const json base = {{"prompt", "Once upon a time"}, {"max_tokens", 60}, {"ignore_eos", true}};
    const std::string free_text = completion(base)["choices"][0]["text"];
    ASSERT_GT(free_text.size(), 30u);
    const std::string stop = free_text.substr(20, 4);
    const size_t cut = free_text.find(stop);
    json with_stop = base;
    with_stop["stop"] = json::array({stop, "never-appears-xyz"});
    const json r = completion(with_stop);
    EXPECT_EQ(r["choices"][0]["text"], free_text.substr(0, cut));
    EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
    auto streamed = test::post_stream(*server_, "/v1/completions", with_stop);
    ASSERT_EQ(streamed.status, 200);
    EXPECT_EQ(streamed.text(), free_text.substr(0, cut));
    for (const std::string& e : streamed.events) EXPECT_EQ(e.find(stop), std::string::npos) << e;
}

TEST_F(ServerGeneration, SeedReproducesASampledAnswer) {
    const json body = {{"prompt", "The little dog"}, {"max_tokens", 40}, {"temperature", 1.0}, {"top_k", 0}, {"top_p", 1.0}, {"min_p", 0}, {"seed", 1234}};
    const std::string a = completion(body)["choices"][0]["text"];
    const std::string b = completion(body)["choices"][0]["text"];
    EXPECT_EQ(a, b);
    std::set<std::string> seen;
    for (int seed = 1; seed <= 4; ++seed) {
        json other = body;
        other["seed"] = seed;
        seen.insert(completion(other)["choices"][0]["text"].get<std::string>());
    }
    EXPECT_GT(seen.size(), 1u) << "different seeds should sample different stories";
}

// Completions' logprobs: one entry per token, the greedy token the most likely one, the
// alternatives in order; log probabilities are <= 0 and a token's own equals its top entry.
TEST_F(ServerGeneration, CompletionLogprobs) {
    const json r = completion({{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"logprobs", 3}, {"ignore_eos", true}});
    const json& lp = r["choices"][0]["logprobs"];
    ASSERT_EQ(lp["tokens"].size(), 8u);
    ASSERT_EQ(lp["token_logprobs"].size(), 8u);
    std::string joined;
    for (size_t i = 0; i < 8; ++i) {
        const double own = lp["token_logprobs"][i];
        EXPECT_LE(own, 0.0);
        ASSERT_EQ(lp["top_logprobs"][i].size(), 3u);
        double best = -1e30;
        for (auto& [tok, l] : lp["top_logprobs"][i].items()) best = std::max(best, l.get<double>());
        EXPECT_NEAR(own, best, 1e-6) << "greedy picks the most likely token";
        EXPECT_EQ(lp["text_offset"][i], joined.size());
        joined += lp["tokens"][i].get<std::string>();
    }
}

TEST_F(ServerGeneration, ChatLogprobsStreamed) {
    auto streamed = test::post_stream(*server_, "/v1/chat/completions",
                                      {{"messages", kMessages}, {"max_tokens", 6}, {"logprobs", true}, {"top_logprobs", 2}, {"ignore_eos", true}});
    ASSERT_EQ(streamed.status, 200);
    size_t entries = 0;
    for (const std::string& e : streamed.events) {
        if (e == "[DONE]") continue;
        const json c = json::parse(e)["choices"][0];
        if (c["logprobs"].is_null()) continue;
        for (const json& t : c["logprobs"]["content"]) {
            ++entries;
            EXPECT_LE(t["logprob"].get<double>(), 0.0);
            ASSERT_EQ(t["top_logprobs"].size(), 2u);
            EXPECT_GE(t["top_logprobs"][0]["logprob"].get<double>(), t["top_logprobs"][1]["logprob"].get<double>());
        }
    }
    EXPECT_EQ(entries, 6u);
}

// Penalties change what greedy decoding picks once tokens repeat.
TEST_F(ServerGeneration, PenaltiesReachTheSampler) {
    const json base = {{"prompt", "Once upon a time"}, {"max_tokens", 40}, {"ignore_eos", true}};
    const std::string plain = completion(base)["choices"][0]["text"];
    json penalized = base;
    penalized["frequency_penalty"] = 2.0;
    penalized["presence_penalty"] = 2.0;
    EXPECT_NE(completion(penalized)["choices"][0]["text"], plain);
}

}  // namespace
