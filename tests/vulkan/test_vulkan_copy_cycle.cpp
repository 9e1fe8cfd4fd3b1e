// Copy-cycle models (model/CopyCycle.h) on lavapipe: greedy decoding of a prompt made of the
// cycle continues the cycle for f16 and bf16 weights, and n-gram drafts change no token while
// every drafted token is accepted (the benchmark's --ngram workload on the GPU machine).
#include <gtest/gtest.h>

#include "VulkanTestEnv.h"
#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "model/CopyCycle.h"
#include "support/GreedyRun.h"

using namespace vk_symbiote;

TEST(VulkanCopyCycle, GreedyTextFollowsTheCycleAndDraftsAreAllAccepted) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    for (DType dt : {DType::F16, DType::BF16}) {
        const Path path = test::copy_cycle_model("small", dt, 7);
        auto m = LoadedModel::open(path);
        ASSERT_TRUE(m) << m.error().to_string();
        auto cycle = read_copy_cycle((*m)->source(), (*m)->config().n_vocab);
        ASSERT_TRUE(cycle && cycle->size() == 7u);
        auto w = FileWeightProvider::open(*m);
        VulkanOptions o;
        o.enable_validation = test::validation_wanted();
        o.kv_f16_rounding = true;
        o.kv_pool_tokens = 96;
        auto be = VulkanBackend::create(o);
        ASSERT_TRUE(be) << be.error().to_string();
        ASSERT_TRUE((*be)->prepare(*w, 96, 32));
        const std::vector<uint32> prompt = test::cycle_prompt(*cycle, 2);
        const test::GreedyOutcome plain = test::run_greedy(**be, **m, prompt, 25, 0, false, 32);
        ASSERT_EQ(plain.tokens.size(), 25u) << dtype_name(dt);
        for (size_t i = 0; i < plain.tokens.size(); ++i) EXPECT_EQ(plain.tokens[i], (*cycle)[i % 7]) << dtype_name(dt) << " token " << i;
        const test::GreedyOutcome spec = test::run_greedy(**be, **m, prompt, 25, 5, false, 32);
        EXPECT_EQ(spec.tokens, plain.tokens) << dtype_name(dt);
        EXPECT_EQ(spec.accepted, spec.drafted) << dtype_name(dt);
        EXPECT_EQ(spec.decode_passes, 4u) << "24 tokens after the prompt's, 6 per pass";
    }
}
