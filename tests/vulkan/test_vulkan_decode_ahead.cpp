// Greedy decode with the next token queued ahead (DecodeAhead, VulkanOptions::decode_ahead with
// decode_one_submission: --decode-pipeline on), every reference case, weights all resident, the
// paged KV pool: the prompt in one pass, then tokens one per pass, each the host's argmax of the
// last logits (Sampler::argmax). Against the same run with the pipeline off, fused norms and
// separate ones: the same tokens and the same logits bit for bit, passes queued ahead and used,
// none dropped; a token that is not the argmax drops the queued pass and still gives the
// pipeline-off logits (its K / V row is written again).
#include <gtest/gtest.h>

#include <cstring>

#include "VulkanCaseSkip.h"
#include "VulkanTestEnv.h"
#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "runtime/Sampler.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

constexpr uint32 kSteps = 20;  // decode passes after the prompt (crosses a KV block boundary)

struct Decoded {
    std::vector<uint32> tokens;              // fed to each decode pass
    std::vector<std::vector<float>> logits;  // per pass, the prompt's first: (n_vocab)
    DecodeRecording rec;                     // stats() after the run
    bool moe = false;
};

// off_path: at decode pass i == off_path the token fed is not the argmax (argmax + 1).
Decoded decode(const test::ReferenceCase& ref, bool ahead, bool fuse, int32 off_path = -1) {
    Decoded run;
    auto w = FileWeightProvider::open(test::models_dir() / ref.model);
    EXPECT_TRUE(w) << w.error().to_string();
    if (!w) return run;
    run.moe = (*w)->config().is_moe();
    VulkanOptions o;
    o.enable_validation = test::validation_wanted();
    o.kv_f16_rounding = true;  // the paged pool
    o.fuse_decode = fuse;
    o.decode_one_submission = ahead;
    o.decode_ahead = ahead;
    auto be = VulkanBackend::create(o);
    EXPECT_TRUE(be) << be.error().to_string();
    if (!be) return run;
    const uint32 P = uint32(ref.prompt_tokens.size());
    auto p = (*be)->prepare(**w, P + kSteps + 1, std::max<uint32>(P, 4));
    EXPECT_TRUE(p) << p.error().to_string();
    if (!p) return run;
    std::vector<float> logits(ref.n_vocab);
    auto f = (*be)->forward({ref.prompt_tokens.data(), P, 0, false, logits.data()});
    EXPECT_TRUE(f) << f.error().to_string();
    run.logits.push_back(logits);
    for (uint32 i = 0; f && i < kSteps; ++i) {
        uint32 t = Sampler::argmax(logits.data(), ref.n_vocab);
        if (int32(i) == off_path) t = (t + 1) % ref.n_vocab;
        run.tokens.push_back(t);
        f = (*be)->forward({&run.tokens.back(), 1, P + i, false, logits.data()});
        EXPECT_TRUE(f) << f.error().to_string() << " at decode pass " << i;
        run.logits.push_back(logits);
    }
    run.rec = (*be)->stats().decode_recording;
    return run;
}

void expect_same(const Decoded& a, const Decoded& b) {
    EXPECT_EQ(a.tokens, b.tokens);
    ASSERT_EQ(a.logits.size(), b.logits.size());
    for (size_t i = 0; i < a.logits.size(); ++i)
        EXPECT_EQ(std::memcmp(a.logits[i].data(), b.logits[i].data(), a.logits[i].size() * 4), 0) << "pass " << i << ": logits differ";
}

class VulkanDecodeAhead : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(VulkanDecodeAhead, GreedySameTokensAndLogits) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    for (bool fuse : {true, false}) {
        SCOPED_TRACE(fuse ? "fused norms" : "separate norms");
        const Decoded on = decode(*ref, true, fuse), off = decode(*ref, false, fuse);
        ASSERT_EQ(on.logits.size(), kSteps + 1);
        expect_same(on, off);
        EXPECT_EQ(off.rec.queued_ahead + off.rec.dropped_ahead, 0u);
        if (on.moe) continue;  // a mixture routes on the host: nothing queued
        // Every decode pass but the first (nothing was queued before it) and those starting a
        // new KV block is queued ahead; the one queued after the last token is still in flight.
        EXPECT_GE(on.rec.queued_ahead, kSteps - 4);
        EXPECT_EQ(on.rec.dropped_ahead, 0u);
        EXPECT_EQ(on.rec.submissions, 1u);
    }
}

TEST_P(VulkanDecodeAhead, NotTheArgmaxDropsTheQueuedPass) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    const Decoded on = decode(*ref, true, true, 5), off = decode(*ref, false, true, 5);
    ASSERT_EQ(on.logits.size(), kSteps + 1);
    expect_same(on, off);
    if (on.moe) return;
    EXPECT_EQ(on.rec.dropped_ahead, 1u);
    EXPECT_GE(on.rec.queued_ahead, kSteps - 6);
}

INSTANTIATE_TEST_SUITE_P(Cases, VulkanDecodeAhead, ::testing::ValuesIn(test::list_reference_cases()), test::CaseName{});
