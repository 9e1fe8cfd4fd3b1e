// The benchmark's byte accounting on real runs of the engine (stories260K, public API):
// the compute tiers add up to the weight bytes the passes touched (counted independently
// from the tensor registry), disk bytes are what the engine's pack manager read, and a run
// with every weight resident moves no weight bytes over the bus or from disk.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <regex>

#include "bench/SpeculativeBench.h"
#include "bench/Workload.h"
#include "gguf/GGUFLoader.h"
#include "model/CopyCycle.h"
#include "model/LoadedModel.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "support/EngineRun.h"
#include "support/GreedyRun.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;
using namespace vk_symbiote::bench;

namespace {

Path model() { return test::models_dir() / "stories260K.gguf"; }

std::unique_ptr<TensorRegistry> registry() {
    auto g = GGUFLoader::open(model());
    EXPECT_TRUE(g) << g.error().to_string();
    auto cfg = ModelConfig::from_source(**g);
    EXPECT_TRUE(cfg) << cfg.error().to_string();
    auto reg = TensorRegistry::bind(*cfg, **g);
    EXPECT_TRUE(reg) << reg.error().to_string();
    return std::make_unique<TensorRegistry>(std::move(*reg));
}

Expected<std::unique_ptr<VulkanSymbioteEngine>> engine(std::vector<std::string> args, const Path& file = model()) {
    return test::make_engine(file, std::move(args), "bench-engine-cache");
}

ProbeResults probes() { return test::flat_probes(10); }

WorkloadOptions opts() {
    WorkloadOptions o;
    o.repetitions = 2;
    return o;
}

// The median sample (by tokens/s), as the accounting picks it.
const RunSample& median_sample(const WorkloadResult& w) {
    std::vector<const RunSample*> v;
    for (auto& s : w.samples) v.push_back(&s);
    std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->tokens_per_second < b->tokens_per_second; });
    return *v[v.size() / 2];
}

// vram + bus + ram per token x tokens = every tensor once per pass + one embedding row per token.
void expect_tiers_add_up(const WorkloadResult& w, const TensorRegistry& reg) {
    const RunSample& m = median_sample(w);
    const uint64 tokens = w.kind == "tg" ? m.forward_passes : m.tokens;  // par: the tokens its passes generated
    ASSERT_GT(tokens, 0u);
    uint64 per_pass = 0;
    for (const TensorDesc& d : reg.tensors())
        if (d.id.role != TensorRole::TokenEmbd) per_pass += d.byte_size;
    const double want = double(m.forward_passes * per_pass + tokens * reg.get({TensorRole::TokenEmbd, -1}).row_bytes()) / double(tokens);
    const Accounting& a = w.accounting;
    EXPECT_NEAR(a.vram.bytes_per_token + a.bus.bytes_per_token + a.ram.bytes_per_token, want, want * 1e-12) << w.name;
    EXPECT_NEAR(a.weight_bytes_per_token, want, want * 1e-12) << w.name;
    EXPECT_NEAR(a.disk.bytes_per_token * double(tokens), double(m.disk_bytes), 1e-6) << w.name;
}

// pp (an 8-token prompt), then tg (6 tokens) on `e`: the tiers add up, each sample's counters
// cover its timed span (tg: the passes after the first token, the prompt pass being TTFT; pp:
// the one pass of the 8-token prompt), then `check` on the workload.
void for_pp_and_tg(VulkanSymbioteEngine& e, const TensorRegistry& reg, const std::function<void(const WorkloadResult&)>& check) {
    for (bool tg : {false, true}) {
        auto w = tg ? run_generation(e, reg, 6, opts(), probes()) : run_prompt_processing(e, reg, 8, opts(), probes());
        ASSERT_TRUE(w) << w.error().to_string();
        expect_tiers_add_up(*w, reg);
        for (const RunSample& smp : w->samples) EXPECT_EQ(smp.forward_passes, tg ? smp.tokens - 1 : 1) << w->name;
        check(*w);
    }
}

}  // namespace

TEST(BenchEngineAccounting, CpuResidentRunReadsEverythingFromRamAndNothingFromDisk) {
    auto e = engine({"--disable-gpu"});
    ASSERT_TRUE(e) << e.error().to_string();
    auto reg = registry();
    for_pp_and_tg(**e, *reg, [](const WorkloadResult& w) {
        const Accounting& a = w.accounting;
        EXPECT_EQ(a.bus.bytes_per_token, 0) << w.name;
        EXPECT_EQ(a.vram.bytes_per_token, 0) << w.name;
        EXPECT_EQ(a.disk.bytes_per_token, 0) << w.name << ": weights are in RAM after the warm-up";
        EXPECT_GT(a.ram.bytes_per_token, 0) << w.name;
        EXPECT_EQ(a.non_resident.ceiling, "host_memory");
        EXPECT_DOUBLE_EQ(a.non_resident.bytes_per_token, a.ram.bytes_per_token);
        EXPECT_TRUE(w.kernels.empty());  // no GPU, no kernel times
    });
}

TEST(BenchEngineAccounting, PacksUnderATightBudgetReadFromDiskEveryToken) {
    // The smallest of these RAM budgets that the engine accepts streams packs with eviction.
    std::unique_ptr<VulkanSymbioteEngine> e;
    for (const char* mb : {"1.5", "2", "2.5", "3", "3.5", "4", "4.25", "4.5", "4.75", "5", "6", "8"}) {
        auto c = engine({"--disable-gpu", "--max-pack-mb", "0.0625", "--ram-gb", std::to_string(std::stod(mb) / 1024.0)});
        if (c) {
            e = std::move(*c);
            break;
        }
    }
    ASSERT_TRUE(e) << "no budget up to 8 MiB runs stories260K in packs";
    ASSERT_NE(e->describe().find("packs"), std::string::npos) << e->describe();
    auto reg = registry();
    auto w = run_generation(*e, *reg, 6, opts(), probes());
    ASSERT_TRUE(w) << w.error().to_string();
    expect_tiers_add_up(*w, *reg);
    const Accounting& a = w->accounting;
    EXPECT_EQ(a.bus.bytes_per_token, 0);
    EXPECT_GT(a.disk.bytes_per_token, 0) << "a budget below the model re-reads evicted packs";
    // The pack manager never reads more than the whole file per pass.
    const RunSample& m = median_sample(*w);
    EXPECT_LE(m.disk_bytes, m.forward_passes * std::filesystem::file_size(model()));
    // The bound: disk (10 GB/s) and RAM (10 GB/s) ceilings, disk bytes <= RAM bytes here.
    EXPECT_GT(a.bound_tokens_per_second, 0);
}

TEST(BenchEngineAccounting, VulkanWithEverythingInVramMovesNoWeightBytesOverTheBus) {
    // lavapipe is used only when asked for by index; skip where there is no Vulkan at all.
    auto e = engine({"--device-index", "0", "--vram-gb", "4"});
    ASSERT_TRUE(e) << e.error().to_string();
    if ((*e)->get_performance_metrics().backend.rfind("vulkan", 0) != 0) GTEST_SKIP() << "no Vulkan device: " << (*e)->describe();
    auto reg = registry();
    for_pp_and_tg(**e, *reg, [](const WorkloadResult& w) {
        const Accounting& a = w.accounting;
        EXPECT_EQ(a.bus.bytes_per_token, 0) << w.name;
        EXPECT_EQ(a.disk.bytes_per_token, 0) << w.name;
        EXPECT_EQ(a.ram.bytes_per_token, 0) << w.name;
        EXPECT_GT(a.vram.bytes_per_token, 0) << w.name;
        EXPECT_EQ(a.non_resident.bytes_per_token, 0) << w.name;
        EXPECT_EQ(a.non_resident.bound_tokens_per_second, 0) << w.name;
        EXPECT_EQ(a.bound_tier, "vram") << w.name;
        EXPECT_GT(w.gpu_time_ns, 0u) << w.name << ": timestamps around every forward";
    });
}

// A VRAM budget under the model: the hybrid decode computes the CPU's share from RAM (the
// engine's weight_bytes_cpu), the GPU's share crosses the bus; the accounting puts each byte
// on its tier and bounds the non-resident bytes by the bus and host memory together.
TEST(BenchEngineAccounting, VulkanHybridDecodeChargesTheCpuShareToRam) {
    std::unique_ptr<VulkanSymbioteEngine> e;
    for (int mb = 20; mb <= 40 && !e; ++mb) {  // the smallest budget (tenths of MB) that runs, streaming
        auto c = engine({"--device-index", "0", "--vram-gb", std::to_string(mb / 10000.0)});
        if (c && (*c)->get_performance_metrics().backend.rfind("vulkan", 0) != 0) GTEST_SKIP() << "no Vulkan device: " << (*c)->describe();
        if (c && (*c)->describe().find("streamed") != std::string::npos) e = std::move(*c);
    }
    ASSERT_TRUE(e) << "no budget of 2.0-4.0 MB streams stories260K";
    auto reg = registry();
    auto w = run_generation(*e, *reg, 6, opts(), probes());
    ASSERT_TRUE(w) << w.error().to_string();
    if (median_sample(*w).cpu_weight_bytes == 0) GTEST_SKIP() << "no hybrid decode here: " << e->describe();
    expect_tiers_add_up(*w, *reg);
    const Accounting& a = w->accounting;
    EXPECT_GT(a.ram.bytes_per_token, 0);
    EXPECT_GT(a.bus.bytes_per_token, 0);
    EXPECT_EQ(a.non_resident.ceiling, "host_to_device+host_memory");
    EXPECT_DOUBLE_EQ(a.non_resident.bytes_per_token, a.ram.bytes_per_token + a.bus.bytes_per_token);
    EXPECT_DOUBLE_EQ(a.non_resident.ceiling_gbps, 20);  // 10 + 10 GB/s (probes())
}

// --parallel on a hybrid placement (a KV pool): the batched passes keep the rows split's CPU
// share (--cpu-heads 0: the layout's minimum), which the accounting charges to RAM.
TEST(BenchEngineAccounting, VulkanHybridParallelGenerationsKeepTheCpuShare) {
    std::unique_ptr<VulkanSymbioteEngine> e;
    for (int mb = 20; mb <= 40 && !e; ++mb) {  // the smallest budget (tenths of MB) that runs, streaming
        auto c = engine({"--device-index", "0", "--vram-gb", std::to_string(mb / 10000.0), "--kv-pool-tokens", "256", "--cpu-heads", "0"});
        if (c && (*c)->get_performance_metrics().backend.rfind("vulkan", 0) != 0) GTEST_SKIP() << "no Vulkan device: " << (*c)->describe();
        if (c && (*c)->describe().find("streamed") != std::string::npos) e = std::move(*c);
    }
    ASSERT_TRUE(e) << "no budget of 2.0-4.0 MB streams stories260K";
    auto reg = registry();
    auto w = run_parallel_generation(*e, *reg, 4, 6, opts(), probes());
    ASSERT_TRUE(w) << w.error().to_string();
    if (e->get_performance_metrics().decode_kv_heads == 0) GTEST_SKIP() << "no rows split here (needs imported host memory): " << e->describe();
    EXPECT_NE(w->scheduling.find("batched"), std::string::npos) << w->scheduling;
    for (const RunSample& s : w->samples) {
        EXPECT_EQ(s.tokens, 24u);
        EXPECT_GT(s.cpu_weight_bytes, 0u) << "the CPU computed its rows of the streamed matrices in the batched passes";
    }
    expect_tiers_add_up(*w, *reg);
    EXPECT_GT(w->accounting.ram.bytes_per_token, 0);
    EXPECT_GT(w->accounting.bus.bytes_per_token, 0);
}

TEST(BenchEngineAccounting, ProfilingChargesEveryKernelWithinTheForwardsGpuTime) {
    auto e = engine({"--device-index", "0", "--vram-gb", "4", "--enable-profiling"});
    ASSERT_TRUE(e) << e.error().to_string();
    if ((*e)->get_performance_metrics().backend.rfind("vulkan", 0) != 0) GTEST_SKIP() << "no Vulkan device: " << (*e)->describe();
    auto reg = registry();
    for (bool tg : {false, true}) {
        // pp of 16 tokens: batches of 2..64 tokens use the small-N kernels (matvec_*_r16 regs, _s16
        // staged, or _x16 lanes where the device's shared memory holds no regs chunk: lavapipe at the
        // one-row matvec's 64 lanes), decode matvec.
        auto w = tg ? run_generation(**e, *reg, 4, opts(), probes()) : run_prompt_processing(**e, *reg, 16, opts(), probes());
        ASSERT_TRUE(w) << w.error().to_string();
        ASSERT_FALSE(w->kernels.empty()) << w->name << ": --enable-profiling on a device with timestamps";
        uint64 sum = 0;
        for (const KernelFigure& k : w->kernels) {
            EXPECT_GT(k.dispatches, 0u) << k.name;
            EXPECT_GT(k.total_ns, 0u) << k.name;
            sum += k.total_ns;
        }
        EXPECT_LE(sum, w->gpu_time_ns) << w->name;
        auto has = [&](const std::string& prefix) {
            for (const KernelFigure& k : w->kernels)
                if (k.name.rfind(prefix, 0) == 0) return true;
            return false;
        };
        EXPECT_TRUE(has("attention")) << w->name;
        // Every matvec-path pass (decode, and batches up to --smalln-tokens: pp16) applies the norms
        // inside its matvecs (FusedNorm), as a one-row pass does: no rmsnorm dispatch.
        EXPECT_FALSE(has("rmsnorm")) << w->name;
        auto small_n = [&] {
            for (const KernelFigure& k : w->kernels)
                if (k.name.rfind("matvec", 0) == 0 && std::regex_search(k.name, std::regex("_[rsx]16$"))) return true;
            return false;
        };
        EXPECT_TRUE(tg ? has("matvec_rope_norm") : small_n()) << w->name;
    }
}

// --parallel: S generations share every pass, so one pass's weight bytes are shared by S
// tokens: the bytes per pass stay those of one pass, the bytes per token fall S-fold.
TEST(BenchEngineAccounting, ParallelGenerationsShareEachPass) {
    auto e = engine({"--disable-gpu", "--kv-pool-tokens", "256"});
    ASSERT_TRUE(e) << e.error().to_string();
    auto reg = registry();
    auto w = run_parallel_generation(**e, *reg, 4, 6, opts(), probes());
    ASSERT_TRUE(w) << w.error().to_string();
    EXPECT_EQ(w->kind, "par");
    EXPECT_EQ(w->name, "par4x6");
    EXPECT_EQ(w->parallel, 4u);
    EXPECT_NE(w->scheduling.find("batched"), std::string::npos) << w->scheduling;
    for (const RunSample& s : w->samples) {
        EXPECT_EQ(s.tokens, 24u);
        EXPECT_EQ(s.forward_passes, 6u) << "the prompt pass, then one decode pass per token but the last";
        EXPECT_GT(s.per_sequence_tokens_per_second, 0);
        EXPECT_GT(s.ttft_ms, 0);
    }
    expect_tiers_add_up(*w, *reg);
    const Accounting& a = w->accounting;
    EXPECT_NEAR(a.weight_bytes_per_pass, a.weight_bytes_per_token * 4, a.weight_bytes_per_pass * 1e-12);
    EXPECT_GT(w->per_sequence_tokens_per_second.median, 0);
    EXPECT_FALSE(run_parallel_generation(**e, *reg, 0, 6, opts(), probes()));
}

// --verify-k: a plain decode pass (k = 0) first, then each k once, every time measured;
// --ngram: the plain run has no drafts and one token per pass, the drafted run on the
// repetitive prompt drafts and accepts, so it yields more than one token per decode pass.
TEST(BenchEngineSpeculative, VerifySweepAndNgramWorkload) {
    auto e = engine({"--disable-gpu", "--ctx-size", "160", "--draft-fixed"});  // drafts every step, whatever the timing
    ASSERT_TRUE(e) << e.error().to_string();
    auto v = run_verify_sweep(**e, {1, 4, 4, 2}, opts());
    ASSERT_TRUE(v) << v.error().to_string();
    ASSERT_EQ(v->size(), 4u);
    EXPECT_EQ((*v)[0].k, 0u);
    EXPECT_EQ((*v)[3].k, 2u);
    for (const VerifyPassFigure& f : *v) EXPECT_GT(f.ms.median, 0) << "k=" << f.k;
    EXPECT_FALSE(run_verify_sweep(**e, {500}, opts())) << "a pass longer than the context is refused";
    uint32 prompt_tokens = 0;
    auto n = run_ngram_workload(**e, 24, "", {}, opts(), prompt_tokens);
    ASSERT_TRUE(n) << n.error().to_string();
    ASSERT_EQ(n->size(), 2u);
    EXPECT_EQ(prompt_tokens, 129u);
    EXPECT_EQ((*n)[0].name, "plain");
    EXPECT_EQ((*n)[0].drafted, 0u);
    EXPECT_DOUBLE_EQ((*n)[0].tokens_per_pass, 1.0);
    EXPECT_EQ((*n)[1].name, "ngram");
    EXPECT_GT((*n)[1].accepted, 0u);
    EXPECT_GT((*n)[1].tokens_per_pass, 1.0);
    EXPECT_GT((*n)[1].verify_ms, 0);
    EXPECT_EQ((*n)[0].generated, 24u);
    EXPECT_GT((*n)[0].lookup_hits, 0u) << "stories260K's greedy text repeats its context";
    EXPECT_EQ((*n)[0].lookup_hits, (*n)[1].lookup_hits) << "the same tokens";
    EXPECT_TRUE((*n)[1].same_as_plain) << "greedy: drafted tokens change nothing";
    const std::string table = speculative_tables({*v, prompt_tokens, "", *n});
    EXPECT_NE(table.find("(computed)"), std::string::npos) << table;
    EXPECT_NE(table.find("speed-up"), std::string::npos) << table;
}

// On a copy-cycle model (vk_symbiote_genmodel --copy-cycle) the --ngram prompt is the model's
// cycle and its greedy text goes on repeating it: every drafted token is accepted, at least 2
// per decode pass (--draft-fixed: the adaptive length follows measured times, which a loaded
// test machine makes noisy), and the text is the plain one.
TEST(BenchEngineSpeculative, CopyCycleModelAcceptsSeveralTokensPerPass) {
    const Path path = test::copy_cycle_model("small", DType::F16, 16);
    auto src = open_model_source(path);
    ASSERT_TRUE(src) << src.error().to_string();
    auto cycle = read_copy_cycle(**src, 2048);
    ASSERT_TRUE(cycle) << cycle.error().to_string();
    ASSERT_EQ(cycle->size(), 16u);
    auto e = engine({"--disable-gpu", "--ctx-size", "200", "--draft-fixed"}, path);
    ASSERT_TRUE(e) << e.error().to_string();
    uint32 prompt_tokens = 0;
    auto n = run_ngram_workload(**e, 48, "", *cycle, opts(), prompt_tokens);
    ASSERT_TRUE(n) << n.error().to_string();
    ASSERT_EQ(n->size(), 2u);
    EXPECT_EQ(prompt_tokens, repetitive_prompt_tokens(16));
    EXPECT_EQ(prompt_tokens, 1u + 8u * 16u) << "BOS and the cycle 8 times";
    const NgramRunFigure &plain = (*n)[0], &ngram = (*n)[1];
    EXPECT_EQ(plain.lookup_hits, 47u) << "every plain token after the first continues the prompt's cycle";
    EXPECT_DOUBLE_EQ(plain.tokens_per_pass, 1.0);
    EXPECT_TRUE(ngram.same_as_plain);
    EXPECT_GT(ngram.accepted, 0u);
    EXPECT_EQ(ngram.accepted, ngram.drafted);
    EXPECT_GE(ngram.tokens_per_pass, 3.0) << "at least 2 accepted tokens per pass";
    const std::string table = speculative_tables({{}, prompt_tokens, repetitive_prompt_description("", 16), *n});
    EXPECT_NE(table.find("the model's copy cycle (16 tokens) x 8"), std::string::npos) << table;
}
