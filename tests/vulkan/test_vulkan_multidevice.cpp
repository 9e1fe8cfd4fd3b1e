// Several Vulkan devices in one process (MultiDeviceBackend) on lavapipe: device 0 opened twice as
// two logical devices (--devices 0,0). The layers split across them computes the reference's
// logits in every placement of the second device (resident, streamed under a tiny budget of its
// own, hybrid with a CPU part), each device under its own budget (its peak reported per device);
// stories260K's greedy text is the one-device text; a batch of sequences across the devices
// gives each sequence its logits alone.
#include <gtest/gtest.h>

#include <cstdio>

#include "VulkanCase.h"
#include "VulkanCaseSkip.h"
#include "VulkanTestEnv.h"
#include "backend/vulkan/MultiDeviceBackend.h"
#include "engine/BackendSelector.h"
#include "vk_symbiote/ConfigManager.h"
#include "memory/FileWeightProvider.h"
#include "model/LoadedModel.h"
#include "runtime/Scheduler.h"
#include "support/BatchLogits.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

constexpr uint32 kBatch = 64;

struct Part {
    uint64 budget = 0;  // 0: the device's
    bool force_streaming = false;
    bool hybrid = false;
    uint64 pool_tokens = 0;  // the device KV pool's positions (0: n_ctx)
};

VulkanOptions part_options(const Part& p) {
    VulkanOptions o;
    o.device_index = 0;  // the same physical device (lavapipe) for every part
    o.enable_validation = test::validation_wanted();
    o.kv_f16_rounding = true;  // the reference's f16 KV cache
    o.vram_budget_bytes = p.budget;
    o.force_streaming = p.force_streaming;
    o.hybrid = p.hybrid;
    o.kv_pool_tokens = p.pool_tokens;
    o.cpu_threads = 2;
    o.copy_threads = 2;
    return o;
}

// Two parts; the layers split evenly whatever the budgets (speeds = 1 / budget).
std::unique_ptr<MultiDeviceBackend> make_multi(const Part& a, const Part& b) {
    std::vector<std::unique_ptr<VulkanBackend>> parts;
    for (const Part& p : {a, b}) {
        auto be = VulkanBackend::create(part_options(p));
        EXPECT_TRUE(be) << be.error().to_string();
        if (!be) return nullptr;
        parts.push_back(std::move(*be));
    }
    const double b0 = double(parts[0]->vram_budget_bytes()), b1 = double(parts[1]->vram_budget_bytes());
    auto m = MultiDeviceBackend::create(std::move(parts), {1.0 / b0, 1.0 / b1});
    EXPECT_TRUE(m) << m.error().to_string();
    return m ? std::move(*m) : nullptr;
}

uint32 ctx_of(const test::ReferenceCase& r) { return uint32(r.prompt_tokens.size() + r.greedy_tokens.size() + 1); }

// The prompt less its last 3 tokens in one pass (every position's logits), then those 3 one at
// a time: every position against the reference.
void expect_reference(Backend& be, const test::ReferenceCase& r) {
    const auto& toks = r.prompt_tokens;
    const uint32 V = r.n_vocab, n = uint32(toks.size()), a = n > 4 ? n - 3 : n;
    be.reset();
    std::vector<float> logits(size_t(a) * V);
    auto f = be.forward({toks.data(), a, 0, true, logits.data()});
    ASSERT_TRUE(f) << f.error().to_string();
    for (uint32 p = 0; p < n; ++p) {
        if (p >= a) {
            ASSERT_TRUE(be.forward({&toks[p], 1, p, false, logits.data()}));
        }
        const float* got = logits.data() + size_t(p < a ? p : 0) * V;
        EXPECT_LT(test::nmse(got, r.logits_at(p), V), r.tolerance()) << r.name << " position " << p;
        if (r.decisive(p)) {
            EXPECT_EQ(test::argmax(got, V), test::argmax(r.logits_at(p), V)) << r.name << " position " << p;
        }
    }
}

void expect_budgets_kept(MultiDeviceBackend& m) {
    const BackendStats s = m.stats();
    ASSERT_EQ(s.devices.size(), 2u);
    uint32 layers = 0;
    for (const DevicePartStats& d : s.devices) {
        EXPECT_GT(d.device_memory_peak, 0u) << d.device;
        EXPECT_LE(d.device_memory_peak, d.vram_budget_bytes) << "device part from layer " << d.first_layer << " over its budget";
        EXPECT_EQ(d.first_layer, layers) << "contiguous ranges in order";
        layers += d.n_layers;
    }
    EXPECT_EQ(layers, s.n_layers);
    EXPECT_TRUE(s.devices.front().embeds && !s.devices.front().head);
    EXPECT_TRUE(s.devices.back().head && !s.devices.back().embeds);
}

class VulkanMultiDevice : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(VulkanMultiDevice, BothResidentMatchTheReference) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto l = test::load_case_weights(GetParam());
    ASSERT_TRUE(l);
    auto m = make_multi({}, {});
    ASSERT_TRUE(m);
    auto p = m->prepare(*l->weights, ctx_of(l->ref), kBatch);
    ASSERT_TRUE(p) << p.error().to_string();
    ASSERT_EQ(m->ranges().size(), 2u);
    EXPECT_GE(m->ranges()[0].count, l->weights->config().n_layer / 2) << "an even split of the bytes, the head's on device 1";
    EXPECT_EQ(m->part(0).plan().slots, 0u);
    EXPECT_EQ(m->part(1).plan().slots, 0u);
    expect_reference(*m, l->ref);
    expect_budgets_kept(*m);
    EXPECT_GT(m->stats().devices[1].activation_bytes_in, 0u) << "the residual rows crossed to device 1";
}

// Device 1 under the smallest budget (steps of 1.25x from 64 KiB) at which it runs while its
// every matrix streams; device 0 keeps its part resident.
TEST_P(VulkanMultiDevice, OneResidentOneStreamedUnderATinyBudget) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto l = test::load_case_weights(GetParam());
    ASSERT_TRUE(l);
    std::unique_ptr<MultiDeviceBackend> m;
    for (double b = 64 * 1024; b < double(uint64(1) << 31) && !m; b *= 1.25) {
        auto c = make_multi({}, {.budget = uint64(b), .force_streaming = true});
        ASSERT_TRUE(c);
        if (c->prepare(*l->weights, ctx_of(l->ref), kBatch)) m = std::move(c);
    }
    ASSERT_TRUE(m) << "no budget for device 1 runs";
    EXPECT_EQ(m->part(0).plan().slots, 0u);
    EXPECT_GT(m->part(1).plan().slots, 0u) << "device 1 streams";
    expect_reference(*m, l->ref);
    expect_budgets_kept(*m);
    std::printf("[ %s ] device 1 budget %.1f KiB, peak %.1f KiB\n", l->ref.name.c_str(), m->stats().devices[1].vram_budget_bytes / 1024.0,
                m->stats().devices[1].device_memory_peak / 1024.0);
}

TEST_P(VulkanMultiDevice, HybridSecondDeviceMatchesTheReference) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto l = test::load_case_weights(GetParam());
    ASSERT_TRUE(l);
    auto m = make_multi({}, {.force_streaming = true, .hybrid = true});
    ASSERT_TRUE(m);
    auto p = m->prepare(*l->weights, ctx_of(l->ref), kBatch);
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_EQ(m->kv_pool(), nullptr) << "a hybrid part keeps one contiguous cache: one sequence at a time";
    EXPECT_TRUE(m->part(1).hybrid_cpu() != nullptr || m->part(1).hybrid_rows()) << "device 1 has a CPU part";
    expect_reference(*m, l->ref);
    expect_budgets_kept(*m);
}

// Three sequences of mixed lengths in passes of 3 tokens each across both devices: each one's
// logits equal its logits alone on one device (and the reference for the prompt).
TEST_P(VulkanMultiDevice, BatchOfSequencesAcrossDevicesComputesEachAlone) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto l = test::load_case_weights(GetParam());
    ASSERT_TRUE(l);
    const auto& r = l->ref;
    const uint32 n_ctx = uint32(r.prompt_tokens.size());
    const uint64 pool = 3ull * (n_ctx + kKvBlockPositions);  // the three sequences, a spare block each
    auto m = make_multi({.pool_tokens = pool}, {.pool_tokens = pool});
    ASSERT_TRUE(m);
    auto p = m->prepare(*l->weights, n_ctx, kBatch);
    ASSERT_TRUE(p) << p.error().to_string();
    ASSERT_NE(m->kv_pool(), nullptr);
    const auto seqs = test::mixed_sequences(r.prompt_tokens);
    const auto batched = test::batched_logits(*m, seqs, 3, r.n_vocab);
    EXPECT_EQ(m->kv_pool()->used_blocks(), 0u) << "released sequences return their blocks";
    for (size_t s = 0; s < seqs.size(); ++s) {
        std::vector<float> want(seqs[s].size() * r.n_vocab);
        m->reset();
        ASSERT_TRUE(m->forward({seqs[s].data(), uint32(seqs[s].size()), 0, true, want.data()}));
        for (size_t q = 0; q < seqs[s].size(); ++q) {
            EXPECT_LT(test::nmse(batched[s].data() + q * r.n_vocab, want.data() + q * r.n_vocab, r.n_vocab), r.tolerance()) << r.name << " sequence " << s << " position " << q;
            if (s == 0) {
                EXPECT_LT(test::nmse(batched[s].data() + q * r.n_vocab, r.logits_at(q), r.n_vocab), r.tolerance()) << r.name << " position " << q;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, VulkanMultiDevice,
                         ::testing::Values("syn-f32", "syn-bf16", "stories260K.park", "arch-gemma2", "arch-phi3"),
                         test::CaseName{});

namespace {

std::vector<uint32> greedy(Backend& be, const test::ReferenceCase& r) {
    const uint32 V = r.n_vocab;
    std::vector<float> logits(V);
    be.reset();
    EXPECT_TRUE(be.forward({r.prompt_tokens.data(), uint32(r.prompt_tokens.size()), 0, false, logits.data()}));
    std::vector<uint32> got;
    uint32 pos = uint32(r.prompt_tokens.size());
    while (got.size() < r.greedy_tokens.size()) {
        uint32 t = uint32(test::argmax(logits.data(), V));
        got.push_back(t);
        if (got.size() == r.greedy_tokens.size() || !be.forward({&t, 1, pos++, false, logits.data()})) break;
    }
    return got;
}

}  // namespace

// stories260K's greedy continuation across two devices is the one-device continuation, token
// for token (and the reference's).
TEST(VulkanMultiDeviceGreedy, Stories260KTextIsTheOneDeviceText) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    auto l = test::load_case_weights("stories260K.once");
    ASSERT_TRUE(l);
    auto one = VulkanBackend::create(part_options({}));
    ASSERT_TRUE(one);
    ASSERT_TRUE((*one)->prepare(*l->weights, ctx_of(l->ref), kBatch));
    const auto want = greedy(**one, l->ref);
    one->reset();
    auto m = make_multi({}, {.force_streaming = true});
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->prepare(*l->weights, ctx_of(l->ref), kBatch));
    const auto got = greedy(*m, l->ref);
    EXPECT_EQ(got, want);
    EXPECT_EQ(got, l->ref.greedy_tokens);
}

namespace {

Expected<SelectedBackend> select(std::vector<std::string> args) {
    ConfigManager cfg;
    auto r = cfg.load(args, [](std::string_view) { return std::optional<std::string>(); });
    if (!r) return r.error();
    return select_backend(test::models_dir() / "stories260K.gguf", cfg);
}

}  // namespace

// The engine's choice with --devices: each device under its own --vram-gb, its part reported;
// a device the machine lacks and a budget list of the wrong length refused by name.
TEST(VulkanMultiDeviceEngine, DevicesOptionSplitsUnderEachBudgetAndRefusesBadInput) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    auto s = select({"--devices", "0,0", "--vram-gb", "0.5,0.25"});
    ASSERT_TRUE(s) << s.error().to_string();
    const BackendStats st = s->backend->stats();
    ASSERT_EQ(st.devices.size(), 2u);
    EXPECT_EQ(st.devices[0].vram_budget_bytes, uint64(1) << 29);
    EXPECT_EQ(st.devices[1].vram_budget_bytes, uint64(1) << 28);
    for (const DevicePartStats& d : st.devices) EXPECT_LE(d.device_memory_peak, d.vram_budget_bytes);
    EXPECT_GT(st.devices[0].n_layers, st.devices[1].n_layers) << "twice the budget, more layers";
    auto missing = select({"--devices", "0,7"});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("--devices: device 7"), std::string::npos) << missing.error().message;
    auto three = select({"--devices", "0,0", "--vram-gb", "4,8,2"});
    ASSERT_FALSE(three);
    EXPECT_NE(three.error().message.find("--vram-gb: 3 budgets for 2 devices"), std::string::npos) << three.error().message;
}

namespace {

SequenceRequest greedy_request(std::vector<uint32> prompt, uint32 max_tokens) {
    SequenceRequest r;
    r.prompt = std::move(prompt);
    r.sampling.temperature = 0;
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    return r;
}

// The Scheduler on `be`: A's prompt, then B from A's cache plus one token (its partly filled
// block copied on write when B writes into it), both decoded together; their tokens.
std::vector<std::vector<uint32>> shared_prefix_tokens(Backend& be, const LoadedModel& model) {
    Scheduler s(be, model.tokenizer(), model.config().n_vocab, kBatch);
    std::vector<uint32> p{1};
    for (uint32 i = 0; i < 20; ++i) p.push_back(260 + 7 * i % 200);  // 21 tokens: one full block, 5 positions of the next
    SequenceRequest ra = greedy_request(p, 10);
    ra.keep_kv = true;
    const uint64 a = *s.submit(ra);
    EXPECT_TRUE(s.step());
    p.push_back(300);
    SequenceRequest rb = greedy_request(p, 10);
    rb.prefix_from = a;
    const uint64 b = *s.submit(rb);
    while (s.has_work()) {
        auto st = s.step();
        EXPECT_TRUE(st) << st.error().to_string();
        if (!st) break;
    }
    std::vector<std::vector<uint32>> out{s.status(a).tokens, s.status(b).tokens};
    s.release(a);
    return out;
}

}  // namespace

// The Scheduler's batched passes across two devices: two sequences sharing a prefix (a block
// copied on write on both devices) decode the tokens they decode on one device.
TEST(VulkanMultiDeviceScheduler, SharedPrefixBatchGivesTheOneDeviceTokens) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    auto model = LoadedModel::open(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(model) << model.error().to_string();
    auto weights = FileWeightProvider::open(*model);
    ASSERT_TRUE(weights);
    auto one = VulkanBackend::create(part_options({.pool_tokens = 512}));
    ASSERT_TRUE(one);
    ASSERT_TRUE((*one)->prepare(*weights, 128, kBatch));
    auto m = make_multi({.pool_tokens = 512}, {.pool_tokens = 512});
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->prepare(*weights, 128, kBatch));
    ASSERT_NE(m->kv_pool(), nullptr);
    const auto want = shared_prefix_tokens(**one, **model);
    const auto got = shared_prefix_tokens(*m, **model);
    EXPECT_EQ(got, want);
    EXPECT_EQ(got[0].size(), 10u);
    EXPECT_GT(m->part(0).kv_block_copies(), 0u) << "the shared block was copied on device 0";
    EXPECT_GT(m->part(1).kv_block_copies(), 0u) << "and on device 1";
    EXPECT_EQ(m->kv_pool()->used_blocks(), 0u);
}
