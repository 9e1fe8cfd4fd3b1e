// Copy-cycle models (model/CopyCycle.h) on the CPU backend: greedy decoding of a prompt made of
// the cycle continues the cycle, for f16 and bf16 weights and two shapes; with n-gram drafts the
// same tokens come out and every drafted token is accepted (the workload the benchmark's --ngram
// measures speculative decoding on).
#include <gtest/gtest.h>

#include "backend/cpu/CpuBackend.h"
#include "memory/FileWeightProvider.h"
#include "model/CopyCycle.h"
#include "support/GreedyRun.h"

using namespace vk_symbiote;

namespace {

struct CpuRig {
    std::shared_ptr<const LoadedModel> model;
    std::unique_ptr<WeightProvider> weights;
    std::unique_ptr<CpuBackend> backend;
    std::vector<uint32> cycle;

    explicit CpuRig(const Path& path) {
        auto m = LoadedModel::open(path);
        EXPECT_TRUE(m) << m.error().to_string();
        if (!m) return;
        model = *m;
        auto c = read_copy_cycle(model->source(), model->config().n_vocab);
        EXPECT_TRUE(c) << c.error().to_string();
        if (c) cycle = *c;
        weights = FileWeightProvider::open(model);
        backend = std::make_unique<CpuBackend>(2, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
        backend->set_kv_pool_tokens(160);
        auto ok = backend->prepare(*weights, 160, 64);
        EXPECT_TRUE(ok) << ok.error().to_string();
        if (!ok) backend.reset();
    }
};

}  // namespace

TEST(CopyCycleDecode, GreedyTextFollowsTheCycleOnTheCpu) {
    struct Case {
        const char* shape;
        DType dtype;
        uint32 n;
    };
    for (const Case& c : {Case{"tiny", DType::F16, 5}, Case{"tiny", DType::BF16, 5}, Case{"small", DType::F16, 7}, Case{"small", DType::BF16, 12}}) {
        const std::string what = std::string(c.shape) + " " + dtype_name(c.dtype);
        CpuRig rig(test::copy_cycle_model(c.shape, c.dtype, c.n));
        ASSERT_TRUE(rig.backend) << what;
        ASSERT_EQ(rig.cycle.size(), c.n) << what;
        const test::GreedyOutcome plain = test::run_greedy(*rig.backend, *rig.model, test::cycle_prompt(rig.cycle, 2), 24, 0, false);
        ASSERT_EQ(plain.tokens.size(), 24u) << what;
        for (size_t i = 0; i < plain.tokens.size(); ++i) EXPECT_EQ(plain.tokens[i], rig.cycle[i % c.n]) << what << " token " << i;
        // A prompt that starts inside the cycle continues from where it ends.
        const std::vector<uint32> partial{1, rig.cycle[1], rig.cycle[2]};
        const test::GreedyOutcome from_two = test::run_greedy(*rig.backend, *rig.model, partial, 4, 0, false);
        ASSERT_EQ(from_two.tokens.size(), 4u) << what;
        for (uint32 i = 0; i < 4; ++i) EXPECT_EQ(from_two.tokens[i], rig.cycle[(3 + i) % c.n]) << what;
    }
}

// Every drafted token is the greedy one: all accepted, draft_max + 1 tokens per decode pass with
// fixed lengths; adaptive lengths (which follow measured times) accept all they draft; tokens unchanged.
TEST(CopyCycleDecode, NgramDraftsAreAllAcceptedAndChangeNoToken) {
    CpuRig rig(test::copy_cycle_model("small", DType::F16, 7));
    ASSERT_TRUE(rig.backend);
    const std::vector<uint32> prompt = test::cycle_prompt(rig.cycle, 2);
    const test::GreedyOutcome plain = test::run_greedy(*rig.backend, *rig.model, prompt, 41, 0, false);
    for (bool adaptive : {false, true}) {
        const test::GreedyOutcome spec = test::run_greedy(*rig.backend, *rig.model, prompt, 41, 4, adaptive);
        EXPECT_EQ(spec.tokens, plain.tokens) << "adaptive " << adaptive;
        EXPECT_GT(spec.drafted, 0u);
        EXPECT_EQ(spec.accepted, spec.drafted) << "the cycle's continuation is always the lookup's draft";
        ASSERT_GT(spec.decode_passes, 0u);
        if (!adaptive) {
            EXPECT_EQ(spec.decode_passes, 8u) << "40 tokens after the prompt's, 5 per pass";
            EXPECT_GE(double(spec.accepted) / double(spec.decode_passes), 2.0);
        }
    }
}
