// Every reference case of ../shared through the flash prompt attention (attention_flash.comp for
// every pass of 2 or more rows; --prompt-attn coop where the device has cooperative matrices,
// which runs attention_flash_coop.comp for f16 caches of 16-dim heads): the prompt as one batch, and the
// prompt in chunks of 7 rows (each chunk's keys partly in the f16 caches, partly its own rows),
// against the reference logits at the case's tolerance (as test_vulkan_reference.cpp). The f16
// caches are the paged pool (attention_flash_paged_f16: one sequence); f32 caches are contiguous
// (attention_flash_f32, sliding layers' rings wrapped by the chunks), within 10x the tolerance
// (the reference's cache is f16, as VulkanReference.F32KvCache*). Kernel
// profiling asserts the flash kernel ran wherever the model's heads fit it (head_dim a multiple
// of 4, at most VKS_FLASH_HD_MAX) and never elsewhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "FlashTile.h"
#include "VulkanCase.h"
#include "VulkanCaseSkip.h"
#include "VulkanTestEnv.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

constexpr uint32 kChunk = 7;  // rows per chunk of the chunked prompt (odd: chunks straddle the 16-key tiles)

using Loaded = test::VulkanCase;

// The flash prompt attention (coop where the device has cooperative matrices); KV cache for
// the prompt and one more token.
std::unique_ptr<Loaded> load_flash(const std::string& name, uint32 n_batch, bool kv_f16 = true) {
    return test::load_vulkan_case(name, test::CaseContext::Prompt, n_batch, [&](VulkanOptions& o) {
        o.kv_f16_rounding = kv_f16;  // true: the reference's f16 KV cache precision
        o.prompt_attention = PromptAttention::Flash;
        if (auto* env = test::VulkanEnv::get(); env && env->dev->caps().cooperative_matrix) o.prompt_attention = PromptAttention::Coop;
        o.kernel_profiling = true;
    });
}

void check_positions(const Loaded& l, const std::vector<float>& logits, size_t first, size_t n, double scale = 1.0) {
    const uint32 V = l.ref.n_vocab;
    for (size_t i = 0; i < n; ++i) {
        const size_t pos = first + i;
        EXPECT_LT(test::nmse(logits.data() + i * V, l.ref.logits_at(pos), V), scale * l.ref.tolerance()) << l.ref.name << " position " << pos;
        if (l.ref.decisive(pos)) {
            EXPECT_EQ(test::argmax(logits.data() + i * V, V), test::argmax(l.ref.logits_at(pos), V)) << l.ref.name << " position " << pos;
        }
    }
}

// The flash kernel ran iff the model's heads fit it (lavapipe and GPUs have its shared memory).
void expect_flash_ran(Loaded& l) {
    uint64 flash = 0;
    std::string names;
    for (const auto& k : l.be->stats().kernel_times) {
        if (k.name.rfind("attention_flash_", 0) == 0) flash += k.dispatches;  // either flash kernel
        names += " " + k.name;
    }
    const uint32 hd = l.weights->config().head_dim;
    const bool fits = hd % 4 == 0 && hd <= VKS_FLASH_HD_MAX;
    EXPECT_EQ(flash > 0, fits) << l.ref.name << ": head_dim " << hd << ", " << flash << " flash dispatches; ran" << names;
}

class VulkanFlashReference : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(VulkanFlashReference, PromptAsOneBatch) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto r = test::load_reference_case(GetParam());
    ASSERT_TRUE(r);
    auto l = load_flash(GetParam(), std::max<uint32>(64, uint32(r->prompt_tokens.size())));
    ASSERT_TRUE(l);
    const auto& toks = l->ref.prompt_tokens;
    std::vector<float> logits(toks.size() * l->ref.n_vocab);
    auto f = l->be->forward(ForwardRequest{toks.data(), uint32(toks.size()), 0, true, logits.data()});
    ASSERT_TRUE(f) << f.error().to_string();
    check_positions(*l, logits, 0, toks.size());
    expect_flash_ran(*l);
}

// The prompt in chunks of kChunk rows; kv_f16 false: f32 caches, 10x the tolerance.
void run_chunks(const std::string& name, bool kv_f16) {
    auto l = load_flash(name, kChunk, kv_f16);
    ASSERT_TRUE(l);
    const auto& toks = l->ref.prompt_tokens;
    std::vector<float> logits(kChunk * l->ref.n_vocab);
    for (size_t i = 0; i < toks.size(); i += kChunk) {
        const uint32 n = uint32(std::min<size_t>(kChunk, toks.size() - i));
        auto f = l->be->forward(ForwardRequest{&toks[i], n, uint32(i), true, logits.data()});
        ASSERT_TRUE(f) << f.error().to_string();
        check_positions(*l, logits, i, n, kv_f16 ? 1.0 : 10.0);
    }
    expect_flash_ran(*l);
}

TEST_P(VulkanFlashReference, PromptInChunksPastPositionZero) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    run_chunks(GetParam(), true);
}

TEST_P(VulkanFlashReference, F32CachesInChunksWithinTenTimesTheTolerance) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    run_chunks(GetParam(), false);
}

INSTANTIATE_TEST_SUITE_P(Cases, VulkanFlashReference, ::testing::ValuesIn(test::list_reference_cases()), test::CaseName{});
