// VulkanBackend::forward_batch on lavapipe: the chunks of several sequences in one pass over the
// weights, their K / V in the device pool's blocks (DeviceKvPool), give each sequence the logits
// it gets alone (reference tolerance, and the reference itself for the case's prompt), for every
// reference case the Vulkan backend runs, with the weights resident, streamed from packs under a
// tiny RAM budget (every matrix through the slots), and in a hybrid placement (which runs one
// sequence at a time unless a pool size is given; then its batched passes are all on the GPU).
// The Scheduler on the device pool: greedy tokens alone and in a batch of mixed lengths, a full
// pool that makes a sequence wait, prefix sharing with copy on write; bad chunks refused by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "VulkanCaseSkip.h"
#include "TinyPacks.h"
#include "VulkanTestEnv.h"
#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "model/LoadedModel.h"
#include "packs/PackWeightProvider.h"
#include "runtime/Scheduler.h"
#include "support/BatchLogits.h"
#include "support/GreedyRun.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

constexpr uint32 kBatch = 64;

struct Placement {
    bool force_streaming = false;
    bool hybrid = false;
    uint64 pool_tokens = 0;
    uint64 vram_budget = 0;                               // 0: the device's
    int32 cpu_heads = -1;                                 // the rows split's CPU KV heads (-1: BatchSplit's model)
    VulkanOptions::RowsHead rows_head = VulkanOptions::RowsHead::Auto;
};

std::unique_ptr<VulkanBackend> make_backend(const Placement& pl) {
    VulkanOptions o;
    o.enable_validation = test::validation_wanted();
    o.kv_f16_rounding = true;  // the reference's f16 KV cache: f16 device caches, the paged pool
    o.force_streaming = pl.force_streaming;
    o.hybrid = pl.hybrid;
    o.kv_pool_tokens = pl.pool_tokens;
    o.vram_budget_bytes = pl.vram_budget;
    o.hybrid_split = pl.cpu_heads >= 0 ? VulkanOptions::HybridSplit::Rows : VulkanOptions::HybridSplit::Auto;
    o.hybrid_cpu_heads = pl.cpu_heads;
    o.rows_head = pl.rows_head;
    o.cpu_threads = 2;
    o.copy_threads = 2;
    auto be = VulkanBackend::create(o);
    EXPECT_TRUE(be) << be.error().to_string();
    return be ? std::move(*be) : nullptr;
}

// All-position logits of `toks` alone through forward() (the backend's own sequence), in
// batches of kBatch.
std::vector<float> alone(VulkanBackend& be, const std::vector<uint32>& toks, uint32 V) {
    be.reset();
    std::vector<float> logits(toks.size() * V, NAN);
    for (uint32 pos = 0; pos < toks.size(); pos += kBatch) {
        const uint32 n = std::min<uint32>(kBatch, uint32(toks.size()) - pos);
        auto f = be.forward({toks.data() + pos, n, pos, true, logits.data() + uint64(pos) * V});
        EXPECT_TRUE(f) << f.error().to_string();
    }
    return logits;
}

// The top logit leads the next by more than the last bits a different kernel order may change.
bool decisive(const float* l, uint32 V) {
    float a = -INFINITY, b = -INFINITY;
    for (uint32 i = 0; i < V; ++i) {
        if (l[i] > a) b = a, a = l[i];
        else if (l[i] > b) b = l[i];
    }
    return a - b > 1e-3f;
}

// Batched vs alone for every position of every sequence; the prompt's also vs the reference.
void expect_same_function(VulkanBackend& be, const test::ReferenceCase& r, uint32 step) {
    const uint32 V = r.n_vocab;
    const double tol = r.tolerance();
    const auto seqs = test::mixed_sequences(r.prompt_tokens);
    be.reset();  // the own sequence of the last alone() goes back to the pool
    const auto batched = test::batched_logits(be, seqs, step, V);
    EXPECT_EQ(be.kv_pool()->used_blocks(), 0u) << "released sequences return their blocks";
    double worst = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
        const auto want = alone(be, seqs[s], V);
        for (size_t p = 0; p < seqs[s].size(); ++p) {
            const float* got = batched[s].data() + p * V;
            const double e = test::nmse(got, want.data() + p * V, V);
            worst = std::max(worst, e);
            EXPECT_LT(e, tol) << r.name << " sequence " << s << " position " << p;
            if (decisive(want.data() + p * V, V)) {
                EXPECT_EQ(test::argmax(got, V), test::argmax(want.data() + p * V, V)) << r.name << " sequence " << s << " position " << p;
            }
            if (s == 0) {
                EXPECT_LT(test::nmse(got, r.logits_at(p), V), tol) << r.name << " against the reference, position " << p;
            }
        }
    }
    std::printf("[ %s ] step %u: worst NMSE batched vs alone %.3g\n", r.name.c_str(), step, worst);
}

// A pool for the three sequences of a case, with one spare block each.
uint64 pool_tokens(const test::ReferenceCase& r) { return 3ull * (r.prompt_tokens.size() + kKvBlockPositions); }

class VulkanBatch : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(VulkanBatch, EachSequenceGetsItsLogitsAloneWithResidentWeights) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto r = test::load_reference_case(GetParam());
    ASSERT_TRUE(r) << r.error().to_string();
    auto w = FileWeightProvider::open(test::models_dir() / r->model);
    ASSERT_TRUE(w) << w.error().to_string();
    auto be = make_backend({.pool_tokens = pool_tokens(*r)});
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(**w, uint32(r->prompt_tokens.size()), kBatch));
    ASSERT_NE(be->kv_pool(), nullptr) << "all resident: the device pool";
    EXPECT_EQ(be->plan().slots, 0u);
    expect_same_function(*be, *r, 1);  // decode-sized passes: one token per sequence (matvec kernels)
    expect_same_function(*be, *r, 5);  // prompt chunks of mixed lengths (tiled kernels past 8 rows)
    expect_same_function(*be, *r, 21);  // whole prompts and long chunks side by side
}

TEST_P(VulkanBatch, EachSequenceGetsItsLogitsAloneStreamedFromPacksUnderATinyBudget) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto r = test::load_reference_case(GetParam());
    ASSERT_TRUE(r) << r.error().to_string();
    const uint32 n_ctx = uint32(r->prompt_tokens.size());
    auto pw = test::tiny_pack_provider(test::models_dir() / r->model, n_ctx, kBatch);
    ASSERT_TRUE(pw);
    ASSERT_LT(pw->manager().pack_budget_bytes(), pw->registry().total_bytes());
    auto be = make_backend({.force_streaming = true, .pool_tokens = pool_tokens(*r)});
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(*pw, n_ctx, kBatch));
    ASSERT_NE(be->kv_pool(), nullptr);
    EXPECT_GT(be->plan().slots, 0u) << "every matrix streams";
    expect_same_function(*be, *r, 3);
}

// A hybrid placement (weights stream, CPU part on): one contiguous cache and no pool unless its
// size is given; with it, the batched passes keep the rows split's CPU part where the rows split
// applies (BatchRowsPass; else every layer on the GPU) and compute the same.
TEST_P(VulkanBatch, HybridPlacementRefusesThePoolUnlessSizedThenComputesTheSame) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto r = test::load_reference_case(GetParam());
    ASSERT_TRUE(r) << r.error().to_string();
    auto w = FileWeightProvider::open(test::models_dir() / r->model);
    ASSERT_TRUE(w) << w.error().to_string();
    const uint32 n_ctx = uint32(r->prompt_tokens.size());
    auto serial = make_backend({.force_streaming = true, .hybrid = true});
    ASSERT_TRUE(serial);
    ASSERT_TRUE(serial->prepare(**w, n_ctx, kBatch));
    EXPECT_EQ(serial->kv_pool(), nullptr) << "the hybrid decode keeps one contiguous cache";
    EXPECT_GT(serial->hybrid_cpu_layers() + serial->hybrid_cpu_heads() + (serial->hybrid_rows() ? 1u : 0u) + (serial->hybrid_cpu() ? 1u : 0u), 0u);
    auto refused = serial->forward_batch({});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::Unsupported);
    EXPECT_NE(refused.error().message.find("no paged KV cache"), std::string::npos) << refused.error().message;
    auto be = make_backend({.force_streaming = true, .hybrid = true, .pool_tokens = pool_tokens(*r)});
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(**w, n_ctx, kBatch));
    ASSERT_NE(be->kv_pool(), nullptr);
    EXPECT_EQ(be->hybrid_cpu(), nullptr) << "no single-sequence hybrid decode beside the pool";
    EXPECT_EQ(be->hybrid_batch_cpu() != nullptr, be->hybrid_rows()) << "the rows split's CPU part of batched passes";
    EXPECT_GE(be->kv_pool()->layout().positions(), pool_tokens(*r));
    expect_same_function(*be, *r, 4);
}

namespace {

// The smallest budget (steps of 1.25x from 256 KiB) at which a pooled rows-split placement keeps
// some weights resident, streams the rest and holds the whole pool asked for; 0 if none.
uint64 partly_resident_budget(WeightProvider& w, uint32 n_ctx, uint64 pool) {
    for (double b = 256 * 1024; b < double(uint64(1) << 31); b *= 1.25) {
        auto be = make_backend({.hybrid = true, .pool_tokens = pool, .vram_budget = uint64(b), .cpu_heads = 0});
        if (!be || !be->prepare(w, n_ctx, kBatch)) continue;
        if (be->plan().slots == 0) return 0;
        if (be->hybrid_rows() && be->plan().resident_weight_bytes > 0 && be->kv_pool()->layout().positions() >= pool) return uint64(b);
    }
    return 0;
}

}  // namespace

// The rows split with a KV pool (BatchRowsPass): the CPU computes its KV heads' share of every
// streamed matrix for all rows of each batched pass, the GPU the rest and all of the attention;
// each sequence's logits in a batch equal its logits alone (and the reference), at the fewest and
// the most CPU heads, every matrix streamed or part resident under a tiny VRAM budget, the head
// split or on the CPU alone.
TEST_P(VulkanBatch, RowsSplitKeepsItsCpuShareInBatchedPassesAndComputesTheSame) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    if (!test::VulkanEnv::get()->dev->caps().external_memory_host) GTEST_SKIP() << "the rows split streams from imported host memory";
    auto r = test::load_reference_case(GetParam());
    ASSERT_TRUE(r) << r.error().to_string();
    auto w = FileWeightProvider::open(test::models_dir() / r->model);
    ASSERT_TRUE(w) << w.error().to_string();
    const uint32 n_ctx = uint32(r->prompt_tokens.size()), G = (*w)->config().n_head_kv;
    if (G < 2) GTEST_SKIP() << "one KV head: the rows split needs two";
    if ((*w)->config().is_moe()) GTEST_SKIP() << "a mixture of experts splits whole layers (the rows split has no expert kernels)";
    const uint64 partial = r->prompt_tokens.size() <= 64 ? partly_resident_budget(**w, n_ctx, pool_tokens(*r)) : 0;
    using RH = VulkanOptions::RowsHead;
    struct Config {
        bool all;  // every matrix streamed (else part resident under `partial`)
        int32 heads;
        RH head;
    };
    // Every case at the fewest CPU heads; the other shares and placements on the short prompts
    // (seconds on lavapipe; the long ones take the same code paths).
    const bool short_prompt = r->prompt_tokens.size() <= 64;
    for (const Config cf : {Config{true, 0, RH::Split}, Config{true, int32(G - 1), RH::Cpu}, Config{false, 0, RH::Split}}) {
        if ((!cf.all && partial == 0) || (!short_prompt && (cf.heads > 0 || !cf.all))) continue;
        SCOPED_TRACE(std::string(cf.all ? "every matrix streamed" : "part resident at " + std::to_string(partial) + " bytes") + ", CPU heads from " +
                     std::to_string(cf.heads) + (cf.head == RH::Cpu ? ", head on the CPU" : ", head split"));
        auto be = make_backend({.force_streaming = cf.all, .hybrid = true, .pool_tokens = pool_tokens(*r), .vram_budget = cf.all ? 0 : partial,
                                .cpu_heads = cf.heads, .rows_head = cf.head});
        ASSERT_TRUE(be);
        ASSERT_TRUE(be->prepare(**w, n_ctx, kBatch));
        ASSERT_NE(be->kv_pool(), nullptr);
        if (!be->hybrid_rows()) {
            EXPECT_GE(be->hybrid_min_cpu_heads(), G) << "rows split refused although the GPU rows could fit half a slot";
            continue;
        }
        ASSERT_NE(be->hybrid_batch_cpu(), nullptr);
        expect_same_function(*be, *r, 4);
        EXPECT_EQ(be->batch_cpu_heads(), std::max({uint32(cf.heads), be->hybrid_min_cpu_heads(), 1u})) << "the fixed share, raised to the minimum";
        EXPECT_GT(be->hybrid_cpu_weight_bytes(), 0u) << "the CPU read its rows of the streamed matrices";
        EXPECT_GT(be->hybrid_cpu_layer_runs(), 0u);
    }
}

// Batched passes stream each layer's GPU rows in pieces (Q / K / V and Wo; gate / up; down), so a
// piece, not the layer's whole GPU part, must fit half a slot: the pool's layout allows no more
// CPU heads than the single-sequence layout, and where that one needs more than one, a batched
// pass at a single CPU head (a share the whole-layer layout refused) gives each sequence its
// logits alone and the reference.
TEST_P(VulkanBatch, PiecesLetBatchedPassesGiveTheCpuFewerHeadsAndComputeTheSame) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    if (!test::VulkanEnv::get()->dev->caps().external_memory_host) GTEST_SKIP() << "the rows split streams from imported host memory";
    auto r = test::load_reference_case(GetParam());
    ASSERT_TRUE(r) << r.error().to_string();
    if (r->prompt_tokens.size() > 64) GTEST_SKIP() << "long prompt: the short cases take the same code paths";
    auto w = FileWeightProvider::open(test::models_dir() / r->model);
    ASSERT_TRUE(w) << w.error().to_string();
    const uint32 n_ctx = uint32(r->prompt_tokens.size()), G = (*w)->config().n_head_kv;
    if (G < 2 || (*w)->config().is_moe()) GTEST_SKIP() << "no rows split: one KV head or a mixture of experts";
    auto serial = make_backend({.force_streaming = true, .hybrid = true, .cpu_heads = 0});
    ASSERT_TRUE(serial);
    ASSERT_TRUE(serial->prepare(**w, n_ctx, kBatch));
    auto be = make_backend({.force_streaming = true, .hybrid = true, .pool_tokens = pool_tokens(*r), .cpu_heads = 1});
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(**w, n_ctx, kBatch));
    ASSERT_TRUE(be->hybrid_rows()) << "the pieces of every streamed layer fit half a slot";
    const uint32 whole_min = serial->hybrid_rows() ? serial->hybrid_min_cpu_heads() : G;
    EXPECT_LE(be->hybrid_min_cpu_heads(), whole_min);
    std::printf("[ %s ] fewest CPU heads of %u: %u with pieces, %u with whole layers' GPU rows\n", r->name.c_str(), G, be->hybrid_min_cpu_heads(),
                whole_min);
    if (be->hybrid_min_cpu_heads() > 1) GTEST_SKIP() << "a piece needs more than one CPU head here too";
    expect_same_function(*be, *r, 4);
    EXPECT_EQ(be->batch_cpu_heads(), 1u);
    EXPECT_GT(be->hybrid_cpu_weight_bytes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Cases, VulkanBatch, ::testing::ValuesIn(test::list_reference_cases()), test::CaseName{});

TEST(VulkanBatch, BadChunksAreRefusedByName) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    auto w = FileWeightProvider::open(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(w) << w.error().to_string();
    auto be = make_backend({});
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(**w, 32, 4));
    test::expect_bad_chunks_refused(*be, "n_vocab");
    const std::vector<uint32> toks{1, 2, 3, 4, 5};
    std::vector<float> logits(512);  // [1 token][stories260K's 512]
    ForwardRequest gap{toks.data() + 2, 1, 9, false, logits.data()};
    auto g = be->forward(gap);
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().message.find("leaves a gap"), std::string::npos) << g.error().message;
}

namespace {

// A model, its weights and a Vulkan backend whose device pool holds kv_tokens positions.
struct Rig {
    std::shared_ptr<const LoadedModel> model;
    std::unique_ptr<FileWeightProvider> weights;
    std::unique_ptr<VulkanBackend> backend;

    Rig(const std::string& file, uint32 n_ctx, uint64 kv_tokens) : Rig(file, n_ctx, Placement{.pool_tokens = kv_tokens}) {}
    Rig(const std::string& file, uint32 n_ctx, const Placement& pl) {
        auto m = LoadedModel::open(test::models_dir() / file);
        EXPECT_TRUE(m) << m.error().to_string();
        if (!m) return;
        model = *m;
        weights = FileWeightProvider::open(model);
        backend = make_backend(pl);
        auto ok = backend ? backend->prepare(*weights, n_ctx, kBatch) : ExpectedVoid{};
        EXPECT_TRUE(ok) << ok.error().to_string();
        if (!ok) backend.reset();
    }
    Scheduler scheduler() { return Scheduler(*backend, model->tokenizer(), model->config().n_vocab, kBatch); }
};

SequenceRequest greedy(std::vector<uint32> prompt, uint32 max_tokens) { return test::greedy_request(std::move(prompt), max_tokens, 0); }

void run_all(Scheduler& s, const KvBlockPool& pool) {
    while (s.has_work()) {
        auto st = s.step();
        ASSERT_TRUE(st) << st.error().to_string();
        ASSERT_GT(st->sequences, 0u);
        EXPECT_LE(pool.used_blocks(), pool.n_blocks());
    }
}

std::vector<uint32> alone(Rig& rig, const SequenceRequest& r) {
    Scheduler s = rig.scheduler();
    auto id = s.submit(r);
    EXPECT_TRUE(id) << id.error().to_string();
    run_all(s, *rig.backend->kv_pool());
    return s.status(*id).tokens;
}

std::vector<uint32> head(const std::vector<uint32>& v, size_t n) { return {v.begin(), v.begin() + long(std::min(n, v.size()))}; }

// The top-level reference cases (the arch-* and hf-* models' random weights have near-ties in their
// greedy paths: their logits are compared above): the prompt, a shorter and a longer one
// continued together give the tokens each gives alone; stories260K.once also the reference's.
// only: one case's name (empty: every top-level case).
void expect_greedy_identity(const Placement& pl, const std::string& only = "") {
    for (const std::string& name : test::list_reference_cases()) {
        auto rc = test::load_reference_case(name);
        ASSERT_TRUE(rc) << rc.error().to_string();
        if (rc->is_arch() || rc->is_hf() || (!only.empty() && name != only)) continue;
        Placement p = pl;
        p.pool_tokens = 3 * 256;
        Rig rig(rc->model, 256, p);
        ASSERT_TRUE(rig.backend);
        ASSERT_TRUE(rig.scheduler().batched());
        Scheduler s = rig.scheduler();
        const std::vector<uint64> ids = test::run_mixed_batch(s, *rig.backend->kv_pool(), *rc, [&rig](const SequenceRequest& r) { return alone(rig, r); });
        ASSERT_EQ(ids.size(), 3u);
        if (name == "stories260K.once") {
            EXPECT_EQ(head(s.status(ids[0]).tokens, rc->greedy_tokens.size()), rc->greedy_tokens) << name;
        }
        EXPECT_EQ(rig.backend->kv_pool()->used_blocks(), 0u) << name;
        if (pl.cpu_heads >= 0) {
            EXPECT_TRUE(rig.backend->hybrid_rows()) << name;
            EXPECT_GT(rig.backend->hybrid_cpu_weight_bytes(), 0u) << name << ": the batched passes kept a CPU share";
        }
    }
}

}  // namespace

TEST(VulkanBatchScheduler, GreedyTokensAreTheSameAloneAndInABatchOfMixedLengths) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    expect_greedy_identity({});
}

// The same with the rows split's CPU share in every batched pass (every matrix streamed), on
// stories260K.once (its reference greedy text included).
TEST(VulkanBatchScheduler, GreedyTokensAreTheSameAloneAndInABatchWithTheRowsSplit) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    if (!test::VulkanEnv::get()->dev->caps().external_memory_host) GTEST_SKIP() << "the rows split streams from imported host memory";
    expect_greedy_identity({.force_streaming = true, .hybrid = true, .cpu_heads = 0}, "stories260K.once");
}

// A device pool of 4 blocks (64 positions): two sequences of up to 40 positions cannot both
// run; the second waits, then runs once the first has finished, with the same tokens as alone.
TEST(VulkanBatchScheduler, AFullPoolMakesNewSequencesWaitThenRun) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    Rig rig("stories260K.gguf", 64, 64);
    ASSERT_TRUE(rig.backend);
    KvBlockPool& pool = *rig.backend->kv_pool();
    ASSERT_EQ(pool.n_blocks(), 4u);
    Scheduler s = rig.scheduler();
    const test::WaitingPair pair = test::run_until_second_starts(s, pool);
    ASSERT_TRUE(pair.b);
    run_all(s, pool);
    EXPECT_EQ(pool.peak_used_blocks(), 3u);
    EXPECT_EQ(s.status(pair.b).tokens, alone(rig, greedy(pair.prompt_b, 30)));
    EXPECT_EQ(s.status(pair.a).tokens, alone(rig, greedy(pair.prompt_a, 30)));
}

// B starts from A's cache on the device: the shared blocks are A's, the partly filled one is
// copied on the device when B writes into it; both give their tokens alone.
TEST(VulkanBatchScheduler, PrefixSharingWithCopyOnWriteOnTheDevice) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    Rig rig("stories260K.gguf", 128, 4 * 128);
    ASSERT_TRUE(rig.backend);
    KvBlockPool& pool = *rig.backend->kv_pool();
    EXPECT_EQ(pool.storage_bytes() * 2, pool.layout().bytes());  // f16 rows on the device
    EXPECT_NE(rig.scheduler().describe().find("(" + std::to_string(pool.storage_bytes() >> 20) + " MiB)"), std::string::npos) << rig.scheduler().describe();
    Scheduler s = rig.scheduler();
    const test::PrefixPair pair = test::submit_prefix_pair(s);  // A's 21 tokens: one full block, 5 positions of the next
    ASSERT_TRUE(pair.b);
    const uint64 a = pair.a, b = pair.b;
    const std::vector<uint32>& p = pair.prompt_a;
    const std::vector<uint32>& pb = pair.prompt_b;
    EXPECT_EQ(pool.ref_count(s.find(a)->kv().blocks[1]), 2u) << "the partly filled block is shared until written";
    const uint64 copies = rig.backend->kv_block_copies();
    run_all(s, pool);
    EXPECT_GT(rig.backend->kv_block_copies(), copies) << "a shared block was copied on the device";
    EXPECT_EQ(s.status(a).tokens, alone(rig, greedy(p, 10)));
    EXPECT_EQ(s.status(b).tokens, alone(rig, greedy(pb, 10)));
    s.release(a);
    EXPECT_EQ(pool.used_blocks(), 0u);
}

// A pool larger than the VRAM budget leaves room for is cut to what fits (whole blocks, at
// least one context): prepare succeeds within the budget and the scheduler runs from it.
TEST(VulkanBatch, APoolLargerThanTheBudgetShrinksToWhatFits) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    auto w = FileWeightProvider::open(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(w) << w.error().to_string();
    const uint64 budget = uint64(4) << 20, asked = uint64(1) << 20;
    VulkanOptions o;
    o.kv_f16_rounding = true;
    o.hybrid = false;
    o.vram_budget_bytes = budget;
    o.kv_pool_tokens = asked;
    auto be = VulkanBackend::create(o);
    ASSERT_TRUE(be) << be.error().to_string();
    ASSERT_TRUE((*be)->prepare(**w, 128, 16));
    ASSERT_NE((*be)->kv_pool(), nullptr);
    const uint64 positions = (*be)->kv_pool()->layout().positions();
    std::printf("pool of %llu positions under a %llu-byte budget\n", (unsigned long long)positions, (unsigned long long)budget);
    EXPECT_LT(positions, asked);
    EXPECT_GE(positions, 128u);
    EXPECT_LE((*be)->device_memory_stats().bytes_reserved, budget);
    const std::vector<uint32> toks{1, 403, 407, 261};
    std::vector<float> logits(512);
    EXPECT_TRUE((*be)->forward({toks.data(), 4, 0, false, logits.data()}));
}
