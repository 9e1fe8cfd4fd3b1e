// The sampler's llama.cpp penalties (repetition, frequency, presence over the last
// repeat_last_n tokens) and the log probabilities OpenAI's logprobs report.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/Logprobs.h"
#include "runtime/Sampler.h"

using namespace vk_symbiote;

namespace {

SamplerParams greedy() {
    SamplerParams p;
    p.temperature = 0;
    p.repeat_penalty = 1.0f;
    return p;
}

TEST(SamplerPenalties, FrequencyCountsOccurrencesPresenceOnce) {
    SamplerParams p = greedy();
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    Sampler s(p);
    std::vector<float> logits = {1.0f, 2.0f, 3.0f, -1.0f};
    s.apply_penalties(logits.data(), 4, {2, 2, 2, 3, 9});  // 9 is outside the vocabulary: ignored
    EXPECT_FLOAT_EQ(logits[0], 1.0f);
    EXPECT_FLOAT_EQ(logits[1], 2.0f);
    EXPECT_FLOAT_EQ(logits[2], 3.0f - 3 * 0.5f - 0.25f);
    EXPECT_FLOAT_EQ(logits[3], -1.0f - 0.5f - 0.25f);
}

TEST(SamplerPenalties, RepeatDividesPositiveMultipliesNegativeThenSubtracts) {
    SamplerParams p = greedy();
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 1.0f;
    Sampler s(p);
    std::vector<float> logits = {4.0f, -4.0f};
    s.apply_penalties(logits.data(), 2, {0, 1, 1});
    EXPECT_FLOAT_EQ(logits[0], 4.0f / 2 - 1);
    EXPECT_FLOAT_EQ(logits[1], -4.0f * 2 - 2);
}

TEST(SamplerPenalties, OnlyTheLastNTokensCount) {
    SamplerParams p = greedy();
    p.presence_penalty = 1.0f;
    p.repeat_last_n = 2;
    Sampler s(p);
    std::vector<float> logits = {0, 0, 0};
    s.apply_penalties(logits.data(), 3, {0, 1, 2});
    EXPECT_FLOAT_EQ(logits[0], 0.0f);
    EXPECT_FLOAT_EQ(logits[1], -1.0f);
    EXPECT_FLOAT_EQ(logits[2], -1.0f);
}

TEST(SamplerPenalties, NegativePresencePenaltyFavoursRepeats) {
    SamplerParams p = greedy();
    p.presence_penalty = -2.0f;
    Sampler s(p);
    std::vector<float> logits = {1.0f, 2.0f};
    EXPECT_EQ(s.sample(logits.data(), 2, {0}), 0u);  // 1 + 2 beats 2
}

// min_p keeps tokens at least min_p times as likely as the best: with a tiny temperature the
// survivors are sampled, never the dropped ones.
TEST(SamplerPenalties, MinPDropsUnlikelyTokens) {
    SamplerParams p;
    p.temperature = 5.0f;  // flat: anything kept would show up
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.5f;
    p.seed = 7;
    Sampler s(p);
    for (int i = 0; i < 200; ++i) {
        std::vector<float> logits = {0.0f, -0.1f, -5.0f, -6.0f};  // p(2), p(3) < 0.5 x p(0)
        EXPECT_LT(s.sample(logits.data(), 4, {}), 2u);
    }
}

TEST(Logprobs, LogSoftmaxOfTheRawLogits) {
    const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
    const TokenLogprob lp = token_logprobs(logits.data(), 4, 2, 3);
    double z = 0;
    for (float l : logits) z += std::exp(double(l));
    EXPECT_EQ(lp.token, 2u);
    EXPECT_NEAR(lp.logprob, 2.0 - std::log(z), 1e-6);
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_EQ(lp.top[0].first, 1u);  // tie with 3: the lower id first
    EXPECT_EQ(lp.top[1].first, 3u);
    EXPECT_EQ(lp.top[2].first, 2u);
    EXPECT_NEAR(lp.top[2].second, lp.logprob, 1e-7);
    double total = 0;
    for (uint32 t = 0; t < 4; ++t) total += std::exp(token_logprobs(logits.data(), 4, t, 0).logprob);
    EXPECT_NEAR(total, 1.0, 1e-6);
    EXPECT_TRUE(token_logprobs(logits.data(), 4, 0, 0).top.empty());
}

}  // namespace
