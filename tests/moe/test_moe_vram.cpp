// Mixtures of experts on the Vulkan device under a VRAM budget: a streaming slot holds the dense
// part and n_expert_used expert places, not every expert (VramPlan, without a device, and the
// backend's plan of arch-llama-moe); the VRAM expert cache keeps the popular experts
// (ExpertResidency's decisions, without a device); and on lavapipe a skewed router
// (vk_symbiote_genmodel --router-skew) finds more of its chosen experts in VRAM and uploads
// fewer bytes per token than an unskewed one, with the logits of an all-resident run, under the
// budget.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "backend/vulkan/DeviceWeights.h"
#include "backend/vulkan/VramPlan.h"
#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "model/ModelGenerator.h"
#include "oracle/ExpertResidency.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"
#include "vulkan/VulkanTestEnv.h"

using namespace vk_symbiote;

namespace {

// ---- VramPlan (no device) ----

constexpr uint64 kCols = 256, kRow = kCols * 2;  // f16 rows of 256 columns
constexpr uint32 kLayers = 3, kExperts = 8, kUsed = 2;
constexpr uint64 kDense = (256 + 128 + 128 + 256 + 8) * kRow;  // Wq, Wk, Wv, Wo, Router of a layer
constexpr uint64 kExpert = 3 * (3 * kCols * kRow);  // gate, up (768 rows of 512 bytes) and down (256 rows of 1536) of one expert

// A Mixtral-like layer list: per layer norms, attention, the router and 8 experts; the head.
VramPlanInput moe_input(uint64 budget, bool force_streaming) {
    VramPlanInput in;
    in.n_segments = kLayers + 1;
    in.fixed_bytes = uint64(1) << 20;
    in.budget_bytes = budget;
    in.max_piece_bytes = uint64(128) << 20;
    in.block_bytes = uint64(1) << 20;
    in.force_streaming = force_streaming;
    in.expert_places = kUsed;
    const TensorRole roles[] = {TensorRole::Wq, TensorRole::Wk, TensorRole::Wv, TensorRole::Wo, TensorRole::Router};
    const uint64 rows[] = {kCols, kCols / 2, kCols / 2, kCols, kExperts};
    for (uint32 l = 0; l < kLayers; ++l) {
        in.tensors.push_back({{TensorRole::AttnNorm, int32(l), -1}, 1, kCols * 4, l, true});
        for (int i = 0; i < 5; ++i) in.tensors.push_back({{roles[i], int32(l), -1}, rows[i], kRow, l, false});
        in.tensors.push_back({{TensorRole::FfnNorm, int32(l), -1}, 1, kCols * 4, l, true});
        for (int32 e = 0; e < int32(kExperts); ++e) {
            in.tensors.push_back({{TensorRole::ExpGate, int32(l), e}, 3 * kCols, kRow, l, false});
            in.tensors.push_back({{TensorRole::ExpUp, int32(l), e}, 3 * kCols, kRow, l, false});
            in.tensors.push_back({{TensorRole::ExpDown, int32(l), e}, kCols, 3 * kRow, l, false});
        }
    }
    in.tensors.push_back({{TensorRole::OutputNorm, -1, -1}, 1, kCols * 4, kLayers, true});
    in.tensors.push_back({{TensorRole::Output, -1, -1}, 8 * kCols, kRow, kLayers, false});
    return in;
}

// The smallest budget: everything streams, the slots hold the largest segment.
uint64 minimum_budget() {
    auto p = plan_vram(moe_input(uint64(1) << 40, true));
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? p->minimum_budget_bytes : 0;
}

// Expert places lie after the dense part of their slot and an expert's pieces inside its place.
void check_places(const VramPlanInput& in, const VramPlan& p) {
    ASSERT_EQ(p.expert_base.size(), in.n_segments);
    for (size_t i = 0; i < in.tensors.size(); ++i) {
        const VramTensor& t = in.tensors[i];
        if (t.id.expert < 0) {
            for (const VramPiece& pc : p.tensors[i].pieces) {
                if (!p.tensors[i].resident) {
                    EXPECT_LE(pc.slot_offset + pc.rows * t.row_bytes, p.expert_base[t.segment]);
                }
            }
            continue;
        }
        EXPECT_FALSE(p.tensors[i].resident) << "an expert is never resident on its own";
        for (const VramPiece& pc : p.tensors[i].pieces) EXPECT_LE(pc.slot_offset + pc.rows * t.row_bytes, p.expert_place_bytes);
    }
    for (uint32 s = 0; s < kLayers; ++s) EXPECT_LE(p.expert_base[s] + kUsed * p.expert_place_bytes, p.slot_bytes);
}

}  // namespace

TEST(VramPlanExperts, SlotsHoldTheDensePartAndTheChosenExpertsOnly) {
    const uint64 min = minimum_budget();
    ASSERT_GT(min, 0u);
    for (bool forced : {true, false}) {
        SCOPED_TRACE(forced ? "forced streaming" : "the minimum budget");
        const VramPlanInput in = moe_input(min, forced);
        auto p = plan_vram(in);
        ASSERT_TRUE(p) << p.error().to_string();
        EXPECT_EQ(p->slot_bytes, kDense + kUsed * kExpert) << "the dense part and k experts, not all " << kExperts;
        EXPECT_LT(p->slot_bytes, kDense + kExperts * kExpert);
        EXPECT_EQ(p->expert_places, kUsed);
        EXPECT_EQ(p->expert_place_bytes, kExpert);
        EXPECT_EQ(p->expert_cache_entries, 0u);
        EXPECT_EQ(p->segment_stream_bytes[0], p->slot_bytes);
        EXPECT_EQ(p->segment_stream_bytes[kLayers], 8 * kCols * kRow) << "the head has no expert places";
        EXPECT_LE(p->device_bytes, in.budget_bytes);
        check_places(in, *p);
    }
    EXPECT_FALSE(plan_vram(moe_input(min - 1, false))) << "one byte below the minimum is refused";
}

// What the budget leaves once the dense tensors are resident becomes the expert cache, in
// whole experts; forced streaming has none.
TEST(VramPlanExperts, TheBudgetLeftOverBecomesTheExpertCache) {
    const uint64 min = minimum_budget(), entry = vram_alloc_cost(kExpert, uint64(1) << 20);
    for (uint64 extra : {uint64(3) << 20, uint64(6) << 20, uint64(12) << 20}) {
        const VramPlanInput in = moe_input(min + extra, false);
        auto p = plan_vram(in);
        ASSERT_TRUE(p) << p.error().to_string();
        check_places(in, *p);
        SCOPED_TRACE(p->summary());
        ASSERT_GT(p->slots, 0u) << "the budget streams the experts";
        EXPECT_LE(p->device_bytes, in.budget_bytes);
        EXPECT_EQ(p->slot_bytes, kUsed * kExpert) << "every dense tensor resident: the slots hold the chosen experts";
        EXPECT_GT(p->expert_cache_entries, 0u);
        EXPECT_LE(p->expert_cache_entries, kLayers * kExperts);
        if (p->expert_cache_entries < kLayers * kExperts) {
            EXPECT_LT(in.budget_bytes - p->device_bytes, entry) << "the cache takes what is left";
        }
        auto forced = plan_vram(moe_input(min + extra, true));
        ASSERT_TRUE(forced);
        EXPECT_EQ(forced->expert_cache_entries, 0u);
    }
}

// ---- ExpertResidency (no device) ----

TEST(ExpertResidency, FreeEntriesFirstThenTheLeastPopularCachedExpertMakesRoom) {
    ExpertResidency r(1, 4, 1, 2, 4.0f);
    EXPECT_EQ(r.route(0, {1, 0, 0, 0}, 1).size(), 1u);
    EXPECT_EQ(r.route(0, {0, 1, 0, 0}, 1).size(), 1u);
    const int32 e0 = r.entry(0, 0);
    ASSERT_GE(e0, 0);
    ASSERT_GE(r.entry(0, 1), 0);
    // Expert 2, just chosen, is more popular than expert 0 (chosen two tokens ago): it replaces it.
    auto a = r.route(0, {0, 0, 1, 0}, 1);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].expert, 2u);
    EXPECT_EQ(int32(a[0].entry), e0);
    EXPECT_EQ(r.entry(0, 0), -1);
    EXPECT_EQ(r.entry(0, 2), e0);
    EXPECT_TRUE(r.route(0, {0, 0, 1, 0}, 1).empty()) << "a hit admits nothing";
}

TEST(ExpertResidency, TheExpertsTheLayerChoseAreNeverEvicted) {
    ExpertResidency r(1, 4, 2, 1, 4.0f);
    auto a = r.route(0, {1, 1, 0, 0}, 1);
    ASSERT_EQ(a.size(), 1u) << "one entry: the other chosen expert cannot take it from the first";
    EXPECT_TRUE((r.entry(0, 0) >= 0) != (r.entry(0, 1) >= 0));
    EXPECT_TRUE(ExpertResidency(1, 4, 2, 0, 4.0f).route(0, {1, 1, 0, 0}, 1).empty()) << "no entries: nothing is kept";
}

namespace {

// The share of chosen experts found cached over the second half of 400 tokens, each layer's
// router choosing 2 of 8 experts: with probability `skew` experts 2l and 2l + 1, else two at random.
double simulated_hit_rate(double skew) {
    ExpertResidency r(2, 8, 2, 4, 16.0f);
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(0, 1);
    uint64 hits = 0, chosen = 0;
    for (uint32 t = 0; t < 400; ++t)
        for (uint32 l = 0; l < 2; ++l) {
            std::vector<uint32> counts(8, 0);
            if (u(rng) < skew) {
                counts[2 * l] = counts[2 * l + 1] = 1;
            } else {
                const uint32 a = rng() % 8, b = (a + 1 + rng() % 7) % 8;
                counts[a] = counts[b] = 1;
            }
            for (uint32 e = 0; e < 8; ++e) {
                if (t < 200 || counts[e] == 0) continue;
                hits += r.entry(l, e) >= 0;
                ++chosen;
            }
            r.route(l, counts, 1);
        }
    return double(hits) / double(chosen);
}

}  // namespace

TEST(ExpertResidency, ASkewedRouterKeepsItsHotExperts) {
    const double uniform = simulated_hit_rate(0), skewed = simulated_hit_rate(0.8);
    std::printf("[ residency ] 4 entries of 16 experts: hit rate %.2f uniform, %.2f skewed\n", uniform, skewed);
    EXPECT_LT(uniform, 0.45);
    EXPECT_GT(skewed, 0.75);
}

// ---- on the device (lavapipe in CI) ----

namespace {

std::unique_ptr<VulkanBackend> moe_backend(uint64 budget, bool force_streaming) {
    VulkanOptions o;
    o.cpu_threads = 2;
    o.copy_threads = 2;
    o.hybrid = false;  // every layer on the GPU: its experts from the cache or the slots
    o.enable_validation = test::validation_wanted();
    o.vram_budget_bytes = budget;
    o.force_streaming = force_streaming;
    auto be = VulkanBackend::create(o);
    EXPECT_TRUE(be) << be.error().to_string();
    return be ? std::move(*be) : nullptr;
}

uint64 round_to(uint64 v, uint64 a) { return (v + a - 1) / a * a; }

}  // namespace

// The backend's slots for arch-llama-moe with every matrix streamed: the largest segment's
// dense matrices plus n_expert_used experts, each piece at the device's offset alignment.
TEST(MoeVram, BackendSlotBytesAreTheDensePartPlusTheChosenExperts) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    auto ref = test::load_reference_case("arch-llama-moe");
    ASSERT_TRUE(ref) << ref.error().to_string();
    auto w = FileWeightProvider::open(test::models_dir() / ref->model);
    ASSERT_TRUE(w) << w.error().to_string();
    const ModelConfig& c = (*w)->config();
    auto be = moe_backend(0, true);
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(**w, 16, 4));
    const uint64 align = std::max<uint64>(256, be->device().caps().min_storage_buffer_offset_alignment);
    std::vector<uint64> dense(c.n_layer + 1, 0), expert(c.n_layer + 1, 0);
    for (const TensorDesc& d : (*w)->registry().tensors()) {
        if (!tensor_on_device(d.id.role) || tensor_role_is_norm(d.id.role) || d.byte_size == 0) continue;
        const uint32 seg = d.id.layer >= 0 ? uint32(d.id.layer) : c.n_layer;
        if (d.id.expert < 0) dense[seg] += round_to(d.byte_size, align);
        else if (d.id.expert == 0) expert[seg] += round_to(d.byte_size, align);
    }
    uint64 want = 0, all = 0;
    for (uint32 s = 0; s <= c.n_layer; ++s) {
        want = std::max(want, dense[s] + c.n_expert_used * expert[s]);
        all = std::max(all, dense[s] + c.n_expert * expert[s]);
    }
    EXPECT_EQ(be->plan().slot_bytes, want) << be->plan().summary();
    EXPECT_LT(want, all);
    EXPECT_EQ(be->plan().expert_places, c.n_expert_used);
}

namespace {

// tiny-moe (8 experts, 2 used, 2 layers) with this router skew, f32.
Path tiny_moe(float skew) {
    auto s = model_shape_preset("tiny-moe");
    EXPECT_TRUE(s);
    s->router_skew = skew;
    auto p = generate_model(*s, DType::F32, test::tmp_dir() / ("tiny-moe-vram-skew" + std::to_string(int(skew * 10)) + ".gguf"), 7);
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? *p : Path();
}

constexpr uint32 kPrompt = 8, kSteps = 56;

// Logits of a prompt batch (all rows) then kSteps single tokens, and the VRAM expert figures
// of the second half of the steps.
struct MoeRun {
    std::vector<float> logits;
    double hit_rate = 0, upload_bytes_per_token = 0;
    uint64 peak_device_bytes = 0;
    std::string plan;
};

MoeRun run_moe(WeightProvider& w, uint64 budget) {
    MoeRun r;
    auto be = moe_backend(budget, false);
    if (!be) return r;
    const uint32 V = w.config().n_vocab, n = kPrompt + kSteps;
    std::vector<uint32> toks(n);
    for (uint32 i = 0; i < n; ++i) toks[i] = 3 + (i * 2654435761u) % (V - 3);
    auto p = be->prepare(w, n, kPrompt);
    EXPECT_TRUE(p) << p.error().to_string();
    if (!p) return r;
    r.plan = be->plan().summary();
    r.logits.resize(size_t(kPrompt + kSteps) * V);
    EXPECT_TRUE(be->forward({toks.data(), kPrompt, 0, true, r.logits.data()}));
    uint64 hits = 0, misses = 0, up = 0;
    for (uint32 i = kPrompt; i < n; ++i) {
        if (i == kPrompt + kSteps / 2) hits = be->expert_vram_hits(), misses = be->expert_vram_misses(), up = be->weight_bytes_uploaded();
        EXPECT_TRUE(be->forward({&toks[i], 1, i, false, r.logits.data() + size_t(i) * V}));
    }
    const double h = double(be->expert_vram_hits() - hits), m = double(be->expert_vram_misses() - misses);
    r.hit_rate = h / std::max(1.0, h + m);
    r.upload_bytes_per_token = double(be->weight_bytes_uploaded() - up) / (kSteps / 2);
    r.peak_device_bytes = be->device_memory_stats().bytes_reserved;
    return r;
}

// A budget whose plan streams experts and caches 4 of the 16 (tiny-moe's shapes do not depend
// on the skew).
uint64 four_entry_budget(WeightProvider& w) {
    for (double b = 256 * 1024; b < double(uint64(1) << 30); b *= 1.05) {
        auto be = moe_backend(uint64(b), false);
        if (be && be->prepare(w, kPrompt + kSteps, kPrompt) && be->plan().slots > 0 && be->plan().expert_cache_entries >= 4) return uint64(b);
    }
    return 0;
}

}  // namespace

TEST(MoeVram, ASkewedRouterFindsMoreExpertsInVramAndUploadsLessWithTheSameLogits) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    MoeRun cached[2];
    for (int skewed = 0; skewed < 2; ++skewed) {
        auto w = FileWeightProvider::open(tiny_moe(skewed ? 8.0f : 0.0f));
        ASSERT_TRUE(w) << w.error().to_string();
        const uint64 budget = four_entry_budget(**w);
        ASSERT_GT(budget, 0u);
        const MoeRun resident = run_moe(**w, 0);
        cached[skewed] = run_moe(**w, budget);
        const MoeRun& c = cached[skewed];
        std::printf("[ tiny-moe skew %d ] budget %llu: %s\n  VRAM expert hit rate %.2f, %.0f bytes uploaded per token, peak device %llu bytes\n", skewed ? 8 : 0,
                    (unsigned long long)budget, c.plan.c_str(), c.hit_rate, c.upload_bytes_per_token, (unsigned long long)c.peak_device_bytes);
        ASSERT_EQ(c.logits.size(), resident.logits.size());
        EXPECT_TRUE(c.logits == resident.logits) << "the experts read from the cache and the slots are the resident run's bytes";
        EXPECT_LE(c.peak_device_bytes, budget);
    }
    EXPECT_GT(cached[1].hit_rate, cached[0].hit_rate + 0.2);
    EXPECT_LT(cached[1].upload_bytes_per_token, 0.75 * cached[0].upload_bytes_per_token);
}
