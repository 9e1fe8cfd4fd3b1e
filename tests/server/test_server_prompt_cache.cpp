// The server's prompt cache (server/PromptCache, --prompt-cache): a chat's next turn, which
// resends the whole conversation, computes only its new tokens and answers what a server
// without the cache answers; kept caches stay within --prompt-cache and give their KV blocks
// back when a request needs them.
#include <gtest/gtest.h>

#include "TestServer.h"
#include "server/PromptCache.h"

using namespace vk_symbiote;
using nlohmann::json;

namespace {

json chat(const json& messages, int max_tokens) { return {{"messages", messages}, {"max_tokens", max_tokens}}; }

struct Turn2 {
    std::string text;
    json usage;
    int turn1_prompt = 0;  // turn 1's prompt tokens
};

// Turn 1, then turn 2 with turn 1's reply in the conversation.
Turn2 second_turn(const test::TestServer& s) {
    json messages = json::array({{{"role", "user"}, {"content", "Once upon a time there was a little cat."}}});
    auto [s1, r1] = s.post("/v1/chat/completions", chat(messages, 24));
    EXPECT_EQ(s1, 200) << r1.dump();
    messages.push_back({{"role", "assistant"}, {"content", r1["choices"][0]["message"]["content"]}});
    messages.push_back({{"role", "user"}, {"content", "What did the cat do next?"}});
    auto [s2, r2] = s.post("/v1/chat/completions", chat(messages, 24));
    EXPECT_EQ(s2, 200) << r2.dump();
    return {r2["choices"][0]["message"]["content"], r2["usage"], r1["usage"]["prompt_tokens"]};
}

TEST(ServerPromptCache, ANextTurnComputesOnlyItsNewTokensAndAnswersTheSame) {
    test::TestServer cached({"--prompt-cache", "4"});
    const Turn2 turn = second_turn(cached);
    test::TestServer plain({"--prompt-cache", "0"});
    const Turn2 plain_turn = second_turn(plain);
    EXPECT_EQ(turn.text, plain_turn.text) << "greedy: the kept cache changes nothing but the work";
    EXPECT_EQ(plain_turn.usage["prompt_tokens_details"]["cached_tokens"], 0);
    // Turn 1's prompt at least (its reply's text, tokenized again, may part from the sampled tokens).
    const int prompt = turn.usage["prompt_tokens"], reused = turn.usage["prompt_tokens_details"]["cached_tokens"];
    EXPECT_GE(reused, turn.turn1_prompt) << "turn 1's prompt and the start of its reply come from its kept cache";
    EXPECT_LT(reused, prompt);
    EXPECT_EQ(cached.metric("prompt_tokens_cached_total"), reused);
    EXPECT_EQ(cached.metric("prompt_cache_entries"), 2);
}

TEST(ServerPromptCache, KeptCachesStayWithinTheLimitAndGiveWayToARequestThatNeedsTheBlocks) {
    // 128 positions in all: a 100-token generation needs nearly every block.
    test::TestServer server({"--prompt-cache", "2", "--kv-pool-tokens", "128", "--ctx-size", "128"});
    const char* starts[] = {"The dog ran", "A bird sang", "Lily and Tom", "The sun was hot"};
    for (const char* start : starts) {
        auto [status, r] = server.post("/v1/completions", {{"prompt", start}, {"max_tokens", 16}, {"ignore_eos", true}});
        ASSERT_EQ(status, 200) << r.dump();
        EXPECT_LE(server.metric("prompt_cache_entries"), 2);
    }
    EXPECT_EQ(server.metric("prompt_cache_entries"), 2);
    auto [status, r] = server.post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 100}, {"ignore_eos", true}});
    ASSERT_EQ(status, 200) << r.dump();
    EXPECT_EQ(r["usage"]["completion_tokens"], 100);
    EXPECT_EQ(server.metric("requests_failed_total"), 0);
}

TEST(PromptCache, TheLongestSharedPrefixWinsAndTheLeastRecentlyUsedGoesFirst) {
    server::PromptCache cache(2);
    EXPECT_TRUE(cache.keep(1, {1, 2, 3, 4, 5, 6}).empty());
    EXPECT_TRUE(cache.keep(2, {1, 2, 3, 4, 9, 9, 9}).empty());
    EXPECT_EQ(cache.best_match({1, 2, 3, 4, 5, 7}), 1u);
    EXPECT_EQ(cache.best_match({1, 2, 3, 4, 9, 9}), 2u);
    EXPECT_FALSE(cache.best_match({1, 2, 3}).has_value()) << "fewer than kMinShared tokens in common";
    EXPECT_FALSE(cache.best_match({7, 1, 2, 3, 4}).has_value());
    cache.best_match({1, 2, 3, 4, 5});  // 1 used last
    EXPECT_EQ(cache.keep(3, {5, 5, 5, 5}), std::vector<GenerationId>{2}) << "beyond capacity: the least recently used";
    EXPECT_EQ(cache.evict_oldest(), 1u);
    EXPECT_EQ(cache.clear(), std::vector<GenerationId>{3});
    EXPECT_EQ(server::PromptCache(0).keep(4, {1, 2, 3, 4}), std::vector<GenerationId>{4}) << "capacity 0 keeps nothing";
}

}  // namespace
