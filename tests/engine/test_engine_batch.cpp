// Many generations through the public API on the CPU path: submit / step / status / cancel
// give each generation what generate() gives it alone; --kv-pool-tokens makes generations
// wait for room; chat's second turn computes only its new tokens (the cache of the first
// turn is kept), whatever the length of the first; stop strings and finish reasons.
#include <gtest/gtest.h>

#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

namespace {

std::unique_ptr<VulkanSymbioteEngine> cpu_engine(std::vector<std::string> extra = {}) {
    ConfigManager c;
    std::vector<std::string> args = {"--disable-gpu", "--log-level", "WARNING", "--ctx-size", "256"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = c.load(args, [](std::string_view) { return std::optional<std::string>(); });
    EXPECT_TRUE(r) << r.error().to_string();
    auto e = VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", c);
    EXPECT_TRUE(e) << e.error().to_string();
    return e ? std::move(*e) : nullptr;
}

GenerationOptions greedy(uint32 max_tokens) {
    GenerationOptions o;
    o.temperature = 0;
    o.max_tokens = max_tokens;
    o.ignore_eos = true;
    return o;
}

std::string alone(const std::string& prompt, uint32 max_tokens) {
    auto e = cpu_engine();
    auto t = e->generate_stream(prompt, greedy(max_tokens), {});
    EXPECT_TRUE(t) << t.error().to_string();
    return t ? *t : "";
}

void run_until_idle(VulkanSymbioteEngine& e) {
    for (int guard = 0; guard < 10000; ++guard) {
        auto more = e.step();
        ASSERT_TRUE(more) << more.error().to_string();
        if (!*more) return;
    }
    FAIL() << "steps never ran out";
}

}  // namespace

TEST(EngineBatch, SubmittedGenerationsMatchGenerateAlone) {
    auto e = cpu_engine();
    ASSERT_TRUE(e);
    const std::vector<std::string> prompts{"Once upon a time", "The little dog", "Lily and Ben went to the park to play with a ball"};
    std::vector<GenerationId> ids;
    std::vector<std::string> streamed(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
        GenerationRequest r;
        r.prompt = prompts[i];
        r.options = greedy(24 + uint32(i) * 5);
        r.on_token = [&streamed, i](const std::string& piece, uint32) {
            streamed[i] += piece;
            return true;
        };
        auto id = e->submit(r);
        ASSERT_TRUE(id) << id.error().to_string();
        ids.push_back(*id);
    }
    ASSERT_TRUE(e->step());
    EXPECT_FALSE(e->status(ids[0]).text.empty()) << "poll: the first token after the first step";
    run_until_idle(*e);
    for (size_t i = 0; i < prompts.size(); ++i) {
        const GenerationStatus st = e->status(ids[i]);
        EXPECT_EQ(st.finish, FinishReason::Length);
        EXPECT_EQ(st.text, alone(prompts[i], 24 + uint32(i) * 5)) << prompts[i];
        EXPECT_EQ(streamed[i], st.text);
        EXPECT_GT(st.time_to_first_token_ms, 0);
        e->release(ids[i]);
        EXPECT_FALSE(e->status(ids[i]).known);
    }
    const PerformanceMetrics& m = e->get_performance_metrics();
    EXPECT_EQ(m.peak_sequences_per_pass, 3u);
    EXPECT_NE(m.scheduling.find("batched"), std::string::npos) << m.scheduling;
    EXPECT_EQ(m.kv_blocks_used, 0u);
    EXPECT_EQ(m.kv_blocks_total, 256u / 16);
}

// A KV cache of 64 positions holds one generation of up to 64 positions at a time: the
// second waits, then runs; cancelling the first lets it start at once.
TEST(EngineBatch, AFullKvCacheMakesGenerationsWait) {
    auto e = cpu_engine({"--kv-pool-tokens", "64"});
    ASSERT_TRUE(e);
    GenerationRequest r;
    r.prompt = "Once upon a time";
    r.options = greedy(40);
    auto a = *e->submit(r);
    auto b = *e->submit(r);
    EXPECT_TRUE(e->status(b).waiting);
    ASSERT_TRUE(e->step());
    e->cancel(a);
    EXPECT_EQ(e->status(a).finish, FinishReason::Cancelled);
    EXPECT_FALSE(e->status(b).waiting);
    ASSERT_TRUE(e->wait(b));
    EXPECT_EQ(e->status(b).text, alone("Once upon a time", 40));
    EXPECT_LE(e->get_performance_metrics().kv_blocks_peak, 4u);
}

// Turn 2 of a conversation repeats turn 1 (prompt and reply) and adds its own text: only the
// last token of the reply and the new tokens are computed, however long turn 1 was, and the
// reply is the one a fresh engine gives.
TEST(EngineBatch, ChatTurnTwoComputesOnlyItsNewTokens) {
    const std::vector<uint32> added{5, 410, 289, 437};  // turn 2's own tokens
    for (uint32 turn1 : {8u, 60u}) {
        auto e = cpu_engine();
        ASSERT_TRUE(e);
        const std::vector<uint32> p1 = e->encode("Once upon a time");
        std::vector<uint32> reply;
        ASSERT_TRUE(e->generate_tokens(p1, greedy(turn1), {}, &reply));
        std::vector<uint32> p2 = p1;
        p2.insert(p2.end(), reply.begin(), reply.end());
        p2.insert(p2.end(), added.begin(), added.end());
        e->reset_performance_metrics();
        std::vector<uint32> reply2;
        ASSERT_TRUE(e->generate_tokens(p2, greedy(10), {}, &reply2));
        const PerformanceMetrics& m = e->get_performance_metrics();
        EXPECT_EQ(m.cached_prompt_tokens, p1.size() + turn1 - 1) << "turn 1: " << turn1 << " tokens";
        EXPECT_EQ(m.total_prompt_tokens, added.size() + 1) << "turn 2's passes cover the reply's last token and the new ones";
        EXPECT_EQ(m.total_inferences, 10u) << "one prompt pass, then one per generated token but the last";
        auto fresh = cpu_engine();
        std::vector<uint32> want;
        ASSERT_TRUE(fresh->generate_tokens(p2, greedy(10), {}, &want));
        EXPECT_EQ(reply2, want);
    }
}

// A kept chat cache never blocks other work: an evaluation of the whole context still runs.
TEST(EngineBatch, KeptCacheGivesWayWhenTheCacheIsNeeded) {
    auto e = cpu_engine({"--kv-pool-tokens", "256"});
    ASSERT_TRUE(e);
    ASSERT_TRUE(e->generate_stream("Once upon a time", greedy(30), {}));
    EXPECT_GT(e->get_performance_metrics().kv_blocks_used, 0u);
    std::vector<uint32> full(256, 300);
    full[0] = 1;
    auto logits = e->evaluate(full, false);
    ASSERT_TRUE(logits) << logits.error().to_string();
    EXPECT_EQ(logits->size(), 512u);
    ASSERT_TRUE(e->generate_stream("Once upon a time", greedy(3), {}));
}

TEST(EngineBatch, StopStringsEndTheTextBeforeThem) {
    auto e = cpu_engine();
    ASSERT_TRUE(e);
    const std::string full = alone("Once upon a time", 30);
    const size_t cut = full.find("Lily");
    ASSERT_NE(cut, std::string::npos) << full;
    GenerationRequest r;
    r.prompt = "Once upon a time";
    r.options = greedy(30);
    r.options.stop = {"Lily", "never appears"};
    std::string streamed;
    r.on_token = [&](const std::string& piece, uint32) {
        streamed += piece;
        return true;
    };
    auto id = *e->submit(r);
    ASSERT_TRUE(e->wait(id));
    const GenerationStatus st = e->status(id);
    EXPECT_EQ(st.finish, FinishReason::Stop);
    EXPECT_EQ(st.text, full.substr(0, cut));
    EXPECT_EQ(streamed, st.text);
    EXPECT_STREQ(finish_reason_name(st.finish), "stop");
}

// A generation cancelled between steps gives its KV blocks back, and the metrics say so at once
// (no forward pass runs in between): what the server's /metrics reports after a disconnect.
TEST(EngineBatch, CancelledGenerationsFreeTheirBlocksInTheMetrics) {
    auto e = cpu_engine({"--parallel", "2"});
    ASSERT_TRUE(e);
    GenerationRequest req;
    req.prompt = "Once upon a time";
    req.options = greedy(100);
    auto id = e->submit(req);
    ASSERT_TRUE(id);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(e->step());
    EXPECT_GT(e->get_performance_metrics().kv_blocks_used, 0u);
    e->cancel(*id);
    EXPECT_EQ(e->status(*id).finish, FinishReason::Cancelled);
    e->release(*id);
    EXPECT_EQ(e->get_performance_metrics().kv_blocks_used, 0u);
    EXPECT_EQ(e->get_performance_metrics().kv_blocks_total, 2u * 256 / 16) << "--parallel 2 x --ctx-size 256 positions";
}
