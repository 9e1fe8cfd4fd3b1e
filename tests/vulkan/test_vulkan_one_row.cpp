// One sequence alone in the batched scheduler: its decode steps are one-row batched passes
// (forward_batch over the device KV pool). On lavapipe, for the short reference cases, in each
// placement (all resident, every matrix streamed, the rows-split hybrid with a sized pool),
// every one-row step's logits equal the serial decode's (forward() one token at a time: the
// hybrid decode's RowsPass over a contiguous cache where the placement has one) within the
// reference tolerance, and the reference itself. With the rows split the two copy modes of a
// one-row pass (copy.comp inside the exchanges as the serial decode streams, or DMA) give the
// same logits bit for bit, and the backend counts which path each one-row pass took.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "VulkanCaseSkip.h"
#include "VulkanTestEnv.h"
#include "backend/KvBlockPool.h"
#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "model/KvLayout.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

constexpr uint32 kBatch = 64;  // n_batch: the prompt chunks hold up to 32 tokens
using PU = VulkanOptions::PromptUpload;

struct Placement {
    bool force_streaming = false;
    bool hybrid = false;
    uint64 pool_tokens = 0;  // 0: none asked for (a hybrid placement then keeps its contiguous cache)
    int32 cpu_heads = -1;
    PU rows_upload = PU::Auto;
};

std::unique_ptr<VulkanBackend> make_backend(const Placement& pl) {
    VulkanOptions o;
    o.enable_validation = test::validation_wanted();
    o.kv_f16_rounding = true;  // the reference's f16 KV cache
    o.force_streaming = pl.force_streaming;
    o.hybrid = pl.hybrid;
    o.kv_pool_tokens = pl.pool_tokens;
    o.hybrid_split = pl.cpu_heads >= 0 ? VulkanOptions::HybridSplit::Rows : VulkanOptions::HybridSplit::Auto;
    o.hybrid_cpu_heads = pl.cpu_heads;
    o.rows_upload = pl.rows_upload;
    o.rows_head = VulkanOptions::RowsHead::Split;
    o.cpu_threads = 2;
    o.copy_threads = 2;
    auto be = VulkanBackend::create(o);
    EXPECT_TRUE(be) << be.error().to_string();
    return be ? std::move(*be) : nullptr;
}

// Prompt positions [0, first) as one chunk, then one token per step: each step's logits
// (positions [first, n) of the prompt, n_vocab each).
std::vector<float> serial_steps(VulkanBackend& be, const std::vector<uint32>& toks, uint32 first, uint32 V) {
    std::vector<float> out((toks.size() - first) * V, NAN), scratch(V);
    be.reset();
    auto pre = be.forward({toks.data(), first, 0, false, scratch.data()});
    EXPECT_TRUE(pre) << pre.error().to_string();
    for (uint32 p = first; p < toks.size(); ++p) {
        auto f = be.forward({toks.data() + p, 1, p, false, out.data() + uint64(p - first) * V});
        EXPECT_TRUE(f) << f.error().to_string();
    }
    return out;
}

// The same as the scheduler runs one sequence: a prompt chunk, then one-row batched passes.
std::vector<float> one_row_steps(VulkanBackend& be, const std::vector<uint32>& toks, uint32 first, uint32 V) {
    KvBlockPool& pool = *be.kv_pool();
    KvBlockTable kv;
    std::vector<float> out((toks.size() - first) * V, NAN), scratch(V);
    EXPECT_TRUE(pool.prepare_write(kv, 0, first));
    auto pre = be.forward_batch({SeqChunk{&kv, toks.data(), first, 0, false, scratch.data()}});
    EXPECT_TRUE(pre) << pre.error().to_string();
    for (uint32 p = first; p < toks.size(); ++p) {
        EXPECT_TRUE(pool.prepare_write(kv, p, p + 1));
        auto f = be.forward_batch({SeqChunk{&kv, toks.data() + p, 1, p, false, out.data() + uint64(p - first) * V}});
        EXPECT_TRUE(f) << f.error().to_string();
    }
    pool.release(kv);
    return out;
}

// Every step within the tolerance of the serial decode's step and of the reference.
void expect_close(const std::vector<float>& got, const std::vector<float>& serial, const test::ReferenceCase& r, uint32 first, const char* what) {
    const uint32 V = r.n_vocab;
    double worst = 0;
    for (uint32 p = first; p < r.prompt_tokens.size(); ++p) {
        const float* g = got.data() + uint64(p - first) * V;
        const double e = test::nmse(g, serial.data() + uint64(p - first) * V, V);
        worst = std::max(worst, e);
        EXPECT_LT(e, r.tolerance()) << what << ": position " << p << " against the serial decode";
        EXPECT_LT(test::nmse(g, r.logits_at(p), V), r.tolerance()) << what << ": position " << p << " against the reference";
    }
    std::printf("[ %s ] %s: worst NMSE one-row step vs serial step %.3g\n", r.name.c_str(), what, worst);
}

class VulkanOneRow : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
        VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
        auto r = test::load_reference_case(GetParam());
        ASSERT_TRUE(r) << r.error().to_string();
        if (r->prompt_tokens.size() > 64 || r->prompt_tokens.size() < 3) GTEST_SKIP() << "the short prompts take every code path";
        auto w = FileWeightProvider::open(test::models_dir() / r->model);
        ASSERT_TRUE(w) << w.error().to_string();
        ref_ = std::move(*r);
        w_ = std::move(*w);
        first_ = uint32(ref_.prompt_tokens.size()) / 2;
    }
    uint64 pool() const { return ref_.prompt_tokens.size() + kKvBlockPositions; }
    uint32 n_ctx() const { return uint32(ref_.prompt_tokens.size()); }
    uint32 steps() const { return n_ctx() - first_; }
    test::ReferenceCase ref_;
    std::unique_ptr<FileWeightProvider> w_;  // the case's model
    uint32 first_ = 0;
};

}  // namespace

// All resident and every matrix streamed: no CPU share, one-row passes all on the GPU.
TEST_P(VulkanOneRow, ResidentAndStreamedStepsGiveTheSerialLogits) {
    for (const bool streamed : {false, true}) {
        SCOPED_TRACE(streamed ? "every matrix streamed" : "all resident");
        auto serial = make_backend({.force_streaming = streamed});
        auto be = make_backend({.force_streaming = streamed, .pool_tokens = pool()});
        ASSERT_TRUE(serial && be);
        ASSERT_TRUE(serial->prepare(*w_, n_ctx(), kBatch));
        ASSERT_TRUE(be->prepare(*w_, n_ctx(), kBatch));
        ASSERT_NE(be->kv_pool(), nullptr);
        EXPECT_EQ(be->plan().slots > 0, streamed);
        const auto want = serial_steps(*serial, ref_.prompt_tokens, first_, ref_.n_vocab);
        const auto got = one_row_steps(*be, ref_.prompt_tokens, first_, ref_.n_vocab);
        expect_close(got, want, ref_, first_, streamed ? "streamed" : "resident");
        EXPECT_EQ(be->one_row_passes()[VulkanBackend::kOneRowGpu], steps());
        EXPECT_EQ(be->one_row_passes()[VulkanBackend::kOneRowShader] + be->one_row_passes()[VulkanBackend::kOneRowDma], 0u);
        const BackendStats st = be->stats();
        EXPECT_NE(st.placement.find("one-row batched passes: 0 rows split by copy.comp, 0 rows split by DMA, " + std::to_string(steps()) + " all on the GPU"),
                  std::string::npos)
            << st.placement;
    }
}

// The rows-split hybrid: the serial decode (no pool: RowsPass, the CPU's heads attending from
// RAM) against one-row passes over a sized pool (BatchRowsPass at one row), by copy.comp and by DMA.
TEST_P(VulkanOneRow, RowsSplitStepsGiveTheSerialHybridLogitsInBothCopyModes) {
    if (!test::VulkanEnv::get()->dev->caps().external_memory_host) GTEST_SKIP() << "the rows split streams from imported host memory";
    const ModelConfig& cfg = w_->config();
    if (cfg.n_head_kv < 2 || cfg.is_moe()) GTEST_SKIP() << "no rows split: one KV head or a mixture of experts";
    // Half the KV heads on the CPU, raised to the serial layout's minimum (its GPU rows of a
    // whole layer must fit half a slot); the pool's pieces allow that share too.
    auto serial = make_backend({.force_streaming = true, .hybrid = true, .cpu_heads = int32(cfg.n_head_kv / 2), .rows_upload = PU::Shader});
    ASSERT_TRUE(serial);
    ASSERT_TRUE(serial->prepare(*w_, n_ctx(), kBatch));
    ASSERT_EQ(serial->kv_pool(), nullptr) << "the serial hybrid decode keeps its contiguous cache";
    if (!serial->hybrid_rows()) GTEST_SKIP() << "the GPU's rows of a layer do not fit half a slot here";
    const auto want = serial_steps(*serial, ref_.prompt_tokens, first_, ref_.n_vocab);
    const int32 heads = int32(serial->hybrid_cpu_heads());
    ASSERT_GT(heads, 0);
    std::vector<float> by_mode[2];
    for (const PU mode : {PU::Shader, PU::Dma}) {
        const bool shader = mode == PU::Shader;
        SCOPED_TRACE(shader ? "copy.comp" : "DMA");
        auto be = make_backend({.force_streaming = true, .hybrid = true, .pool_tokens = pool(), .cpu_heads = heads, .rows_upload = mode});
        ASSERT_TRUE(be);
        ASSERT_TRUE(be->prepare(*w_, n_ctx(), kBatch));
        ASSERT_NE(be->kv_pool(), nullptr);
        ASSERT_TRUE(be->hybrid_rows());
        by_mode[shader ? 0 : 1] = one_row_steps(*be, ref_.prompt_tokens, first_, ref_.n_vocab);
        expect_close(by_mode[shader ? 0 : 1], want, ref_, first_, shader ? "rows split, copy.comp" : "rows split, DMA");
        EXPECT_EQ(be->one_row_passes()[shader ? VulkanBackend::kOneRowShader : VulkanBackend::kOneRowDma], steps());
        EXPECT_EQ(be->one_row_passes()[shader ? VulkanBackend::kOneRowDma : VulkanBackend::kOneRowShader], 0u);
        EXPECT_EQ(be->batch_cpu_heads(), serial->hybrid_cpu_heads()) << "the same CPU share as the serial decode";
        EXPECT_GT(be->hybrid_cpu_weight_bytes(), 0u);
    }
    ASSERT_EQ(by_mode[0].size(), by_mode[1].size());
    EXPECT_EQ(std::memcmp(by_mode[0].data(), by_mode[1].data(), by_mode[0].size() * 4), 0) << "copy.comp and DMA move the same bytes";
}

INSTANTIATE_TEST_SUITE_P(Cases, VulkanOneRow, ::testing::ValuesIn(test::list_reference_cases()), test::CaseName{});
