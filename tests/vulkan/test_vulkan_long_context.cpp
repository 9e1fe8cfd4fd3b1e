// Long contexts under a VRAM budget too small for the KV caches (KvPlacement, HostAttention):
// the caches that do not fit go to RAM by layer and the host computes those layers' attention,
// prompts and decode alike. On syn-f16 (3 layers, 2 KV heads), a context of 4,608 positions:
// a random prompt longer than 4,096 positions with every cache in RAM, and a shorter one with
// part of them in RAM (GPU and host attention in one pass; shorter because lavapipe's
// attention kernel over thousands of positions takes tens of seconds on a CI core); the logits
// past position 4,096 (the short run: every position) and of decode steps after the prompt
// equal the all-resident CPU path's within the reference tolerance, and the budgets hold.
// Split-K decode attention (SplitKAttention, --attn-split-k) past position 4,096: every cache in
// VRAM, and layer 0's in VRAM with the others in RAM; its merge dispatches are counted.
// Prompt batches of RAM-cache layers attend on the GPU over the cache streamed in chunks
// (StreamedKvAttention, --ram-kv-prompt gpu: batches of 2 rows or more; auto: of 32 or more,
// on a GPU; counted per row and layer), for f16 and f32 caches, or on the host (cpu, and auto on
// a CPU device such as lavapipe); decode rows on the host.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "VulkanTestEnv.h"
#include "backend/cpu/CpuBackend.h"
#include "backend/vulkan/SplitKAttention.h"
#include "backend/vulkan/StreamedKvAttention.h"
#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "memory/MemoryStats.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

namespace vk_symbiote {

namespace {

constexpr uint32 kCtx = 4608, kBatch = 512, kSteps = 3;

std::vector<uint32> long_prompt(uint32 n, uint32 vocab) {
    std::mt19937 g(24);
    std::vector<uint32> t(n);
    t[0] = 1;  // BOS
    for (uint32 i = 1; i < n; ++i) t[i] = 3 + g() % (vocab - 3);
    return t;
}

// The prompt toks in batches of kBatch (every row's logits), then kSteps decode tokens one by
// one. Returns the logit rows of positions >= from, then those of the steps: (rows, n_vocab).
std::vector<float> run(Backend& be, const std::vector<uint32>& toks, uint32 V, uint32 from) {
    std::vector<float> out, logits(size_t(kBatch) * V);
    const uint32 n = uint32(toks.size());
    for (uint32 pos = 0; pos < n; pos += kBatch) {
        const uint32 m = std::min(kBatch, n - pos);
        auto f = be.forward(ForwardRequest{toks.data() + pos, m, pos, true, logits.data()});
        EXPECT_TRUE(f) << f.error().to_string();
        if (!f) return {};
        for (uint32 i = 0; i < m; ++i)
            if (pos + i >= from) out.insert(out.end(), logits.begin() + size_t(i) * V, logits.begin() + size_t(i + 1) * V);
    }
    for (uint32 s = 0; s < kSteps; ++s) {
        auto f = be.forward(ForwardRequest{&toks[100 + s], 1, n + s, false, logits.data()});
        EXPECT_TRUE(f) << f.error().to_string();
        if (!f) return {};
        out.insert(out.end(), logits.begin(), logits.begin() + V);
    }
    return out;
}

// How a backend runs: stream: every matrix streamed (VulkanOptions::force_streaming), as at 7B
// under 4 GiB; split_k: VulkanOptions::attn_split_k (0: off); ram_kv: --ram-kv-prompt; kv_f16:
// f16 caches (else f32, against the CPU path's f32 cache).
struct RunMode {
    bool stream = false;
    uint32 split_k = VulkanOptions{}.attn_split_k;
    RamKvPrompt ram_kv = RamKvPrompt::Gpu;
    bool kv_f16 = true;
};

std::unique_ptr<VulkanBackend> make_backend(uint64 budget, bool stream = false, uint32 split_k = VulkanOptions{}.attn_split_k,
                                            RamKvPrompt ram_kv = RamKvPrompt::Auto, bool kv_f16 = true) {
    VulkanOptions o;
    o.ram_kv_prompt = ram_kv;
    o.force_streaming = stream;
    o.attn_split_k = split_k;
    o.cpu_threads = 2;
    o.copy_threads = 2;
    o.enable_validation = test::validation_wanted();
    o.kv_f16_rounding = kv_f16;
    o.vram_budget_bytes = budget;
    auto be = VulkanBackend::create(o);
    EXPECT_TRUE(be) << be.error().to_string();
    return be ? std::move(*be) : nullptr;
}

// The smallest budgets (steps of 1.25x from 256 KiB) whose plan puts some, and every, layer's
// cache in RAM: {some, all}; 0 where none was seen.
std::pair<uint64, uint64> kv_budgets(WeightProvider& w, bool stream = false, bool kv_f16 = true) {
    uint64 some = 0, all = 0;
    for (double b = 256 * 1024; b < double(uint64(1) << 30) && some == 0; b *= 1.25) {
        auto be = make_backend(uint64(b), stream, VulkanOptions{}.attn_split_k, RamKvPrompt::Auto, kv_f16);
        if (!be || !be->prepare(w, kCtx, kBatch)) continue;
        const uint32 ram = be->kv_placement().ram_layers;
        if (ram == w.config().n_layer && all == 0) all = uint64(b);
        if (ram > 0 && ram < w.config().n_layer) some = uint64(b);
        if (ram == 0) break;  // every cache fits from here on
    }
    return {some, all};
}


// The decode step at the end of toks ran split-K where split_k says: one merge dispatch more per
// layer whose attention the GPU computes than a step at position 0 (which never splits).
void check_split_k_dispatches(VulkanBackend& be, const ModelConfig& cfg, const std::vector<uint32>& toks, uint32 split_k) {
    const uint64 long_step = be.last_decode_recording().dispatches;
    std::vector<float> logits(cfg.n_vocab);
    ASSERT_TRUE(be.forward(ForwardRequest{&toks[1], 1, 0, false, logits.data()}));
    const uint32 gpu_layers = cfg.n_layer - be.kv_placement().ram_layers;
    const uint32 chunk = split_k_chunk_keys(split_k, kCtx);
    const bool splits = chunk > 0 && uint32(toks.size()) + kSteps > chunk;
    EXPECT_EQ(long_step, be.last_decode_recording().dispatches + (splits ? gpu_layers : 0)) << "split-K merges per GPU-attention layer";
}

// Lavapipe compiles each pipeline with LLVM on its first use and keeps the machine code in the
// process: one short run of a backend like the measured one first, so that the RSS growth
// checked below is the backend's own memory (caches, staging), not the driver's compiler.
// 600 tokens: prompt batches (the flash kernel), decode steps past a split-K chunk.
void warm_driver(WeightProvider& w, uint64 budget, const RunMode& mode) {
    auto be = make_backend(budget, mode.stream, mode.split_k, mode.ram_kv, mode.kv_f16);
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(w, kCtx, kBatch));
    const uint32 V = w.config().n_vocab;
    EXPECT_FALSE(run(*be, long_prompt(600, V), V, 599).empty());
}

// Prompt rows that attend on the GPU per RAM-cache layer for a prompt of n in batches of kBatch.
uint64 gpu_prompt_rows(uint32 n, RamKvPrompt how) {
    const bool cpu_device = test::VulkanEnv::get()->dev->caps().is_cpu;  // auto: the host's attention there
    const bool gpu = how == RamKvPrompt::Gpu || (how == RamKvPrompt::Auto && !cpu_device);
    uint64 rows = 0;
    for (uint32 pos = 0; pos < n; pos += kBatch) {
        const uint32 m = std::min(kBatch, n - pos);
        if (gpu && m >= (how == RamKvPrompt::Gpu ? 2u : kStreamMinRows)) rows += m;
    }
    return rows;
}

// Runs toks (then kSteps decode tokens) on the CPU path and on the Vulkan backend under
// `budget` (want_ram: some cache in RAM), compares the logit rows from position `from` on and
// checks the budgets, where split-K ran and where the RAM layers' prompt rows attended.
void check_long_context(WeightProvider& w, const test::ReferenceCase& ref, uint64 budget, uint32 n_prompt, uint32 from, bool want_ram = true,
                        const RunMode& mode = {}) {
    const bool stream = mode.stream;
    const uint32 V = w.config().n_vocab;
    const std::vector<uint32> toks = long_prompt(n_prompt, V);
    CpuBackend cpu(2, cpu::KernelPath::Auto, mode.kv_f16 ? KvPrecision::F16Rounded : KvPrecision::F32);
    ASSERT_TRUE(cpu.prepare(w, kCtx, kBatch));
    const std::vector<float> want = run(cpu, toks, V, from);
    ASSERT_EQ(want.size(), size_t(n_prompt - from + kSteps) * V);
    warm_driver(w, budget, mode);
    auto before = read_process_memory();
    ASSERT_TRUE(before);
    auto be = make_backend(budget, stream, mode.split_k, mode.ram_kv, mode.kv_f16);
    ASSERT_TRUE(be);
    auto p = be->prepare(w, kCtx, kBatch);
    ASSERT_TRUE(p) << p.error().to_string();
    const KvPlacement& kp = be->kv_placement();
    std::printf("[ long ctx ] VRAM budget %llu bytes: %s\n", (unsigned long long)budget, be->plan().summary().c_str());
    EXPECT_EQ(kp.ram_layers > 0, want_ram) << be->plan().summary();
    if (stream) {
        EXPECT_GT(be->plan().streamed_weight_bytes, 0u);
    }
    EXPECT_EQ(be->plan().summary().find("in RAM") != std::string::npos, want_ram) << "the INFO / stats line says where the KV cache lives";
    const std::vector<float> got = run(*be, toks, V, from);
    ASSERT_EQ(got.size(), want.size());
    for (size_t r = 0; r < got.size() / V; ++r)
        EXPECT_LT(test::nmse(got.data() + r * V, want.data() + r * V, V), ref.tolerance()) << "row " << r << " (position " << from + r << ")";
    EXPECT_EQ(be->host_attention_seconds() > 0.0, want_ram) << "the RAM layers' attention (decode, appends) ran on the host";
    EXPECT_EQ(be->ram_kv_gpu_rows(), gpu_prompt_rows(n_prompt, mode.ram_kv) * kp.ram_layers) << "RAM-cache prompt rows attended on the GPU";
    EXPECT_EQ(be->ram_kv_streamed_bytes() > 0, be->ram_kv_gpu_rows() > 0 && n_prompt > kBatch) << "cache rows streamed from RAM";
    const BackendStats st = be->stats();  // what --stats prints
    EXPECT_EQ(st.ram_kv_gpu_rows, be->ram_kv_gpu_rows());
    EXPECT_EQ(st.ram_kv_streamed_bytes, be->ram_kv_streamed_bytes());
    if (!stream) check_split_k_dispatches(*be, w.config(), toks, mode.split_k);  // (streamed: the hybrid split may move layers between steps)
    // Budgets: device memory under --vram-gb; the host caches within the RAM the engine counts
    // for the Vulkan path under --ram-gb (host_bytes_estimate); on lavapipe the device memory
    // is host RAM too.
    EXPECT_LE(be->device_memory_stats().bytes_reserved, budget);
    const uint64 host = VulkanBackend::host_bytes_estimate(w, kCtx, kBatch, 0);
    EXPECT_LE(kp.ram_bytes, host);
    auto after = read_process_memory();
    ASSERT_TRUE(after);
    const uint64 growth = after->rss_bytes > before->rss_bytes ? after->rss_bytes - before->rss_bytes : 0;
    EXPECT_LE(growth, host + budget + w.registry().total_bytes());
}

class VulkanLongContext : public ::testing::Test {
protected:
    void SetUp() override {
        if (!test::VulkanEnv::get()) GTEST_SKIP() << "no Vulkan device";
        auto ref = test::load_reference_case("syn-f16");
        ASSERT_TRUE(ref) << ref.error().to_string();
        ref_ = std::move(*ref);
        auto w = FileWeightProvider::open(test::models_dir() / ref_.model);
        ASSERT_TRUE(w);
        w_ = std::move(*w);
        budgets_ = kv_budgets(*w_);
    }
    test::ReferenceCase ref_;
    std::unique_ptr<FileWeightProvider> w_;
    std::pair<uint64, uint64> budgets_;  // {some caches in RAM, every cache in RAM}
};

}  // namespace

// Every cache in RAM (the smallest budget that runs, the streamed attention's scratch counted),
// 4,400 positions: prompt batches attend on the GPU over the caches streamed from RAM in chunks
// (5 chunks of 1,024 keys for the last batch), decode on the host; past position 4,096.
TEST_F(VulkanLongContext, EveryKvCacheInRamMatchesTheCpuPathPastPosition4096) {
    ASSERT_GT(budgets_.second, 0u) << "no budget puts every layer's KV cache in RAM";
    check_long_context(*w_, ref_, budgets_.second, 4400, 4096);
}

// The same with f32 caches (RAM rows of f32: the f32 variant of the streamed kernel) against the
// CPU path's f32 cache.
TEST_F(VulkanLongContext, F32CachesInRamStreamedToTheGpuMatchTheCpuPathPastPosition4096) {
    const uint64 all = kv_budgets(*w_, false, false).second;
    ASSERT_GT(all, 0u) << "no budget puts every layer's f32 KV cache in RAM";
    RunMode f32;
    f32.kv_f16 = false;
    check_long_context(*w_, ref_, all, 4400, 4096, true, f32);
}

// --ram-kv-prompt cpu: the host's attention for prompt batches too (no GPU rows); gpu: batches
// from 2 rows (a last batch of 8 rows) on the GPU; auto: from 32 rows on a GPU, none on a CPU device.
TEST_F(VulkanLongContext, RamKvPromptOptionChoosesWherePromptBatchesAttend) {
    ASSERT_GT(budgets_.second, 0u) << "no budget puts every layer's KV cache in RAM";
    RunMode m;
    m.ram_kv = RamKvPrompt::Cpu;
    check_long_context(*w_, ref_, budgets_.second, 1100, 0, true, m);
    m.ram_kv = RamKvPrompt::Gpu;
    check_long_context(*w_, ref_, budgets_.second, 1032, 1000, true, m);
    m.ram_kv = RamKvPrompt::Auto;  // the GPU on a GPU, the host on lavapipe
    check_long_context(*w_, ref_, budgets_.second, 600, 500, true, m);
}

// Layer 0's cache in VRAM (GPU attention), the others in RAM (host attention) in the same
// passes; every position of a 1,000-token prompt compared.
TEST_F(VulkanLongContext, PartOfTheKvCacheInRamMatchesTheCpuPath) {
    ASSERT_GT(budgets_.first, 0u) << "no budget puts part of the KV cache in RAM";
    check_long_context(*w_, ref_, budgets_.first, 1000, 0);
}

// Every matrix streamed through the ring (the 7B under 4 GiB case) and the caches in RAM: a
// layer's weights stay in their slot across the round trip to the host; decode steps use the
// upload a pass issues ahead for the next one.
TEST_F(VulkanLongContext, StreamedWeightsWithKvCachesInRamMatchTheCpuPath) {
    const auto [some, all] = kv_budgets(*w_, true);
    RunMode streamed;
    streamed.stream = true;
    ASSERT_GT(all, 0u) << "no budget streams the weights with the KV caches in RAM";
    check_long_context(*w_, ref_, all, 600, 0, true, streamed);
    if (some) check_long_context(*w_, ref_, some, 600, 0, true, streamed);
}

// Split-K decode attention past position 4,096 (the default chunks of 256 keys): every cache
// in VRAM (the paged KV pool: attention_splitk_paged), then layer 0's in VRAM and the others in
// RAM (contiguous caches: GPU split-K and host attention in one pass); a 4,400-token prompt (prompt batches keep a workgroup per head and row) and 3 decode
// steps, every row past position 4,096 against the all-resident CPU path.
TEST_F(VulkanLongContext, SplitKDecodeAttentionMatchesTheCpuPathPastPosition4096) {
    check_long_context(*w_, ref_, uint64(256) << 20, 4400, 4096, false);
    ASSERT_GT(budgets_.first, 0u) << "no budget puts part of the KV cache in RAM";
    check_long_context(*w_, ref_, budgets_.first, 4400, 4096);
}

// Below the minimum with every movable cache in RAM: refused, naming the minimum.
TEST_F(VulkanLongContext, BudgetBelowTheMinimumWithCachesInRamIsRefusedWithTheMinimum) {
    auto be = make_backend(64 * 1024);
    ASSERT_TRUE(be);
    auto p = be->prepare(*w_, kCtx, kBatch);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, ErrorCode::BudgetTooSmall);
    EXPECT_NE(p.error().to_string().find("minimum"), std::string::npos) << p.error().to_string();
}

// Each family's attention features with the caches in RAM (biases, Q / K head norms, soft-caps,
// partial rope, Llama 3.1's factors; sliding rings stay in VRAM): at the smallest budget that
// runs, every movable cache in RAM, the prompt in two batches attending on the GPU
// (--ram-kv-prompt gpu: the second over the first's rows streamed from RAM) and 3 decode steps
// on the host against llama.cpp's logits.
TEST_F(VulkanLongContext, FamiliesWithCachesInRamMatchTheReference) {
    for (const char* name : {"arch-qwen2", "arch-qwen3", "arch-gemma2", "arch-gemma3", "arch-phi3", "arch-llama31"}) {
        SCOPED_TRACE(name);
        auto ref = test::load_reference_case(name);
        ASSERT_TRUE(ref) << ref.error().to_string();
        auto w = FileWeightProvider::open(test::models_dir() / ref->model);
        ASSERT_TRUE(w);
        const uint32 n = uint32(ref->prompt_tokens.size()), V = ref->n_vocab;
        std::unique_ptr<VulkanBackend> be;
        for (double b = 64 * 1024; b < double(uint64(1) << 30) && !be; b *= 1.25) {
            be = make_backend(uint64(b), false, VulkanOptions{}.attn_split_k, RamKvPrompt::Gpu);
            if (be && !be->prepare(**w, kCtx, n)) be.reset();  // a context long enough that its caches weigh
        }
        ASSERT_TRUE(be);
        EXPECT_GT(be->kv_placement().ram_layers, 0u) << be->plan().summary();
        std::vector<float> logits(size_t(n) * V);
        const uint32 half = n / 2;
        auto f = be->forward(ForwardRequest{ref->prompt_tokens.data(), half, 0, true, logits.data()});
        ASSERT_TRUE(f) << f.error().to_string();
        f = be->forward(ForwardRequest{ref->prompt_tokens.data() + half, n - half, half, true, logits.data() + size_t(half) * V});
        ASSERT_TRUE(f) << f.error().to_string();
        EXPECT_EQ(be->ram_kv_gpu_rows(), uint64(n) * be->kv_placement().ram_layers) << "prompt rows attended on the GPU";
        for (uint32 i = 0; i < n; ++i) EXPECT_LT(test::nmse(logits.data() + size_t(i) * V, ref->logits_at(i), V), ref->tolerance()) << "position " << i;
        for (uint32 i = 0; i < 3; ++i) {  // token by token over the first positions again (caches rewritten in place)
            ASSERT_TRUE(be->forward(ForwardRequest{&ref->prompt_tokens[i], 1, i, false, logits.data()}));
            EXPECT_LT(test::nmse(logits.data(), ref->logits_at(i), V), ref->tolerance()) << "step " << i;
        }
    }
}

// The all-VRAM placement is unchanged where every cache fits: no host attention.
TEST_F(VulkanLongContext, CachesStayInVramWhileTheyFit) {
    auto be = make_backend(uint64(256) << 20);
    ASSERT_TRUE(be);
    ASSERT_TRUE(be->prepare(*w_, kCtx, kBatch));
    EXPECT_EQ(be->kv_placement().ram_layers, 0u);
    EXPECT_EQ(be->kv_placement().in_ram.size(), w_->config().n_layer);
    EXPECT_EQ(be->plan().summary().find("in RAM"), std::string::npos) << be->plan().summary();
}

}  // namespace vk_symbiote
