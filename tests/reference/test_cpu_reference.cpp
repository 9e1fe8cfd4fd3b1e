// The CPU backend against llama.cpp's reference logits (../shared/reference/README.md), every
// case including the model families' (arch-*): per-position NMSE < 1e-6 (f32 weights; arch-*
// 1e-5) or < 1e-4 (f16 / bf16), argmax agreement where the reference's top-1 beats top-2 by
// > 1e-2, and stories260K's greedy text exactly. Cases of features the engine does not
// implement (none today) are skipped with the engine's refusal.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "support/ReferenceCase.h"
#include "backend/cpu/CpuBackend.h"
#include "memory/FileWeightProvider.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using test::ReferenceCase;

namespace {

struct Loaded {
    ReferenceCase ref;
    std::unique_ptr<FileWeightProvider> weights;
    double tolerance = 1e-6;
};

// Loads the case and its model; the tolerance follows the weights' dtype.
Loaded load(const std::string& name) {
    Loaded l;
    auto c = test::load_reference_case(name);
    EXPECT_TRUE(c) << c.error().to_string();
    if (!c) return l;
    l.ref = std::move(*c);
    auto w = FileWeightProvider::open(test::models_dir() / l.ref.model);
    EXPECT_TRUE(w) << w.error().to_string();
    if (!w) return l;
    l.weights = std::move(*w);
    EXPECT_EQ(l.weights->config().n_vocab, l.ref.n_vocab);
    l.tolerance = l.ref.tolerance();
    return l;
}

// Compares logits rows (n_prompt, n_vocab) with the reference, position by position.
void expect_matches(const Loaded& l, const std::vector<float>& logits, const std::string& what) {
    const ReferenceCase& r = l.ref;
    double worst = 0.0;
    for (size_t p = 0; p < r.prompt_tokens.size(); ++p) {
        const float* got = logits.data() + p * r.n_vocab;
        const double e = test::nmse(got, r.logits_at(p), r.n_vocab);
        worst = std::max(worst, e);
        EXPECT_LT(e, l.tolerance) << r.name << " " << what << ": position " << p;
        if (!r.decisive(p)) continue;
        EXPECT_EQ(test::argmax(got, r.n_vocab), test::argmax(r.logits_at(p), r.n_vocab)) << r.name << " " << what << ": argmax at position " << p;
    }
    std::printf("[ %s ] %s: worst NMSE %.3g (limit %.0e)\n", r.name.c_str(), what.c_str(), worst, l.tolerance);
}

// llama.cpp's reference ran with its default f16 KV cache; comparisons at the README's
// limits use the same attention precision (KvPrecision::F16Rounded). The pure-f32 default
// is checked separately (CpuReference.PureF32KvCache).
constexpr KvPrecision kRefKv = KvPrecision::F16Rounded;

std::vector<float> run_batch(Loaded& l, uint32 n_threads, uint32 n_batch, cpu::KernelPath path = cpu::KernelPath::Auto, KvPrecision kv = kRefKv) {
    const ReferenceCase& r = l.ref;
    const uint32 n = uint32(r.prompt_tokens.size());
    CpuBackend be(n_threads, path, kv);
    auto ok = be.prepare(*l.weights, n, n_batch);
    EXPECT_TRUE(ok) << ok.error().to_string();
    std::vector<float> logits(uint64(n) * r.n_vocab, NAN);
    ForwardRequest req{r.prompt_tokens.data(), n, 0, true, logits.data()};
    auto f = be.forward(req);
    EXPECT_TRUE(f) << f.error().to_string();
    EXPECT_EQ(be.n_past(), n);
    return logits;
}

class CpuReference : public ::testing::TestWithParam<std::string> {};

TEST_P(CpuReference, PromptAsOneBatch) {
    Loaded l = load(GetParam());
    ASSERT_TRUE(l.weights);
    expect_matches(l, run_batch(l, 2, uint32(l.ref.prompt_tokens.size())), "one batch");
}

TEST_P(CpuReference, PromptTokenByTokenWithKvCache) {
    Loaded l = load(GetParam());
    ASSERT_TRUE(l.weights);
    const ReferenceCase& r = l.ref;
    const uint32 n = uint32(r.prompt_tokens.size());
    CpuBackend be(1, cpu::KernelPath::Auto, kRefKv);
    ASSERT_TRUE(be.prepare(*l.weights, n, 1));
    std::vector<float> logits(uint64(n) * r.n_vocab, NAN);
    for (uint32 p = 0; p < n; ++p) {
        ForwardRequest req{&r.prompt_tokens[p], 1, p, false, logits.data() + uint64(p) * r.n_vocab};
        auto f = be.forward(req);
        ASSERT_TRUE(f) << f.error().to_string();
    }
    expect_matches(l, logits, "token by token");
}

TEST_P(CpuReference, BatchSplitAndScalarPathAgree) {
    Loaded l = load(GetParam());
    ASSERT_TRUE(l.weights);
    // n_batch 3 forces the prompt to be split into chunks that reuse the KV cache.
    expect_matches(l, run_batch(l, 2, 3), "n_batch=3");
    expect_matches(l, run_batch(l, 1, 64, cpu::KernelPath::Scalar), "scalar path");
}

TEST_P(CpuReference, PureF32KvCache) {
    Loaded l = load(GetParam());
    ASSERT_TRUE(l.weights);
    // Without llama.cpp's f16 rounding of K/V/Q the f32 models differ from the reference by
    // up to ~1.1e-6 NMSE (stories260K.once, position 3): allow 2e-6 for f32 weights here
    // (the arch-* cases' limit is above that already).
    l.tolerance = std::max(l.tolerance, 2e-6);
    expect_matches(l, run_batch(l, 2, uint32(l.ref.prompt_tokens.size()), cpu::KernelPath::Auto, KvPrecision::F32), "f32 kv");
}

TEST_P(CpuReference, ThreadCountDoesNotChangeResults) {
    Loaded l = load(GetParam());
    ASSERT_TRUE(l.weights);
    const uint32 n = uint32(l.ref.prompt_tokens.size());
    // Rows are split across threads, never the reduction inside a row: bitwise equal.
    EXPECT_EQ(run_batch(l, 1, n), run_batch(l, 3, n));
}

// Greedy continuation with the KV cache: prompt as one batch, then one token at a time.
// margins (optional): top-1 minus top-2 of our logits at every step.
std::vector<uint32> greedy(Loaded& l, uint32 n_threads, uint32 n_gen, double* seconds_per_token, std::vector<float>* margins = nullptr) {
    const ReferenceCase& r = l.ref;
    const uint32 n = uint32(r.prompt_tokens.size());
    CpuBackend be(n_threads, cpu::KernelPath::Auto, kRefKv);
    EXPECT_TRUE(be.prepare(*l.weights, n + n_gen, n));
    std::vector<float> logits(r.n_vocab);
    std::vector<uint32> out;
    ForwardRequest req{r.prompt_tokens.data(), n, 0, false, logits.data()};
    auto f = be.forward(req);
    EXPECT_TRUE(f) << f.error().to_string();
    auto t0 = std::chrono::steady_clock::now();
    for (uint32 i = 0; f && i < n_gen; ++i) {
        uint32 tok = uint32(test::argmax(logits.data(), r.n_vocab));
        out.push_back(tok);
        if (margins) {
            float second = -INFINITY;
            for (uint32 v = 0; v < r.n_vocab; ++v)
                if (v != tok) second = std::max(second, logits[v]);
            margins->push_back(logits[tok] - second);
        }
        if (i + 1 == n_gen) break;
        ForwardRequest step{&tok, 1, n + i, false, logits.data()};
        f = be.forward(step);
        EXPECT_TRUE(f) << f.error().to_string();
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (seconds_per_token && n_gen > 1) *seconds_per_token = s / (n_gen - 1);
    return out;
}

TEST_P(CpuReference, GreedyContinuation) {
    Loaded l = load(GetParam());
    ASSERT_TRUE(l.weights);
    const ReferenceCase& r = l.ref;
    if (r.greedy_tokens.empty()) GTEST_SKIP() << "no greedy_tokens in " << r.name;
    std::vector<float> margins;
    auto got = greedy(l, 2, uint32(r.greedy_tokens.size()), nullptr, &margins);
    ASSERT_EQ(got.size(), r.greedy_tokens.size());
    size_t same = 0;
    while (same < got.size() && got[same] == r.greedy_tokens[same]) ++same;
    std::printf("[ %s ] greedy: first %zu of %zu tokens match\n", r.name.c_str(), same, r.greedy_tokens.size());
    if (same == got.size()) return;
    // A divergence is only acceptable at a near-tie: our top-1 beats top-2 by < 1e-2 there,
    // so llama.cpp's f16 V accumulation order decides it. After it the texts differ.
    std::printf("[ %s ] greedy: diverges at step %zu (ours %u, reference %u) where our top-1/top-2 margin is %.2g\n", r.name.c_str(), same, got[same],
                r.greedy_tokens[same], margins[same]);
    EXPECT_LT(margins[same], 1e-2f) << r.name << ": greedy text diverges at step " << same << " without a near-tie";
    EXPECT_NE(r.name, "stories260K.once") << "the README's example text must match exactly";
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuReference, ::testing::ValuesIn(test::list_reference_cases()), test::CaseName{});

// Not a timing assertion: prints decode speed for the report, checks the text.
TEST(CpuDecodeSpeed, Stories260KOneAndTwoThreads) {
    Loaded l = load("stories260K.once");
    ASSERT_TRUE(l.weights);
    for (uint32 th : {1u, 2u}) {
        double spt = 0.0;
        auto got = greedy(l, th, uint32(l.ref.greedy_tokens.size()), &spt);
        EXPECT_EQ(got, l.ref.greedy_tokens);
        std::printf("[ stories260K ] decode with %u thread%s: %.0f tokens/s\n", th, th == 1 ? "" : "s", spt > 0 ? 1.0 / spt : 0.0);
    }
}

TEST(CpuReferenceCases, AllCasesPresent) {
    auto cases = test::list_reference_cases();
    for (auto want : {"stories260K.once", "stories260K.park", "syn-f32", "syn-f16", "syn-bf16", "syn-spm-f16", "arch-qwen2", "arch-qwen3",
                      "arch-gemma2", "arch-gemma3", "arch-phi3", "arch-llama31", "arch-llama-moe", "arch-qwen3moe", "hf-llama31", "hf-qwen2", "hf-qwen3", "hf-gemma2", "hf-phi3",
                      "hf-mixtral"})
        EXPECT_NE(std::find(cases.begin(), cases.end(), want), cases.end()) << want;
}

// The mixture-of-experts cases run (their parametrized tests above are not skipped).
TEST(CpuReferenceCases, MixtureOfExpertsCasesRun) {
    for (const char* name : {"arch-llama-moe", "arch-qwen3moe", "hf-mixtral"}) {
        auto c = test::load_reference_case(name);
        ASSERT_TRUE(c) << c.error().to_string();
        const auto why = test::unimplemented_reason(*c);
        EXPECT_FALSE(why.has_value()) << name << ": " << why.value_or("");
    }
}

}  // namespace
