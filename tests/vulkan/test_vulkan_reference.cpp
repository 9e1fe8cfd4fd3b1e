// The Vulkan backend against ../shared/reference (README: NMSE per position f32 < 1e-6,
// arch-* 1e-5, f16 / bf16 < 1e-4; argmax agrees where the reference is decisive; stories260K
// greedy tokens exact). Every model family's arch-* case runs, the mixtures of experts included.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "VulkanCase.h"
#include "VulkanTestEnv.h"
#include "support/TestPaths.h"
#include "support/ReferenceCase.h"
#include "VulkanCaseSkip.h"

using namespace vk_symbiote;

namespace {

using Loaded = test::VulkanCase;

// KV cache for the prompt and the greedy continuation.
std::unique_ptr<Loaded> load(const std::string& name, uint32 n_batch, bool kv_f16 = true) {
    return test::load_vulkan_case(name, test::CaseContext::PromptAndGreedy, n_batch, [&](VulkanOptions& o) {
        o.kv_f16_rounding = kv_f16;  // the reference's f16 KV cache precision (as the CPU reference tests): f16 caches on the GPU
    });
}

double tolerance(const Loaded& l) { return l.ref.tolerance(); }

// n_batch for a case's whole prompt in one forward: 64, or the prompt's length when longer
// (arch-llama31's 537 tokens, whose rope scaling shows at the far positions).
uint32 prompt_batch(const std::string& name) {
    auto r = test::load_reference_case(name);
    return r ? std::max<uint32>(64, uint32(r->prompt_tokens.size())) : 64;
}

void check_positions(const Loaded& l, const std::vector<float>& logits, size_t first, size_t n) {
    const uint32 V = l.ref.n_vocab;
    for (size_t i = 0; i < n; ++i) {
        const size_t pos = first + i;
        const double e = test::nmse(logits.data() + i * V, l.ref.logits_at(pos), V);
        EXPECT_LT(e, tolerance(l)) << l.ref.name << " position " << pos;
        if (l.ref.decisive(pos)) {
            EXPECT_EQ(test::argmax(logits.data() + i * V, V), test::argmax(l.ref.logits_at(pos), V)) << l.ref.name << " position " << pos;
        }
    }
}

class VulkanReference : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(VulkanReference, PromptAsOneBatch) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto l = load(GetParam(), prompt_batch(GetParam()));
    ASSERT_TRUE(l);
    const auto& toks = l->ref.prompt_tokens;
    std::vector<float> logits(toks.size() * l->ref.n_vocab);
    ForwardRequest req{toks.data(), uint32(toks.size()), 0, true, logits.data()};
    auto f = l->be->forward(req);
    ASSERT_TRUE(f) << f.error().to_string();
    check_positions(*l, logits, 0, toks.size());
    std::printf("[ %s ] vulkan prompt of %zu tokens: GPU time %.3f ms\n", l->ref.name.c_str(), toks.size(), l->be->last_gpu_time_ns() / 1e6);
}

TEST_P(VulkanReference, PromptTokenByTokenWithKvCache) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto l = load(GetParam(), 4);
    ASSERT_TRUE(l);
    const auto& toks = l->ref.prompt_tokens;
    std::vector<float> logits(l->ref.n_vocab);
    for (size_t i = 0; i < std::min<size_t>(toks.size(), 12); ++i) {
        ForwardRequest req{&toks[i], 1, uint32(i), false, logits.data()};
        auto f = l->be->forward(req);
        ASSERT_TRUE(f) << f.error().to_string();
        check_positions(*l, logits, i, 1);
    }
}

TEST_P(VulkanReference, GreedyContinuation) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto l = load(GetParam(), prompt_batch(GetParam()));
    ASSERT_TRUE(l);
    if (l->ref.greedy_tokens.empty()) GTEST_SKIP() << "no greedy tokens";
    const auto& toks = l->ref.prompt_tokens;
    const uint32 V = l->ref.n_vocab;
    std::vector<float> logits(V);
    ForwardRequest req{toks.data(), uint32(toks.size()), 0, false, logits.data()};
    ASSERT_TRUE(l->be->forward(req));
    std::vector<uint32> got;
    std::vector<float> margins;  // top-1 minus top-2 logit at each step
    uint32 pos = uint32(toks.size());
    // Random-weight models: only the first token (it follows from the checked prompt logits);
    // stories260K and the mixtures of experts (every step routed on the host): the whole continuation.
    const bool whole = l->ref.model == "stories260K.gguf" || l->weights->config().is_moe();
    const size_t n_want = whole ? l->ref.greedy_tokens.size() : 1;
    while (got.size() < n_want) {
        uint32 t = uint32(test::argmax(logits.data(), V));
        std::vector<float> sorted(logits);
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
        margins.push_back(sorted[0] - sorted[1]);
        got.push_back(t);
        if (got.size() == n_want) break;
        ForwardRequest step{&t, 1, pos++, false, logits.data()};
        auto f = l->be->forward(step);
        ASSERT_TRUE(f) << f.error().to_string();
    }
    size_t same = 0;
    while (same < got.size() && got[same] == l->ref.greedy_tokens[same]) ++same;
    std::printf("[ %s ] vulkan greedy: first %zu of %zu tokens match\n", l->ref.name.c_str(), same, got.size());
    if (same == got.size()) return;
    // As in the CPU reference tests: a divergence is acceptable only at a near-tie (our
    // top-1 beats top-2 by < 1e-2, where llama.cpp's f16 accumulation order decides), and
    // never for the README's example text (stories260K.once).
    std::printf("[ %s ] vulkan greedy diverges at step %zu (ours %u, reference %u), margin %.2g\n", l->ref.name.c_str(), same,
                got[same], l->ref.greedy_tokens[same], margins[same]);
    EXPECT_LT(margins[same], 1e-2f) << l->ref.name << ": greedy text diverges at step " << same << " without a near-tie";
    EXPECT_NE(l->ref.name, "stories260K.once") << "the README's example text must match exactly";
}

// The f32 KV caches (kv_f16_rounding off: attention_f32, the K / V matmuls writing into the
// caches): prompt batch, then token steps. The reference's cache is f16, so the tolerance is
// 10x the f16 one's (stories260K differs by 1.1e-6 at one position with f32 values).
TEST_P(VulkanReference, F32KvCacheMatchesWithinTenTimesTheTolerance) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto l = load(GetParam(), 8, false);
    ASSERT_TRUE(l);
    const auto& toks = l->ref.prompt_tokens;
    const uint32 V = l->ref.n_vocab, a = uint32(std::min<size_t>(toks.size(), 8)) / 2;
    std::vector<float> logits(size_t(a) * V);
    ASSERT_TRUE(l->be->forward(ForwardRequest{toks.data(), a, 0, true, logits.data()}));
    for (uint32 p = a; p < std::min<uint32>(uint32(toks.size()), a + 4); ++p) {
        for (uint32 i = 0; i < (p == a ? a : 0); ++i)
            EXPECT_LT(test::nmse(logits.data() + size_t(i) * V, l->ref.logits_at(i), V), 10 * tolerance(*l)) << l->ref.name << " position " << i;
        ASSERT_TRUE(l->be->forward(ForwardRequest{&toks[p], 1, p, false, logits.data()}));
        EXPECT_LT(test::nmse(logits.data(), l->ref.logits_at(p), V), 10 * tolerance(*l)) << l->ref.name << " position " << p;
    }
}

// Sliding-window layers keep rings of window - 1 + n_batch rows (as the CPU backend): with a
// batch of 16 the prompt's batches wrap them (the tiled kernels' K / V writes split at the
// wrap with f32 caches; the attention stores the new rows at their ring rows with f16 caches),
// then single tokens wrap them again; every position within the tolerance (f32 caches: 10x).
// A step back within the window is accepted; one past what the rings hold is refused (f32
// caches; the f16 caches are the paged pool, which keeps every position and takes it).
TEST(VulkanReferenceSliding, RingsWrapInBatchesAndStepsAndRefuseASetBackPastThem) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    for (const char* name : {"arch-gemma2", "arch-gemma3"})
        for (const bool kv_f16 : {true, false}) {
            auto l = load(name, 16, kv_f16);
            ASSERT_TRUE(l);
            const auto& toks = l->ref.prompt_tokens;
            const uint32 n = uint32(toks.size()), V = l->ref.n_vocab, a = n - 5;
            const double limit = kv_f16 ? tolerance(*l) : 10 * tolerance(*l);
            std::vector<float> logits(size_t(16) * V);
            for (uint32 pos = 0, k = 0; pos < a; pos += k) {
                k = std::min(16u, a - pos);
                ASSERT_TRUE(l->be->forward(ForwardRequest{&toks[pos], k, pos, true, logits.data()}));
                for (uint32 i = 0; i < k; ++i)
                    EXPECT_LT(test::nmse(logits.data() + size_t(i) * V, l->ref.logits_at(pos + i), V), limit) << name << " position " << pos + i;
            }
            for (uint32 p = a; p < n; ++p) {
                ASSERT_TRUE(l->be->forward(ForwardRequest{&toks[p], 1, p, false, logits.data()}));
                EXPECT_LT(test::nmse(logits.data(), l->ref.logits_at(p), V), limit) << name << " step at position " << p;
            }
            ASSERT_TRUE(l->be->forward(ForwardRequest{&toks[n - 2], 1, n - 2, false, logits.data()})) << "a step back within the window";
            EXPECT_LT(test::nmse(logits.data(), l->ref.logits_at(n - 2), V), limit) << name << " position " << n - 2 << " again";
            auto back = l->be->forward(ForwardRequest{&toks[0], 1, 0, false, logits.data()});
            if (kv_f16) {  // f16 caches are the paged pool, which keeps every position: any step back runs
                ASSERT_TRUE(back) << name << ": a step back to position 0 in the paged cache: " << back.error().message;
                EXPECT_LT(test::nmse(logits.data(), l->ref.logits_at(0), V), limit) << name << " position 0 again";
                continue;
            }
            ASSERT_FALSE(back) << name << ": a step back past the sliding-window rings";
            EXPECT_EQ(back.error().code, ErrorCode::InvalidArgument);
            EXPECT_NE(back.error().message.find("sliding-window cache of layer 0"), std::string::npos) << back.error().message;
        }
}

INSTANTIATE_TEST_SUITE_P(Cases, VulkanReference, ::testing::ValuesIn(test::list_reference_cases()), test::CaseName{});

TEST(VulkanBackend, BudgetTooSmallNamesTheMinimum) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    auto w = FileWeightProvider::open(test::models_dir() / "syn-f32.gguf");
    ASSERT_TRUE(w) << w.error().to_string();
    VulkanOptions o;
    o.vram_budget_bytes = 1 << 20;
    auto be = VulkanBackend::create(o);
    ASSERT_TRUE(be) << be.error().to_string();
    auto p = (*be)->prepare(**w, 64, 8);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, ErrorCode::BudgetTooSmall);
    EXPECT_NE(p.error().message.find("minimum"), std::string::npos) << p.error().message;
}

// f16 KV caches take half the VRAM of f32 ones (the planned device bytes drop by the
// difference, less the f32 rows of one batch that the f16 path keeps for the attention and the
// paged pool's pass buffer).
TEST(VulkanBackend, F16KvCacheHalvesTheCacheVram) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    auto w = FileWeightProvider::open(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(w) << w.error().to_string();
    const auto& cfg = (*w)->config();
    const uint32 n_ctx = 512, n_batch = 8;
    uint64 fixed[2] = {0, 0};
    for (int f16 = 0; f16 < 2; ++f16) {
        VulkanOptions o;
        o.kv_f16_rounding = f16 == 1;
        auto be = VulkanBackend::create(o);
        ASSERT_TRUE(be) << be.error().to_string();
        ASSERT_TRUE((*be)->prepare(**w, n_ctx, n_batch));
        fixed[f16] = (*be)->plan().device_bytes;
    }
    // The f16 caches are the paged pool: its pass buffer (BatchRows) comes with them.
    const uint64 pass = vram_alloc_cost(BatchRows::buffer_bytes(cfg, n_batch, n_ctx, kKvBlockPositions, 256), UINT64_MAX);
    const uint64 f32_cache = 2ull * cfg.n_layer * n_ctx * cfg.kv_dim() * 4, scratch = 2ull * n_batch * cfg.kv_dim() * 4 + pass;
    std::printf("planned device bytes: f32 KV %llu, f16 KV %llu (f32 caches %llu)\n", (unsigned long long)fixed[0], (unsigned long long)fixed[1],
                (unsigned long long)f32_cache);
    ASSERT_GT(fixed[0], fixed[1]);
    EXPECT_GE(fixed[0] - fixed[1] + scratch, f32_cache / 2) << "the f16 caches save half of the f32 caches' bytes";
    EXPECT_LE(fixed[0] - fixed[1], f32_cache / 2 + (uint64(1) << 20)) << "and not more (allocation rounding aside)";
}
