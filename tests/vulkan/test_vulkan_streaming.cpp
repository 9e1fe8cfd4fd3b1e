// Weights streamed to the GPU under a VRAM budget (VramPlan + WeightStreamRing) compute the
// same function as with every weight resident: the reference logits within tolerance for
// every model, with every matrix streamed and with a partly resident set, from RAM-resident
// weights and from packs under a tiny RAM budget; stories260K greedy text unchanged; a
// generated model several times larger than both budgets runs under them; a model file
// truncated while running is a clear error. VramPlan's arithmetic is tested without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <algorithm>

#include "TinyPacks.h"
#include "VulkanTestEnv.h"
#include "backend/vulkan/VramPlan.h"
#include "backend/vulkan/VulkanBackend.h"
#include "gguf/GGUFLoader.h"
#include "memory/FileWeightProvider.h"
#include "memory/MemoryStats.h"
#include "packs/PackWeightProvider.h"
#include "model/ModelGenerator.h"
#include "support/ReferenceCase.h"
#include "VulkanCaseSkip.h"
#include "support/Sanitizers.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

// ---- VramPlan (no device) ----

// A Llama-like layer list: per layer a norm, 7 matrices of the given row counts x cols.
VramPlanInput llama_input(uint32 n_layer, uint64 cols, uint64 budget, uint64 fixed) {
    VramPlanInput in;
    in.n_segments = n_layer + 1;
    in.fixed_bytes = fixed;
    in.budget_bytes = budget;
    in.max_piece_bytes = uint64(128) << 20;
    in.block_bytes = uint64(1) << 20;
    const TensorRole roles[] = {TensorRole::Wq, TensorRole::Wk, TensorRole::Wv, TensorRole::Wo, TensorRole::Wgate, TensorRole::Wup, TensorRole::Wdown};
    const uint64 rows[] = {cols, cols / 2, cols / 2, cols, 3 * cols, 3 * cols, cols};
    for (uint32 l = 0; l < n_layer; ++l) {
        in.tensors.push_back({{TensorRole::AttnNorm, int32(l)}, 1, cols * 4, l, true});
        for (int i = 0; i < 7; ++i) in.tensors.push_back({{roles[i], int32(l)}, rows[i], cols * 2, l, false});
    }
    in.tensors.push_back({{TensorRole::OutputNorm, -1}, 1, cols * 4, n_layer, true});
    in.tensors.push_back({{TensorRole::Output, -1}, 8 * cols, cols * 2, n_layer, false});
    return in;
}

uint64 weight_bytes(const VramPlanInput& in) {
    uint64 b = 0;
    for (const auto& t : in.tensors) b += t.rows * t.row_bytes;
    return b;
}

void check_plan_invariants(const VramPlanInput& in, const VramPlan& p) {
    ASSERT_EQ(p.tensors.size(), in.tensors.size());
    EXPECT_LE(p.device_bytes, in.budget_bytes);
    EXPECT_EQ(p.resident_weight_bytes + p.streamed_weight_bytes, weight_bytes(in));
    std::vector<std::vector<std::pair<uint64, uint64>>> ranges(in.n_segments);  // slot ranges per segment
    for (size_t i = 0; i < in.tensors.size(); ++i) {
        const auto& t = in.tensors[i];
        const auto& tp = p.tensors[i];
        if (t.norm) {
            EXPECT_TRUE(tp.resident);
        }
        uint64 next = 0;
        for (const auto& pc : tp.pieces) {
            EXPECT_EQ(pc.row_begin, next) << "pieces cover the rows in order";
            EXPECT_LE(pc.rows * t.row_bytes, std::max(in.max_piece_bytes, t.row_bytes));
            next += pc.rows;
            if (!tp.resident) {
                EXPECT_EQ(pc.slot_offset % in.align, 0u);
                EXPECT_LE(pc.slot_offset + pc.rows * t.row_bytes, p.slot_bytes);
                ranges[t.segment].push_back({pc.slot_offset, pc.slot_offset + pc.rows * t.row_bytes});
            }
        }
        EXPECT_EQ(next, t.rows);
    }
    for (auto& r : ranges) {
        std::sort(r.begin(), r.end());
        for (size_t j = 1; j < r.size(); ++j) EXPECT_LE(r[j - 1].second, r[j].first) << "slot ranges overlap";
    }
}

}  // namespace

TEST(VramPlan, EverythingFitsIsAllResident) {
    auto in = llama_input(4, 256, uint64(1) << 30, 1 << 20);
    auto p = plan_vram(in);
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_EQ(p->slots, 0u);
    EXPECT_EQ(p->streamed_weight_bytes, 0u);
    EXPECT_EQ(p->resident_layers, 4u);
    check_plan_invariants(in, *p);
}

TEST(VramPlan, TightBudgetStreamsTheRestAndKeepsTheBudget) {
    auto in = llama_input(8, 512, 0, 1 << 20);
    // Find the minimum, then budgets between it and "everything".
    in.budget_bytes = 1;
    auto e = plan_vram(in);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, ErrorCode::BudgetTooSmall);
    EXPECT_NE(e.error().message.find("minimum"), std::string::npos) << e.error().message;
    in.budget_bytes = uint64(1) << 40;
    auto all = plan_vram(in);
    ASSERT_TRUE(all);
    const uint64 min = all->minimum_budget_bytes, everything = all->device_bytes;
    ASSERT_LT(min, everything);
    in.budget_bytes = min - 1;
    EXPECT_FALSE(plan_vram(in)) << "one byte below the minimum is refused";
    uint64 last_resident = 0;
    for (int k = 0; k <= 8; ++k) {
        in.budget_bytes = min + (everything - 1 - min) * k / 8;
        auto p = plan_vram(in);
        ASSERT_TRUE(p) << p.error().to_string();
        EXPECT_GT(p->slots, 0u);
        check_plan_invariants(in, *p);
        EXPECT_GE(p->resident_weight_bytes, last_resident) << "more budget never keeps fewer bytes resident";
        last_resident = p->resident_weight_bytes;
        if (k == 0) {
            EXPECT_LT(p->resident_weight_bytes, weight_bytes(in) / 8);
        }
    }
    EXPECT_GT(last_resident, weight_bytes(in) / 2) << "a budget just below everything keeps most weights resident";
}

TEST(VramPlan, ForceStreamingStreamsEveryMatrix) {
    auto in = llama_input(3, 256, uint64(1) << 30, 0);
    in.force_streaming = true;
    auto p = plan_vram(in);
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_EQ(p->slots, 2u);
    for (size_t i = 0; i < in.tensors.size(); ++i) EXPECT_EQ(p->tensors[i].resident, in.tensors[i].norm);
    check_plan_invariants(in, *p);
}

TEST(VramPlan, LargeMatricesAreSplitIntoPiecesWithinTheRange) {
    auto in = llama_input(2, 1024, uint64(1) << 30, 0);
    in.max_piece_bytes = 256 * 1024 * 2 / 4;  // 64 rows of 2 KiB... rounded to whole rows
    in.force_streaming = true;
    auto p = plan_vram(in);
    ASSERT_TRUE(p) << p.error().to_string();
    check_plan_invariants(in, *p);
    EXPECT_GT(p->tensors[1].pieces.size(), 1u);
}

// ---- The backend on the Vulkan device ----

namespace {

double tolerance(const test::ReferenceCase& r) { return r.tolerance(); }

std::unique_ptr<VulkanBackend> make_backend(uint64 budget, bool force_streaming, int32 cpu_layers = -1, uint32 slots = 0,
                                            VulkanOptions::PromptUpload prompt_upload = VulkanOptions::PromptUpload::Auto,
                                            VulkanOptions::HybridSplit split = VulkanOptions::HybridSplit::Layers, int32 cpu_heads = -1,
                                            VulkanOptions::PromptUpload rows_upload = VulkanOptions::PromptUpload::Auto,
                                            VulkanOptions::RowsHead rows_head = VulkanOptions::RowsHead::Auto) {
    VulkanOptions o;
    o.rows_upload = rows_upload;
    o.rows_head = rows_head;
    o.hybrid_split = split;
    o.hybrid_cpu_heads = cpu_heads;
    o.prompt_upload = prompt_upload;
    o.stream_slots = slots;
    o.hybrid_cpu_layers = cpu_layers;
    o.cpu_threads = 2;
    o.enable_validation = test::validation_wanted();
    o.kv_f16_rounding = true;
    o.vram_budget_bytes = budget;
    o.force_streaming = force_streaming;
    o.copy_threads = 2;
    auto be = VulkanBackend::create(o);
    EXPECT_TRUE(be) << be.error().to_string();
    return be ? std::move(*be) : nullptr;
}

// A budget (steps of 1.25x from 64 KiB) whose plan keeps at least a third of the weights
// resident and streams the rest (or the last one with any resident weights). When a step goes
// from nothing resident straight to everything resident (a model of few small layers beside
// large activations, e.g. arch-llama31's 537-token batch), the budgets between the two are
// bisected. 0 when no budget has both (e.g. the output matrix alone is as large as all layers).
uint64 partial_budget(WeightProvider& w, uint32 n_ctx, uint32 n_batch) {
        // -1: no plan at this budget; 0: everything resident; 1: all streamed; 2: part resident, part streamed.
    auto kind = [&](uint64 b, bool& enough) -> int {
        auto be = make_backend(b, false);
        // A plan that moved KV caches to RAM (to give weights the VRAM) is not the one wanted here.
        if (!be || !be->prepare(w, n_ctx, n_batch) || be->kv_placement().any_in_ram()) return -1;
        const VramPlan& p = be->plan();
        enough = p.resident_weight_bytes * 2 >= p.streamed_weight_bytes;
        return p.slots == 0 ? 0 : p.resident_weight_bytes > 0 ? 2 : 1;
    };
    uint64 partial = 0, below = 0;  // below: the largest budget seen without everything resident
    for (double b = 64 * 1024; b < double(uint64(1) << 31); b *= 1.25) {
        bool enough = false;
        const int k = kind(uint64(b), enough);
        if (k == 2) partial = uint64(b);
        if (k == 2 && enough) return partial;
        if (k != 0) {
            below = uint64(b);
            continue;
        }
        for (uint64 hi = uint64(b), i = 0; partial == 0 && i < 16; ++i) {
            const uint64 mid = below + (hi - below) / 2;
            const int km = kind(mid, enough);
            if (km == 2) partial = mid;
            else if (km == 0) hi = mid;
            else below = mid;
        }
        break;
    }
    return partial;
}

// Prompt as one batch, then 3 tokens one by one, checked against the reference.
void check_reference(VulkanBackend& be, WeightProvider& w, const test::ReferenceCase& ref) {
    const auto& toks = ref.prompt_tokens;
    const uint32 n = uint32(toks.size()), V = ref.n_vocab;
    auto p = be.prepare(w, n + 4, n);
    ASSERT_TRUE(p) << p.error().to_string();
    std::vector<float> logits(size_t(n) * V);
    ForwardRequest req{toks.data(), n, 0, true, logits.data()};
    auto f = be.forward(req);
    ASSERT_TRUE(f) << f.error().to_string();
    for (uint32 i = 0; i < n; ++i) {
        EXPECT_LT(test::nmse(logits.data() + size_t(i) * V, ref.logits_at(i), V), tolerance(ref)) << ref.name << " position " << i;
        if (ref.decisive(i)) {
            EXPECT_EQ(test::argmax(logits.data() + size_t(i) * V, V), test::argmax(ref.logits_at(i), V));
        }
    }
    // Token by token over the first positions again (KV cache rewritten in place).
    for (uint32 i = 0; i < std::min<uint32>(n, 3); ++i) {
        ForwardRequest step{&toks[i], 1, i, false, logits.data()};
        ASSERT_TRUE(be.forward(step));
        EXPECT_LT(test::nmse(logits.data(), ref.logits_at(i), V), tolerance(ref)) << ref.name << " step " << i;
    }
}

// Every streamed byte crossed to the device once per forward (`forwards` of them), at most
// with the slot padding (staging copies whole padded pieces); the upload the last forward
// issued ahead for the next one is left out. A mixture of experts: of the streamed experts
// only the chosen ones (each into one of the slot's expert places, VramPlan::expert_places,
// expert_place_bytes each), every expert at most once per prompt batch (the forwards that are
// not `decodes`) and n_expert_used of each layer's in a decode step; with no expert cache
// (every expert streamed each time it is chosen) at least n_expert_used of each layer's.
void expect_streamed_once_per_forward(const VulkanBackend& be, const WeightProvider& w, uint64 forwards, uint64 decodes) {
    const VramPlan& p = be.plan();
    const ModelConfig& cfg = w.config();
    const uint64 streamed = be.weight_bytes_uploaded() - p.resident_weight_bytes - be.prepared_upload_bytes();
    const uint64 padded = std::accumulate(p.segment_stream_bytes.begin(), p.segment_stream_bytes.end(), uint64(0));
    if (!cfg.is_moe()) {
        EXPECT_LE(streamed, forwards * padded);
        EXPECT_GE(streamed, forwards * p.streamed_weight_bytes);
        return;
    }
    uint64 experts = 0;  // every expert matrix of the model
    for (const TensorDesc& t : w.registry().tensors()) experts += t.id.expert >= 0 ? t.byte_size : 0;
    EXPECT_GT(p.streamed_expert_bytes, 0u);
    ASSERT_EQ(p.expert_places, cfg.n_expert_used);
    const uint64 dense = p.streamed_weight_bytes - p.streamed_expert_bytes;
    const uint64 place = p.expert_place_bytes, places = uint64(cfg.n_layer) * p.expert_places * place;
    EXPECT_GE(streamed, forwards * dense);
    EXPECT_LE(streamed, forwards * (padded - places) + (forwards - decodes) * cfg.n_layer * cfg.n_expert * place + decodes * places);
    if (p.expert_cache_entries > 0) return;  // cached experts cross once, then never
    const uint64 chosen = experts / cfg.n_expert * cfg.n_expert_used;
    EXPECT_GE(streamed, forwards * (dense + chosen));
}

class VulkanStreaming : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(VulkanStreaming, EveryMatrixStreamedFromRamMatchesTheReference) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    auto w = FileWeightProvider::open(test::models_dir() / ref->model);
    ASSERT_TRUE(w);
    auto be = make_backend(0, true, 0);  // no CPU layers: every matrix crosses the bus
    ASSERT_TRUE(be);
    check_reference(*be, **w, *ref);
    EXPECT_GT(be->plan().slots, 0u);
    EXPECT_EQ(be->plan().resident_layers, 0u);
    EXPECT_GT(be->vram_misses(), 0u);
    // Every streamed byte went over the ring once per forward (1 batch + 3 steps), with
    // the slot padding when it goes through staging; plus, on a device with a transfer
    // queue, the next pass's first segment that the last forward already sent.
    if (be->device().has_transfer_queue() && be->zero_copy_streaming()) {
        EXPECT_GT(be->prepared_upload_bytes(), 0u);
    }
    expect_streamed_once_per_forward(*be, **w, 4, 3);
    // RAM-resident weights are copied by DMA from the provider's own pages where the device
    // can import host memory (lavapipe and NVIDIA can).
    EXPECT_EQ(be->zero_copy_streaming(), be->device().caps().external_memory_host);
}

// One slot (the automatic choice for DMA from RAM on a transfer queue): each upload waits
// for the previous layer's compute; same results, and the plan has exactly one slot.
TEST_P(VulkanStreaming, EveryMatrixStreamedThroughOneSlotMatchesTheReference) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    auto w = FileWeightProvider::open(test::models_dir() / ref->model);
    ASSERT_TRUE(w);
    auto be = make_backend(0, true, 0, 1);
    ASSERT_TRUE(be);
    check_reference(*be, **w, *ref);
    EXPECT_EQ(be->plan().slots, 1u);
    EXPECT_GT(be->vram_misses(), 0u);
}

// Prompt batches streamed by shader copies recorded between the weight kernels
// (StreamCopySchedule): one slot (each layer's copies land where the previous layer's weights
// were read, as soon as those kernels ran) and two, every matrix streamed and part resident.
TEST_P(VulkanStreaming, ShaderCopyPromptStreamingMatchesTheReference) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    if (!test::VulkanEnv::get()->dev->caps().external_memory_host) GTEST_SKIP() << "shader copies read imported host memory";
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    auto w = FileWeightProvider::open(test::models_dir() / ref->model);
    ASSERT_TRUE(w);
    const uint32 n = uint32(ref->prompt_tokens.size());
    const uint64 partial = partial_budget(**w, n + 4, n);
    for (uint32 slots : {1u, 2u})
        for (bool all : {true, false}) {
            if (!all && partial == 0) continue;
            SCOPED_TRACE(std::to_string(slots) + " slot(s), " + (all ? "every matrix streamed" : "part resident"));
            auto be = make_backend(all ? 0 : partial, all, 0, slots, VulkanOptions::PromptUpload::Shader);
            ASSERT_TRUE(be);
            check_reference(*be, **w, *ref);
            // A mixture of experts streams its prompts by DMA: its experts take turns in the slots'
            // expert places once routed (ShaderCopyStream::setup).
            EXPECT_EQ(be->shader_copy_streaming(), !(*w)->config().is_moe());
            EXPECT_GT(be->plan().streamed_weight_bytes, 0u);
            // The prompt pass copied every streamed byte once by shader, the 3 decode steps by DMA.
            expect_streamed_once_per_forward(*be, **w, 4, 3);
        }
}

TEST_P(VulkanStreaming, PartlyResidentFromPacksUnderATinyRamBudgetMatchesTheReference) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    const Path model = test::models_dir() / ref->model;
    const uint32 n = uint32(ref->prompt_tokens.size());
    auto fw = FileWeightProvider::open(model);
    ASSERT_TRUE(fw);
    const uint64 budget = partial_budget(**fw, n + 4, n);
    if (budget == 0) GTEST_SKIP() << "no budget between all-streamed and all-resident for " << ref->model;
    auto pw = test::tiny_pack_provider(model, 64, n);
    ASSERT_TRUE(pw);
    ASSERT_LT(pw->manager().pack_budget_bytes(), pw->registry().total_bytes());
    auto be = make_backend(budget, false);
    ASSERT_TRUE(be);
    check_reference(*be, *pw, *ref);
    std::printf("[ %s ] VRAM budget %llu bytes: %s\n", ref->name.c_str(), (unsigned long long)budget, be->plan().summary().c_str());
    EXPECT_GT(be->plan().resident_weight_bytes, 0u);
    EXPECT_GT(be->plan().streamed_weight_bytes, 0u);
    EXPECT_LE(be->device_memory_stats().bytes_reserved, budget);
    EXPECT_GT(pw->manager().get_ram_stats().evictions, 0u) << "packs streamed from disk under the RAM budget";
}

// Hybrid decode: streamed layers computed on the CPU (all of them, or one) between GPU
// layers. Prompt batch on the GPU, two decode steps (CPU layers need the GPU's KV rows),
// then a 2-token batch on the GPU again (GPU needs the CPU layers' new KV rows): every
// logit row within the reference tolerance.
TEST_P(VulkanStreaming, HybridDecodeWithCpuLayersMatchesTheReference) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    const auto& toks = ref->prompt_tokens;
    const uint32 n = uint32(toks.size()), V = ref->n_vocab;
    if (n < 6) GTEST_SKIP() << "prompt too short for batch / steps / batch";
    auto w = FileWeightProvider::open(test::models_dir() / ref->model);
    ASSERT_TRUE(w);
    // (CPU layers, slots): all on the CPU; one; two with two slots (on a device with a
    // transfer queue each CPU run then issues the uploads of the next two GPU layers).
    for (auto [cpu_layers, slots] : {std::pair<int32, uint32>{1000, 0}, {1, 0}, {2, 2}}) {
        auto be = make_backend(0, true, cpu_layers, slots);
        ASSERT_TRUE(be);
        ASSERT_TRUE(be->prepare(**w, n + 1, n));
        ASSERT_GT(be->hybrid_cpu_layers(), 0u);
        std::vector<float> logits(size_t(n) * V);
        auto check = [&](uint32 first, uint32 count, const char* what) {
            for (uint32 i = 0; i < count; ++i)
                EXPECT_LT(test::nmse(logits.data() + size_t(i) * V, ref->logits_at(first + i), V), tolerance(*ref))
                    << ref->name << " " << what << " position " << first + i << " with " << cpu_layers << " CPU layers, slots " << slots;
        };
        const uint32 a = n - 4;
        ASSERT_TRUE(be->forward(ForwardRequest{toks.data(), a, 0, true, logits.data()}));
        check(0, a, "batch");
        for (uint32 p = a; p < a + 2; ++p) {
            auto f = be->forward(ForwardRequest{&toks[p], 1, p, false, logits.data()});
            ASSERT_TRUE(f) << f.error().to_string();
            check(p, 1, "step");
        }
        ASSERT_TRUE(be->forward(ForwardRequest{&toks[a + 2], 2, a + 2, true, logits.data()}));
        check(a + 2, 2, "second batch");
        EXPECT_GT(be->hybrid_cpu_layer_runs(), 0u);
        EXPECT_GT(be->kv_sync_bytes(), 0u) << "KV rows crossed between the GPU and the CPU layers";
    }
}

// Hybrid decode, rows split (RowsSplit), every matrix streamed and part resident: a prompt
// batch on the GPU, two steps at the fewest CPU heads, one with one more (its KV rows come from
// the GPU), then a 2-token batch on the GPU (needing the CPU's KV rows): every logit row within
// the reference tolerance, and a decode step uploads only the GPU's rows.
TEST_P(VulkanStreaming, HybridRowsSplitMatchesTheReference) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    VKS_SKIP_IF_VULKAN_CANNOT_RUN(GetParam());
    if (!test::VulkanEnv::get()->dev->caps().external_memory_host) GTEST_SKIP() << "the rows split streams from imported host memory";
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    const auto& toks = ref->prompt_tokens;
    const uint32 n = uint32(toks.size()), V = ref->n_vocab;
    if (n < 7) GTEST_SKIP() << "prompt too short for batch / steps / batch";
    auto w = FileWeightProvider::open(test::models_dir() / ref->model);
    ASSERT_TRUE(w);
    const uint64 partial = partial_budget(**w, n + 1, n);
    // A budget whose plan keeps the head resident while layers stream (the last split segment
    // is then a layer, whose exchanges copy the next step's first rows): 0 when none is found.
    uint64 head_resident = 0;
    for (double b = 64 * 1024; b < double(uint64(1) << 31) && head_resident == 0; b *= 1.05) {
        auto probe = make_backend(uint64(b), false, -1, 0, VulkanOptions::PromptUpload::Auto, VulkanOptions::HybridSplit::Rows, 0,
                                  VulkanOptions::PromptUpload::Shader);
        if (!probe || !probe->prepare(**w, n + 1, n) || probe->kv_placement().any_in_ram()) continue;
        if (probe->plan().slots == 0) break;
        if (probe->hybrid_rows() && probe->plan().segment_stream_bytes.back() == 0) head_resident = uint64(b);
    }
    using PU = VulkanOptions::PromptUpload;
    using RH = VulkanOptions::RowsHead;
    struct Config {
        bool all;       // every matrix streamed (else: part resident under `budget`)
        uint64 budget;
        PU upload;
        RH head;        // a streamed head: all on the CPU or split (Auto: on the CPU with shader copies)
    };
    for (const Config cf : {Config{true, 0, PU::Dma, RH::Auto}, Config{true, 0, PU::Shader, RH::Split}, Config{true, 0, PU::Shader, RH::Auto},
                            Config{false, partial, PU::Dma, RH::Cpu}, Config{false, partial, PU::Shader, RH::Auto},
                            Config{false, head_resident, PU::Shader, RH::Auto}}) {
        const bool all = cf.all;
        const uint64 budget = cf.budget;
        const PU upload = cf.upload;
        if (!all && budget == 0) continue;
        SCOPED_TRACE(std::string(all ? "every matrix streamed" : "part resident, budget " + std::to_string(budget)) + (upload == PU::Shader ? ", shader copies" : ", DMA") +
                     (cf.head == RH::Cpu ? ", head on the CPU" : cf.head == RH::Split ? ", head split" : ""));
        auto be = make_backend(budget, all, -1, 0, PU::Auto, VulkanOptions::HybridSplit::Rows, 0, upload, cf.head);
        ASSERT_TRUE(be);
        ASSERT_TRUE(be->prepare(**w, n + 1, n));
        EXPECT_EQ(be->hybrid_rows_shader_copies(), be->hybrid_rows() && upload == PU::Shader);
        const bool head_streamed = be->plan().segment_stream_bytes.back() > 0;
        EXPECT_EQ(be->hybrid_head_on_cpu(), be->hybrid_rows() && head_streamed && (cf.head == RH::Cpu || (cf.head == RH::Auto && upload == PU::Shader)));
        ASSERT_NE(be->hybrid_cpu(), nullptr);
        EXPECT_EQ(be->hybrid_cpu()->matvec_prefetch_bytes(), 0u) << "beside the bus's copies: no software prefetch (VulkanOptions)";
        EXPECT_TRUE(be->hybrid_cpu()->matvec_batch());
        const uint32 G = (*w)->config().n_head_kv;
        if ((*w)->config().is_moe()) {  // its layers split whole (HybridDecodeWithCpuLayersMatchesTheReference)
            EXPECT_FALSE(be->hybrid_rows()) << "the rows split has no expert kernels";
            continue;
        }
        if (!be->hybrid_rows()) {
            EXPECT_GE(be->hybrid_min_cpu_heads(), G - 1) << "rows split refused although the GPU rows could fit half a slot";
            continue;
        }
        const uint32 m0 = be->hybrid_min_cpu_heads();
        ASSERT_LT(m0, G);
        std::printf("[ %s ] %s: rows split from %u of %u KV heads on the CPU; %s\n", ref->name.c_str(), all ? "all streamed" : "part resident", m0, G,
                    be->plan().summary().c_str());
        EXPECT_EQ(be->hybrid_cpu_heads(), m0) << "a fixed share below the minimum is raised to it";
        std::vector<float> logits(size_t(n) * V);
        auto check = [&](uint32 first, uint32 count, const std::string& what) {
            for (uint32 i = 0; i < count; ++i)
                EXPECT_LT(test::nmse(logits.data() + size_t(i) * V, ref->logits_at(first + i), V), tolerance(*ref))
                    << ref->name << " " << what << " position " << first + i << " with " << be->hybrid_cpu_heads() << " of " << G << " KV heads on the CPU";
        };
        const uint32 a = n - 5;
        ASSERT_TRUE(be->forward(ForwardRequest{toks.data(), a, 0, true, logits.data()}));
        check(0, a, "batch");
        const uint64 up0 = be->weight_bytes_uploaded() - be->prepared_upload_bytes();
        for (uint32 p = a; p < a + 2; ++p) {
            auto f = be->forward(ForwardRequest{&toks[p], 1, p, false, logits.data()});
            ASSERT_TRUE(f) << f.error().to_string();
            check(p, 1, "step");
        }
        const uint64 step_bytes = be->weight_bytes_uploaded() - up0;
        if (be->hybrid_rows_shader_copies()) {
            // When the last split segment is a layer (the head resident or all on the CPU), its
            // exchanges copy the next step's first split rows; a split head leaves them to a DMA
            // after the step.
            const bool last_is_layer = !head_streamed || be->hybrid_head_on_cpu();
            EXPECT_EQ(be->hybrid_rows_copied_ahead(), last_is_layer ? 1u : 0u) << "head streamed: " << head_streamed;
            std::printf("[ %s ] head %s: %llu step(s) began with rows copied ahead\n", ref->name.c_str(),
                        !head_streamed ? "resident" : be->hybrid_head_on_cpu() ? "on the CPU" : "split", (unsigned long long)be->hybrid_rows_copied_ahead());
        }
        EXPECT_GT(step_bytes, 0u);
        EXPECT_LT(step_bytes, 2 * be->plan().streamed_weight_bytes) << "a split step streams only the GPU's rows";
        EXPECT_GT(be->hybrid_cpu_weight_bytes(), 0u);
        const uint64 synced = be->kv_sync_bytes();
        EXPECT_GT(synced, 0u) << "the CPU's heads' KV rows came from the prompt pass on the GPU";
        if (m0 + 1 < G) {
            be->set_hybrid_cpu_heads(m0 + 1);
            auto f = be->forward(ForwardRequest{&toks[a + 2], 1, a + 2, false, logits.data()});
            ASSERT_TRUE(f) << f.error().to_string();
            EXPECT_EQ(be->hybrid_cpu_heads(), m0 + 1);
            check(a + 2, 1, "step after the split moved");
            EXPECT_GT(be->kv_sync_bytes(), synced) << "the KV rows of the head that moved to the CPU crossed";
        } else {
            auto f = be->forward(ForwardRequest{&toks[a + 2], 1, a + 2, false, logits.data()});
            ASSERT_TRUE(f) << f.error().to_string();
            check(a + 2, 1, "step");
        }
        ASSERT_TRUE(be->forward(ForwardRequest{&toks[a + 3], 2, a + 3, true, logits.data()}));
        check(a + 3, 2, "second batch");
        EXPECT_GT(be->hybrid_cpu_layer_runs(), 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, VulkanStreaming, ::testing::ValuesIn(test::list_reference_cases()), test::CaseName{});

TEST(VulkanStreamingGreedy, Stories260KGreedyTextUnchangedWithEveryMatrixStreamedFromPacks) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    auto ref = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(ref) << ref.error().to_string();
    const uint32 n = uint32(ref->prompt_tokens.size()), n_gen = uint32(ref->greedy_tokens.size()), V = ref->n_vocab;
    auto pw = test::tiny_pack_provider(test::models_dir() / ref->model, 64, n);
    ASSERT_TRUE(pw);
    auto be = make_backend(0, true);
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(*pw, n + n_gen, n));
    std::vector<float> logits(V);
    ForwardRequest req{ref->prompt_tokens.data(), n, 0, false, logits.data()};
    ASSERT_TRUE(be->forward(req));
    std::vector<uint32> got;
    for (uint32 i = 0; i < n_gen; ++i) {
        uint32 t = uint32(test::argmax(logits.data(), V));
        got.push_back(t);
        if (i + 1 == n_gen) break;
        ForwardRequest step{&t, 1, n + i, false, logits.data()};
        auto f = be->forward(step);
        ASSERT_TRUE(f) << f.error().to_string();
    }
    EXPECT_EQ(got, ref->greedy_tokens);
    // The adaptive hybrid split (the oracle's ComputeSplit) moved layers between CPU and GPU
    // during these steps, and the tokens above stayed the reference's.
    ASSERT_NE(be->hybrid_split(), nullptr);
    EXPECT_GT(be->hybrid_split()->changes(), 0u);
    EXPECT_GT(be->hybrid_cpu_layer_runs(), 0u);
}

// A generated f32 model ~4x the VRAM budget and ~3x the RAM budget: peak device memory
// (the allocator's reserved bytes) stays under --vram-gb, and RSS growth under RAM budget +
// VRAM budget (on lavapipe device memory is process memory) + the stated fixed overhead.
TEST(VulkanStreamingBudget, GeneratedModelSeveralTimesBothBudgetsStaysUnderThem) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    ModelShape shape;
    shape.name = "vk-budget-test";
    shape.n_vocab = 4096;
    shape.n_embd = 512;
    shape.n_layer = 20;
    shape.n_head = 8;
    shape.n_head_kv = 4;
    shape.n_ff = 1536;
    shape.n_ctx = 64;
    const uint64 vram = uint64(56) << 20, ram = uint64(72) << 20;
    const uint64 model_bytes = generated_model_bytes(shape, DType::F32);
    ASSERT_GT(model_bytes, 3 * ram);
    auto path = generate_model(shape, DType::F32, test::tmp_dir() / "vk-budget.gguf", 11);
    ASSERT_TRUE(path) << path.error().to_string();
    const uint32 n_ctx = 16, n_batch = 4;

    auto be = make_backend(vram, false);
    ASSERT_TRUE(be);
    {
        // Warm-up on a small f32 model: lavapipe compiles the pipelines (LLVM) on first use;
        // that driver memory is not the engine's.
        auto w = FileWeightProvider::open(test::models_dir() / "syn-f32.gguf");
        ASSERT_TRUE(w);
        ASSERT_TRUE(be->prepare(**w, 8, 4));
        std::vector<uint32> t = {1, 2, 3};
        std::vector<float> lg((*w)->config().n_vocab * 3);
        ASSERT_TRUE(be->forward(ForwardRequest{t.data(), 3, 0, true, lg.data()}));
        ASSERT_TRUE(be->forward(ForwardRequest{t.data(), 1, 3, false, lg.data()}));
    }
    PackOptions o;
    o.ram_budget_bytes = ram;
    o.max_pack_bytes = uint64(2) << 20;
    ASSERT_TRUE(reset_peak_rss());
    auto before = read_process_memory();
    ASSERT_TRUE(before);
    {
        auto fw = FileWeightProvider::open(*path);  // header only (acquire loads)
        ASSERT_TRUE(fw);
        o.activation_kv_bytes = VulkanBackend::host_bytes_estimate(**fw, 64, n_batch, 0);  // lavapipe is loaded and warm before the baseline
    }
    auto pw = PackWeightProvider::open(*path, o);
    ASSERT_TRUE(pw) << pw.error().to_string();
    auto p = be->prepare(**pw, n_ctx, n_batch);
    ASSERT_TRUE(p) << p.error().to_string();
    std::printf("[ budget ] %s\n", be->plan().summary().c_str());
    ASSERT_GT(be->plan().slots, 0u);
    std::vector<uint32> prompt = {1, 300, 301, 302};
    std::vector<float> logits(shape.n_vocab);
    auto f = be->forward(ForwardRequest{prompt.data(), 4, 0, false, logits.data()});
    ASSERT_TRUE(f) << f.error().to_string();
    for (uint32 i = 0; i < 2; ++i) {
        uint32 tok = uint32(test::argmax(logits.data(), shape.n_vocab));
        f = be->forward(ForwardRequest{&tok, 1, 4 + i, false, logits.data()});
        ASSERT_TRUE(f) << f.error().to_string();
    }
    for (float x : logits) ASSERT_TRUE(std::isfinite(x));
    const uint64 peak_vram = be->device_memory_stats().bytes_reserved;
    auto after = read_process_memory();
    ASSERT_TRUE(after);
    const uint64 growth = after->peak_rss_bytes > before->rss_bytes ? after->peak_rss_bytes - before->rss_bytes : 0;
    std::printf("[ budget ] model %.1f MB; VRAM peak %.1f MB (budget %.1f MB); RSS growth %.1f MB (limit %.1f MB); streamed %.1f MB\n",
                model_bytes / 1e6, peak_vram / 1e6, vram / 1e6, growth / 1e6, (ram + vram + PackWeightProvider::kFixedOverheadBytes) / 1e6,
                be->weight_bytes_uploaded() / 1e6);
    EXPECT_LE(peak_vram, vram);
    if (!test::kAddressSanitizer) {  // ASan's shadow memory and quarantine are RSS too
        EXPECT_LE(growth, ram + vram + PackWeightProvider::kFixedOverheadBytes);
    }
    EXPECT_GT(be->weight_bytes_uploaded(), model_bytes) << "the prompt pass streams what is not resident, decode the GPU layers' share";
    be.reset();
    pw->reset();
    std::filesystem::remove(*path);
}

TEST(VulkanStreamingFailure, ModelTruncatedWhileRunningIsAClearErrorNotAHang) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    const Path copy = test::tmp_dir() / "vk-truncate-stories.gguf";
    std::filesystem::copy_file(test::models_dir() / "stories260K.gguf", copy, std::filesystem::copy_options::overwrite_existing);
    auto pw = test::tiny_pack_provider(copy, 64, 8);
    ASSERT_TRUE(pw);
    auto be = make_backend(0, true);
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(*pw, 16, 8));
    std::vector<uint32> toks = {1, 403, 407, 260};
    std::vector<float> logits(pw->config().n_vocab);
    ASSERT_TRUE(be->forward(ForwardRequest{toks.data(), 4, 0, false, logits.data()}));
    std::filesystem::resize_file(copy, std::filesystem::file_size(copy) / 2);
    bool failed = false;
    for (uint32 i = 0; i < 3 && !failed; ++i) {
        auto f = be->forward(ForwardRequest{&toks[0], 1, 4 + i, false, logits.data()});
        if (!f) {
            failed = true;
            EXPECT_NE(f.error().message.find("vk-truncate-stories.gguf"), std::string::npos) << f.error().message;
        }
    }
    EXPECT_TRUE(failed) << "reads past the truncated end must fail";
    // The backend stays usable for error reporting: another forward fails cleanly too.
    EXPECT_FALSE(be->forward(ForwardRequest{&toks[0], 1, 5, false, logits.data()}));
    be.reset();
    pw.reset();
    std::filesystem::remove(copy);
}

// ---- Stream timeline (profiling) ----

TEST(StreamOverlap, UnionsAndIntersectionOfUploadAndComputeIntervals) {
    auto span = [](StreamSpan::Kind k, uint64 a, uint64 b) {
        StreamSpan s;
        s.kind = k;
        s.start_ns = a;
        s.end_ns = b;
        return s;
    };
    using K = StreamSpan;
    // Uploads [0,10) [10,20) [40,50); compute [5,15) [12,30) (overlapping submissions merge).
    const std::vector<StreamSpan> t = {span(K::Upload, 0, 10), span(K::Compute, 5, 15), span(K::Upload, 10, 20), span(K::Compute, 12, 30),
                                       span(K::Upload, 40, 50)};
    const StreamOverlap o = stream_overlap(t);
    EXPECT_EQ(o.uploads, 3u);
    EXPECT_EQ(o.computes, 2u);
    EXPECT_EQ(o.span_ns, 50u);
    EXPECT_EQ(o.upload_ns, 30u);   // [0,20) + [40,50)
    EXPECT_EQ(o.compute_ns, 25u);  // [5,30)
    EXPECT_EQ(o.both_ns, 15u);     // [5,20)
    EXPECT_EQ(stream_overlap({}).span_ns, 0u);
    // Serial (no overlap at all): both = 0.
    const StreamOverlap s = stream_overlap({span(K::Upload, 0, 8), span(K::Compute, 8, 14), span(K::Upload, 14, 22)});
    EXPECT_EQ(s.both_ns, 0u);
    EXPECT_EQ(s.upload_ns + s.compute_ns, s.span_ns);
}

TEST(VulkanStreamTimeline, ProfilingRecordsOneComputeIntervalPerSubmissionAndTheUploads) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    auto ref = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(ref) << ref.error().to_string();
    auto w = FileWeightProvider::open(test::models_dir() / ref->model);
    ASSERT_TRUE(w);
    VulkanOptions o;
    o.hybrid_cpu_layers = 0;
    o.force_streaming = true;
    o.kernel_profiling = true;
    // The timeline of DMA uploads (shader-copy prompt passes, the default on NVIDIA, have none).
    o.prompt_upload = VulkanOptions::PromptUpload::Dma;
    o.enable_validation = test::validation_wanted();
    auto be = VulkanBackend::create(o);
    ASSERT_TRUE(be) << be.error().to_string();
    const auto& toks = ref->prompt_tokens;
    const uint32 n = uint32(toks.size());
    ASSERT_TRUE((*be)->prepare(**w, n + 1, n));
    std::vector<float> logits(ref->n_vocab);
    ASSERT_TRUE((*be)->forward(ForwardRequest{toks.data(), n, 0, false, logits.data()}));
    const auto& tl = (*be)->stream_timeline();
    const uint32 streamed = (*be)->streamed_layer_count();
    ASSERT_GT(streamed, 0u);
    uint32 uploads = 0, computes = 0;
    uint64 upload_bytes = 0;
    for (const auto& s : tl) {
        EXPECT_GE(s.end_ns, s.start_ns);
        if (s.kind == StreamSpan::Upload) {
            ++uploads;
            upload_bytes += s.bytes;
        } else {
            ++computes;
        }
    }
    // A submission per streamed segment at least (layers + the output head).
    EXPECT_GE(computes, streamed);
    if ((*be)->device().has_transfer_queue()) {
        // Every streamed segment's upload ran on the transfer queue and was timed.
        EXPECT_EQ(uploads, streamed + 1);
        EXPECT_GE(upload_bytes, (*be)->plan().streamed_weight_bytes);
    } else {
        EXPECT_EQ(uploads, 0u) << "uploads are recorded inside the compute submissions";
    }
    const StreamOverlap ov = stream_overlap(tl);
    EXPECT_LE(ov.compute_ns, ov.span_ns);
    EXPECT_GT(ov.compute_ns, 0u);
    // Without profiling there is no timeline.
    VulkanOptions q = o;
    q.kernel_profiling = false;
    auto be2 = VulkanBackend::create(q);
    ASSERT_TRUE(be2);
    ASSERT_TRUE((*be2)->prepare(**w, n + 1, n));
    ASSERT_TRUE((*be2)->forward(ForwardRequest{toks.data(), n, 0, false, logits.data()}));
    EXPECT_TRUE((*be2)->stream_timeline().empty());
}

// HardwareTelemetry fed at run time: every hybrid CPU layer run is a CPU sample (bytes over
// its compute time, so the rate is at least the layers' bytes over the CPU seconds the
// backend reports, which also hold the KV syncs), the prompt pass a GPU sample and, streamed
// by shader copies, a host->device sample. A re-prepare starts the split search from the
// measured rates; a fresh backend from the peaks it was given.
TEST(VulkanTelemetry, HybridRunFeedsTheRatesAndSeedsTheSplit) {
    if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
    if (!test::VulkanEnv::get()->dev->caps().external_memory_host) GTEST_SKIP() << "shader copies read imported host memory";
    auto ref = test::load_reference_case("syn-f16");
    ASSERT_TRUE(ref) << ref.error().to_string();
    auto w = FileWeightProvider::open(test::models_dir() / ref->model);
    ASSERT_TRUE(w);
    const auto& toks = ref->prompt_tokens;
    const uint32 n = uint32(toks.size()), V = ref->n_vocab;
    auto be = make_backend(0, true, 1, 0, VulkanOptions::PromptUpload::Shader);
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(**w, n + 4, n));
    EXPECT_EQ(be->telemetry_samples(TelemetryMeter::Rate::CpuWeight), 0u);
    std::vector<float> logits(size_t(n) * V);
    ASSERT_TRUE(be->forward(ForwardRequest{toks.data(), n, 0, false, logits.data()}));
    for (uint32 p = 0; p < 3; ++p) ASSERT_TRUE(be->forward(ForwardRequest{&toks[p], 1, n + p, false, logits.data()}));
    EXPECT_EQ(be->telemetry_samples(TelemetryMeter::Rate::CpuWeight), be->hybrid_cpu_layer_runs());
    const HardwareTelemetry t = be->telemetry();
    EXPECT_GT(t.cpu_weight_bps, 0.0);
    EXPECT_GE(t.cpu_weight_bps * 1.0001, double(be->hybrid_cpu_weight_bytes()) / be->hybrid_cpu_seconds());
    if (be->device().caps().timestamp_valid_bits > 0) {
        EXPECT_GE(be->telemetry_samples(TelemetryMeter::Rate::GpuWeight), 1u) << "the prompt pass had no CPU layer";
        EXPECT_GT(t.gpu_weight_bps, 0.0);
        EXPECT_GE(be->telemetry_samples(TelemetryMeter::Rate::HostToDevice), 1u) << "the shader-copy prompt pass";
        EXPECT_GT(t.host_to_device_bps, 0.0);
    }
    // Re-prepare with the measured search (hybrid_cpu_layers -1 needs a fresh backend; the
    // telemetry is the backend's): a second backend given peaks starts from those.
    const uint32 S = be->streamed_layer_count();
    auto fresh = make_backend(0, true, -1, 0, VulkanOptions::PromptUpload::Shader);
    ASSERT_TRUE(fresh);
    fresh->set_peaks(3e9, 1e9);
    ASSERT_TRUE(fresh->prepare(**w, n + 4, n));
    EXPECT_EQ(fresh->hybrid_cpu_layers(), ComputeSplit::initial_cpu_layers(S, 3e9, 1e9));
    EXPECT_EQ(fresh->hybrid_cpu_layers(), (S * 3 + 2) / 4) << "3 : 1 CPU : bus";
    ASSERT_TRUE(fresh->forward(ForwardRequest{toks.data(), n, 0, false, logits.data()}));
    for (uint32 p = 0; p < 3; ++p) ASSERT_TRUE(fresh->forward(ForwardRequest{&toks[p], 1, n + p, false, logits.data()}));
    const HardwareTelemetry m = fresh->telemetry();
    ASSERT_TRUE(fresh->prepare(**w, n + 4, n));
    const double bus = m.host_to_device_bps > 0 ? m.host_to_device_bps : 1e9;
    const double cpu = m.cpu_weight_bps > 0 ? m.cpu_weight_bps : 3e9;
    EXPECT_EQ(fresh->hybrid_cpu_layers(), ComputeSplit::initial_cpu_layers(S, cpu, bus)) << "measured rates replace the peaks";
}
