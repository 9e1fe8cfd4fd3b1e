// What a decode token records on the GPU (VulkanOptions::fuse_decode, PassCounters::last_decode),
// every reference case, weights all resident, the paged KV cache (the default placement):
// - fused (default): the RMSNorms before Q / K / V, gate / up and the head are inside those
//   matvecs, and the pass's rows image (rope rows, positions, block tables) is copied inside
//   the first command buffer: no upload the host waits for before the token's first submission.
//   A Llama-shaped layer is 7 dispatches (Q, K, V, attention, Wo + x, gate / up, down + x) and
//   5 barriers, the head 1 and 1.
// - off (A/B): each of those norms is a dispatch and a barrier of its own, the rows image a
//   waited upload; everything else is recorded the same.
// Both reproduce llama.cpp's logits token by token (README tolerances).
// - one submission (VulkanOptions::decode_one_submission, --decode-pipeline on): the same
//   dispatches and barriers in one command buffer instead of one at layer 0, 1 and every 8th
//   layer: 1 submission per token all resident, and the same logits bit for bit.
#include <gtest/gtest.h>

#include <cstring>

#include "VulkanCaseSkip.h"
#include "VulkanTestEnv.h"
#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

constexpr size_t kPositions = 5;  // prompt tokens run one by one

struct Tokens {
    std::vector<DecodeRecording> rec;  // per position
    std::vector<std::vector<float>> logits;  // per position: (n_vocab)
    ModelConfig cfg;
};

// The case's first kPositions prompt tokens one per pass, each checked against the reference.
Tokens decode_tokens(const test::ReferenceCase& ref, bool fuse, bool one_submission = false) {
    Tokens run;
    auto w = FileWeightProvider::open(test::models_dir() / ref.model);
    EXPECT_TRUE(w) << w.error().to_string();
    if (!w) return run;
    run.cfg = (*w)->config();
    VulkanOptions o;
    o.enable_validation = test::validation_wanted();
    o.kv_f16_rounding = true;  // f16 caches: the paged pool, as the engine's default
    o.fuse_decode = fuse;
    o.decode_one_submission = one_submission;
    auto be = VulkanBackend::create(o);
    EXPECT_TRUE(be) << be.error().to_string();
    if (!be) return run;
    const size_t n = std::min(kPositions, ref.prompt_tokens.size());
    auto p = (*be)->prepare(**w, uint32(n + 1), 4);
    EXPECT_TRUE(p) << p.error().to_string();
    if (!p) return run;
    EXPECT_NE((*be)->kv_pool(), nullptr) << ref.name << ": expected the paged KV cache";
    std::vector<float> logits(ref.n_vocab);
    for (size_t i = 0; i < n; ++i) {
        ForwardRequest req{&ref.prompt_tokens[i], 1, uint32(i), false, logits.data()};
        auto f = (*be)->forward(req);
        EXPECT_TRUE(f) << f.error().to_string();
        if (!f) return run;
        EXPECT_LT(test::nmse(logits.data(), ref.logits_at(i), ref.n_vocab), ref.tolerance()) << ref.name << " fuse " << fuse << " position " << i;
        run.rec.push_back((*be)->last_decode_recording());
        run.logits.push_back(logits);
    }
    return run;
}

// Norms a token computes before weight kernels: per dense layer 2 (attention, FFN), per
// mixture-of-experts layer 1 (the router's norm is a dispatch of its own either way), the head 1.
uint64 fusable_norms(const ModelConfig& c) { return uint64(c.n_layer) * (c.is_moe() ? 1 : 2) + 1; }

// A plain Llama layer: none of the features that add kernels of their own.
bool llama_shaped(const ModelConfig& c) { return !c.is_moe() && !c.has_qk_norm && !c.has_post_norms && c.final_softcap <= 0.0f; }

// Command buffers a decode token records, all resident, without decode_one_submission: layer 0,
// then one from layer 1 and from every 8th layer (ForwardPass::open_recording).
uint64 split_submissions(uint32 n_layer) {
    uint64 subs = 1;
    for (uint32 l = 1; l < n_layer; ++l) subs += (l == 1 || l % 8 == 0) ? 1 : 0;
    return subs;
}

class VulkanDecodeRecording : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(VulkanDecodeRecording, FusedAgainstSeparateNorms) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    const Tokens on = decode_tokens(*ref, true), off = decode_tokens(*ref, false);
    ASSERT_EQ(on.rec.size(), std::min(kPositions, ref->prompt_tokens.size()));
    ASSERT_EQ(off.rec.size(), on.rec.size());
    const ModelConfig& c = on.cfg;
    for (size_t i = 0; i < on.rec.size(); ++i) {
        const DecodeRecording &a = on.rec[i], &b = off.rec[i];
        EXPECT_EQ(a.waited_uploads, 0u) << "position " << i;
        EXPECT_EQ(b.waited_uploads, 1u) << "position " << i;  // the rows image
        EXPECT_EQ(b.dispatches - a.dispatches, fusable_norms(c)) << "position " << i;
        EXPECT_EQ(b.barriers - a.barriers, fusable_norms(c)) << "position " << i;
        EXPECT_EQ(b.submissions, a.submissions) << "position " << i;
        if (!llama_shaped(c)) continue;
        EXPECT_EQ(a.dispatches, 7ull * c.n_layer + 1) << "position " << i;
        EXPECT_EQ(a.barriers, 5ull * c.n_layer + 1) << "position " << i;
        EXPECT_EQ(a.submissions, split_submissions(c.n_layer)) << "position " << i;  // none waits for the host
    }
    std::printf("[ %s ] decode token: fused %llu dispatches, %llu barriers, %llu submissions; separate norms %llu, %llu, %llu\n", GetParam().c_str(),
                (unsigned long long)on.rec.back().dispatches, (unsigned long long)on.rec.back().barriers,
                (unsigned long long)on.rec.back().submissions, (unsigned long long)off.rec.back().dispatches,
                (unsigned long long)off.rec.back().barriers, (unsigned long long)off.rec.back().submissions);
}

TEST_P(VulkanDecodeRecording, OneSubmissionPerTokenSameLogits) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    for (bool fuse : {true, false}) {
        SCOPED_TRACE(fuse ? "fused norms" : "separate norms");
        const Tokens split = decode_tokens(*ref, fuse, false), one = decode_tokens(*ref, fuse, true);
        ASSERT_EQ(one.rec.size(), std::min(kPositions, ref->prompt_tokens.size()));
        ASSERT_EQ(split.rec.size(), one.rec.size());
        const ModelConfig& c = one.cfg;
        // A mixture's layers are all resident here, so they route on the device (--moe-routing
        // auto): no submission waits for the host's routing, as for a dense model.
        for (size_t i = 0; i < one.rec.size(); ++i) {
            const DecodeRecording &a = one.rec[i], &b = split.rec[i];
            EXPECT_EQ(a.dispatches, b.dispatches) << "position " << i;
            EXPECT_EQ(a.barriers, b.barriers) << "position " << i;
            EXPECT_EQ(a.waited_uploads, b.waited_uploads) << "position " << i;
            EXPECT_EQ(a.submissions, 1u) << "position " << i;
            EXPECT_EQ(b.submissions, split_submissions(c.n_layer)) << "position " << i;
            ASSERT_EQ(one.logits[i].size(), split.logits[i].size());
            EXPECT_EQ(std::memcmp(one.logits[i].data(), split.logits[i].data(), one.logits[i].size() * 4), 0) << "position " << i << ": logits differ";
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, VulkanDecodeRecording, ::testing::ValuesIn(test::list_reference_cases()), test::CaseName{});
