// Pipeline stages on Vulkan (Mesa's lavapipe, --device-index 0): each rank runs its layers on
// its device as one process would (StageDevice: a VulkanBackend over its layer range), all of
// them resident in VRAM or streamed per pass (--force-streaming: the models are too small to need
// it) under a per-rank VRAM budget of twice each rank's minimum, the hybrid decode splitting
// the streamed layers with the CPU. The reference cases' logits through 2 and 3
// ranks, stories260K's greedy tokens, and the perplexity one process prints on the device.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <sstream>

#include "MpiRun.h"
#include "PipelineCases.h"
#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "memory/LayerRangeProvider.h"
#include "pipeline/StagePlan.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

constexpr const char* kDevice = " --device-index 0";

bool have_vulkan() { return bool(VulkanBackend::create(VulkanOptions{})); }

#define SKIP_WITHOUT_MPIRUN_OR_VULKAN() \
    SKIP_WITHOUT_MPIRUN();              \
    if (!have_vulkan()) GTEST_SKIP() << "no Vulkan device"

// The smallest VRAM budget (bytes) that runs layers [first, end) of `model` on device 0, as its
// refusal states it (everything streamed), for kCtx positions and the default step of 512.
uint64 vram_minimum(const std::string& model, uint32 first, uint32 end) {
    auto whole = FileWeightProvider::open(models_dir() / model);
    EXPECT_TRUE(whole) << whole.error().message;
    const LayerRangeProvider layers(**whole, first, end - first);
    VulkanOptions o;
    o.device_index = 0;
    o.kv_f16_rounding = true;  // --kv-cache f16, the default
    o.vram_budget_bytes = 4096;
    auto vb = VulkanBackend::create(o);
    EXPECT_TRUE(vb) << vb.error().message;
    auto r = (*vb)->check_budget(layers, kCtx, 512);
    EXPECT_FALSE(r) << "4 KiB of VRAM ran layers [" << first << ", " << end << ")";
    std::smatch m;
    const std::string msg = r ? "" : r.error().message;
    EXPECT_TRUE(std::regex_search(msg, m, std::regex("minimum of [0-9.]+ GiB \\(([0-9]+) bytes"))) << msg;
    return m.empty() ? 0 : std::stoull(m[1]);
}

// --force-streaming and --budgets for `ranks` ranks, each with twice the VRAM minimum of its
// share of the layers (closer to it, the forced streaming plans more than the budget and the
// rank falls back to the CPU path) and 1 GiB of RAM (its weights resident in RAM); each speed makes
// the weights equal, so the shares are those of equal ranks.
std::string streamed_budgets(const std::string& model, uint32 ranks, uint32 n_layer) {
    auto shares = pipeline::plan_stages(n_layer, std::vector<pipeline::RankBudget>(ranks, pipeline::RankBudget{0, 1, 1}));
    EXPECT_TRUE(shares) << shares.error().message;
    std::string out = " --force-streaming --budgets ";
    for (uint32 r = 0; r < ranks; ++r) {
        const double vram = double(2 * vram_minimum(model, (*shares)[r].first, (*shares)[r].end)) / 1073741824.0;
        char entry[96];
        std::snprintf(entry, sizeof entry, "%s%.17g:1:%.17g", r ? "," : "", vram, 1.0 / (vram + 1.0));
        out += entry;
    }
    return out;
}

uint32 layers_of(const std::string& model) {
    auto g = open_model_source(models_dir() / model);
    EXPECT_TRUE(g);
    return ModelConfig::from_source(**g)->n_layer;
}

// How many ranks said their layers were computed on the device with `placement` (one line each).
size_t ranks_placed(const std::string& log, const std::string& placement) {
    size_t n = 0;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);)
        if (line.find("computed on vulkan") != std::string::npos && line.find(placement) != std::string::npos) n++;
    return n;
}

class PipelineDeviceReference : public ::testing::TestWithParam<std::string> {};

}  // namespace

// 2 ranks, every layer resident in VRAM; 3 ranks, each streaming its layers under a VRAM
// budget of twice its minimum (gemma2: sliding windows, soft-caps, the embedding scale that
// only rank 0 applies): every position's logits within the reference's tolerance.
TEST_P(PipelineDeviceReference, LogitsThroughDeviceStagesMatchTheReference) {
    SKIP_WITHOUT_MPIRUN_OR_VULKAN();
    auto c = load_reference_case(GetParam());
    ASSERT_TRUE(c) << c.error().message;
    std::string log;
    expect_matches_reference(*c, pipeline_logits(*c, 2, kDevice, &log), "2 ranks on the device, resident");
    EXPECT_EQ(ranks_placed(log, "all weights resident in VRAM"), 2u) << log;
    const std::string streamed = streamed_budgets(c->model, 3, layers_of(c->model));
    expect_matches_reference(*c, pipeline_logits(*c, 3, kDevice + streamed, &log), "3 ranks on the device, streamed");
    EXPECT_EQ(ranks_placed(log, "streamed per forward pass"), 3u) << streamed << "\n" << log;
}

INSTANTIATE_TEST_SUITE_P(Cases, PipelineDeviceReference, ::testing::Values("stories260K.once", "arch-gemma2"),
                         test::CaseName{});

// `generate --pipeline` on the device: stories260K's greedy reference continuation, token for
// token, on 2 ranks resident and 3 ranks streaming (the decode steps are the hybrid decode's).
TEST(PipelineDeviceGenerate, GreedyTokensMatchTheReference) {
    SKIP_WITHOUT_MPIRUN_OR_VULKAN();
    auto c = load_reference_case("stories260K.once");
    ASSERT_TRUE(c) << c.error().message;
    const std::vector<uint32> want(c->greedy_tokens.begin(), c->greedy_tokens.begin() + 32);
    for (const auto& [ranks, extra] : std::vector<std::pair<uint32, std::string>>{
             {2, kDevice}, {3, kDevice + streamed_budgets(c->model, 3, layers_of(c->model))}}) {
        auto doc = generate_json(ranks, c->model, c->prompt, 32, extra);
        ASSERT_TRUE(doc.contains("tokens")) << doc.dump();
        EXPECT_EQ(doc["tokens"].get<std::vector<uint32>>(), want) << ranks << " ranks" << extra;
        ASSERT_EQ(doc["per_rank"].size(), ranks) << doc.dump();
        for (const auto& r : doc["per_rank"]) {
            EXPECT_NE(r["placement"].get<std::string>().find("computed on vulkan"), std::string::npos) << r.dump();
            EXPECT_GT(r["uploaded_bytes"].get<uint64>(), 0u) << r.dump();
        }
    }
}

// `perplexity --pipeline` on the device: 2 ranks print the perplexity one process prints on it
// (a shorter text and context than the CPU test's: lavapipe is slow).
TEST(PipelineDevicePerplexity, TwoRanksGiveTheSingleProcessPerplexity) {
    SKIP_WITHOUT_MPIRUN_OR_VULKAN();
    // Two chunks of 128 tokens (the later --ctx-size wins): the second starts the caches over.
    const std::string args = " --prompt-file " + heldout_text_file(24).string() + common_args("stories260K.gguf") + " --ctx-size 128" + kDevice + " 2>&1";
    auto one = run_command(build_program("vk_symbiote") + " perplexity" + args);
    ASSERT_EQ(one.status, 0) << one.out;
    auto two = run_command(mpirun(2) + build_program("vk_symbiote") + " perplexity --pipeline" + args);
    ASSERT_EQ(two.status, 0) << two.out;
    EXPECT_EQ(ranks_placed(two.out, "all weights resident in VRAM"), 2u) << two.out;
    const double a = printed_ppl(one.out), b = printed_ppl(two.out);
    EXPECT_GT(a, 1.0) << one.out;
    EXPECT_NEAR(b, a, 1e-4 * a) << one.out << two.out;
}

// Micro-batches on the device: the benchmark's 4 sequences through 2 streaming ranks (each
// slot's K / V in the device's KV pool) give the greedy tokens of one CPU process running them.
TEST(PipelineDeviceMicroBatches, FourSequencesThroughTwoRanksMatchOneProcess) {
    SKIP_WITHOUT_MPIRUN_OR_VULKAN();
    auto bench = [](uint32 ranks, const std::string& extra) {
        auto r = run_command(mpirun(ranks) + build_program("vk_symbiote_benchmark") + " --pipeline --json -p 20 -n 12 --parallel 4" + common_args("stories260K.gguf") + extra);
        EXPECT_EQ(r.status, 0) << r.out;
        auto doc = nlohmann::json::parse(r.out, nullptr, false);
        EXPECT_FALSE(doc.is_discarded()) << r.out;
        return doc;
    };
    auto one = bench(1, " --disable-gpu"), two = bench(2, std::string(kDevice) + " --force-streaming");
    ASSERT_TRUE(one.contains("sequences") && two.contains("sequences")) << one.dump() << two.dump();
    EXPECT_EQ(two["sequences"], one["sequences"]);
    ASSERT_EQ(two["per_rank"].size(), 2u) << two.dump();
    for (const auto& r : two["per_rank"]) EXPECT_NE(r["placement"].get<std::string>().find("streamed per forward pass"), std::string::npos) << r.dump();
}
