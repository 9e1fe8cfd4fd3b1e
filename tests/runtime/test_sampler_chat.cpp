#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "model/ChatTemplate.h"
#include "runtime/Perplexity.h"
#include "runtime/Sampler.h"

using namespace vk_symbiote;

namespace {

// Sampling with every filter off but top_p (1: off): the draws follow softmax(logits / T).
SamplerParams unfiltered(float temperature, float top_p, uint64 seed) {
    SamplerParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = top_p;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

}  // namespace

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
    SamplerParams p;
    p.temperature = 0;
    Sampler s(p);
    std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
    EXPECT_EQ(s.sample(l.data(), 4, {}), 1u);
}

TEST(Sampler, TopKOneIsGreedyWhateverTheTemperature) {
    SamplerParams p;
    p.temperature = 5.0f;
    p.top_k = 1;
    p.seed = 7;
    Sampler s(p);
    std::vector<float> l = {0.1f, 0.2f, 2.0f, 0.3f};
    for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(l.data(), 4, {}), 2u);
}

TEST(Sampler, SeedMakesRunsReproducibleAndDistributionFollowsSoftmax) {
    SamplerParams p = unfiltered(1.0f, 1.0f, 123);
    std::vector<float> l = {0.0f, std::log(3.0f)};  // probabilities 1/4, 3/4
    Sampler a(p), b(p);
    int ones = 0;
    for (int i = 0; i < 4000; ++i) {
        uint32 x = a.sample(l.data(), 2, {});
        EXPECT_EQ(x, b.sample(l.data(), 2, {}));
        ones += x == 1;
    }
    EXPECT_NEAR(ones / 4000.0, 0.75, 0.03);
}

TEST(Sampler, TopPAndMinPCutTheTail) {
    SamplerParams p = unfiltered(1.0f, 0.5f, 1);  // the first token alone has 0.6
    std::vector<float> l = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
    Sampler s(p);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(l.data(), 3, {}), 0u);
    p.top_p = 1.0f;
    p.min_p = 0.4f;  // keeps p >= 0.24: tokens 0 and 1
    Sampler m(p);
    std::map<uint32, int> seen;
    for (int i = 0; i < 300; ++i) seen[m.sample(l.data(), 3, {})]++;
    EXPECT_EQ(seen.count(2), 0u);
    EXPECT_GT(seen[1], 0);
}

// Top-p keeps the smallest prefix whose mass reaches top_p: with .5 / .3 / .2 and top_p .7 that is
// tokens 0 and 1 (cumulative .8), drawn in the ratio 5 : 3, and never token 2.
TEST(Sampler, TopPKeepsThePrefixThatReachesTheMass) {
    SamplerParams p = unfiltered(1.0f, 0.7f, 11);
    std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
    Sampler s(p);
    const int draws = 4000;
    std::map<uint32, int> seen;
    for (int i = 0; i < draws; ++i) seen[s.sample(l.data(), 3, {})]++;
    EXPECT_EQ(seen.count(2), 0u);
    EXPECT_GT(seen[1], 0);
    EXPECT_NEAR(seen[1] / double(draws), 0.3 / 0.8, 0.03);
}

// Pearson's chi-square of the counts of `draws` samples against `expected` probabilities.
static double chi_square(Sampler& s, std::vector<float> logits, const std::vector<double>& expected, int draws) {
    std::vector<int> count(expected.size(), 0);
    for (int i = 0; i < draws; ++i) count[s.sample(logits.data(), uint32(logits.size()), {})]++;
    double chi2 = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        double e = expected[i] * draws;
        chi2 += (count[i] - e) * (count[i] - e) / e;
    }
    return chi2;
}

// Temperature T divides the logits once: weights at T = 1 of 1 : 2 : 4 become 1 : 2^(1/T) : 4^(1/T).
// The bound is chi-square with 2 degrees of freedom at p = 0.001 (13.8); the draws are seeded.
TEST(Sampler, TemperatureScalesTheLogitsOnce) {
    for (float t : {2.0f, 0.5f}) {
        SamplerParams p = unfiltered(t, 1.0f, 5);
        Sampler s(p);
        std::vector<double> w = {1.0, std::pow(2.0, 1.0 / t), std::pow(4.0, 1.0 / t)};
        double sum = w[0] + w[1] + w[2];
        for (auto& x : w) x /= sum;
        EXPECT_LT(chi_square(s, {0.0f, std::log(2.0f), std::log(4.0f)}, w, 20000), 13.8) << "T = " << t;
    }
}

TEST(Sampler, RepetitionPenaltyDemotesSeenTokens) {
    SamplerParams p;
    p.temperature = 0;
    p.repeat_penalty = 2.0f;
    Sampler s(p);
    std::vector<float> l = {1.0f, 1.5f};
    EXPECT_EQ(s.sample(l.data(), 2, {1}), 0u);  // 1.5 / 2 = 0.75 < 1.0
}

TEST(Perplexity, MatchesHandComputedValueOnUniformLogits) {
    // Uniform logits over V tokens: every NLL is log(V), so PPL = V.
    const uint32 V = 17, n_ctx = 8;
    std::vector<uint32> toks(20, 3);
    toks[0] = 1;
    int calls = 0;
    auto eval = [&](const std::vector<uint32>& c) -> Expected<std::vector<float>> {
        EXPECT_EQ(c[0], 1u);  // first token of each chunk is BOS
        ++calls;
        return std::vector<float>(c.size() * V, 0.5f);
    };
    auto r = compute_perplexity(toks, 1, n_ctx, V, eval);
    ASSERT_TRUE(r);
    EXPECT_EQ(calls, 2);                 // 20 / 8 = 2 chunks, remainder dropped
    EXPECT_EQ(r->n_scored, 2u * 3u);     // positions 5, 6, 7 of each chunk
    EXPECT_NEAR(r->ppl, double(V), 1e-9);
}

TEST(Perplexity, RejectsTextShorterThanOneChunk) {
    auto r = compute_perplexity({1, 2, 3}, 1, 8, 4, [](auto&) -> Expected<std::vector<float>> { return std::vector<float>{}; });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
}

TEST(ChatTemplate, DetectsFamiliesByMarkers) {
    EXPECT_EQ(detect_chat_format(std::nullopt), ChatFormat::Plain);
    EXPECT_EQ(detect_chat_format(std::string("{% for m in messages %}<|im_start|>{{m.role}}")), ChatFormat::ChatML);
    EXPECT_EQ(detect_chat_format(std::string("<|start_header_id|>")), ChatFormat::Llama3);
    EXPECT_EQ(detect_chat_format(std::string("<|user|> ... <|end|>")), ChatFormat::Phi3);
    EXPECT_EQ(detect_chat_format(std::string("[INST] <<SYS>>")), ChatFormat::Llama2);
    std::string s = format_chat(ChatFormat::ChatML, {{"user", "hi"}});
    EXPECT_EQ(s, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(format_chat(ChatFormat::Llama2, {{"system", "S"}, {"user", "U"}}), "[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST]");
}
