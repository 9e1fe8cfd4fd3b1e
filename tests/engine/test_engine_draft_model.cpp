// Speculative decoding with a draft model (--draft-model): the draft runs greedily on the CPU
// with its own KV cache, rolled back to what each verification kept. stories260K drafting for
// itself is accepted every time with a fixed length; syn-f32 (random weights, stories260K's
// vocabulary) is accepted less often; both give the plain greedy text. A draft of another
// vocabulary, --parallel > 1 and a --ram-gb the draft fills are refused by name; a run with a
// draft stays within --ram-gb; `vk_symbiote generate --draft-model` prints the plain text and the figures.
#include <gtest/gtest.h>

#include "memory/MemoryStats.h"
#include "packs/PackWeightProvider.h"
#include "support/RunCommand.h"
#include "support/Sanitizers.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

namespace {

ConfigManager cpu_config(std::vector<std::string> extra = {}) {
    ConfigManager c;
    std::vector<std::string> args = {"--disable-gpu", "--log-level", "ERROR", "--ctx-size", "256"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = c.load(args, [](std::string_view) { return std::optional<std::string>(); });
    EXPECT_TRUE(r) << r.error().to_string();
    return c;
}

Path stories() { return test::models_dir() / "stories260K.gguf"; }

const char* kPrompt = "Once upon a time, there was a little girl named Lily.";

GenerationOptions greedy(const VulkanSymbioteEngine& e) {
    GenerationOptions o = e.default_generation_options();
    o.temperature = 0;
    o.max_tokens = 60;
    o.ignore_eos = true;
    return o;
}

std::string plain_text() {
    auto e = VulkanSymbioteEngine::create(stories(), cpu_config());
    EXPECT_TRUE(e) << e.error().to_string();
    auto t = (*e)->generate_stream(kPrompt, greedy(**e), {});
    EXPECT_TRUE(t) << t.error().to_string();
    return t ? *t : std::string();
}

// Greedy text with `draft` drafting for stories260K (fixed length 4), and the metrics.
std::pair<std::string, PerformanceMetrics> drafted_text(const Path& draft) {
    auto e = VulkanSymbioteEngine::create(stories(), cpu_config({"--draft-model", draft.string(), "--draft-max", "4", "--draft-fixed"}));
    EXPECT_TRUE(e) << e.error().to_string();
    if (!e) return {};
    auto t = (*e)->generate_stream(kPrompt, greedy(**e), {});
    EXPECT_TRUE(t) << t.error().to_string();
    return {t ? *t : std::string(), (*e)->get_performance_metrics()};
}

std::string refusal(const std::vector<std::string>& args) {
    auto e = VulkanSymbioteEngine::create(stories(), cpu_config(args));
    EXPECT_FALSE(e) << "started with a bad draft setting";
    return e ? std::string() : e.error().message;
}

}  // namespace

TEST(EngineDraftModel, TheOptionReachesTheSettings) {
    ConfigManager c = cpu_config({"--draft-model", stories().string()});
    EXPECT_EQ(c.sampling().draft_model, stories().string());
}

TEST(EngineDraftModel, ItselfAsDraftIsAlwaysAcceptedAndGivesThePlainText) {
    const std::string plain = plain_text();
    auto [text, m] = drafted_text(stories());
    EXPECT_FALSE(plain.empty());
    EXPECT_EQ(text, plain);
    EXPECT_GT(m.draft_tokens, 0u);
    EXPECT_EQ(m.draft_accepted_tokens, m.draft_tokens) << "the same model drafts exactly the target's argmax";
    EXPECT_GT(m.draft_time_ns, 0u);
    ASSERT_GT(m.decode_passes, 0u);
    EXPECT_EQ(m.decode_tokens, m.decode_passes + m.draft_accepted_tokens);
    EXPECT_GT(double(m.decode_tokens) / double(m.decode_passes), 3.0) << "four drafted tokens accepted per pass (less at the end)";
}

TEST(EngineDraftModel, OtherWeightsGiveThePlainTextWithLowerAcceptance) {
    const std::string plain = plain_text();
    auto [text, m] = drafted_text(test::models_dir() / "syn-f32.gguf");
    EXPECT_EQ(text, plain);
    EXPECT_GT(m.draft_tokens, 0u);
    EXPECT_LT(m.draft_accepted_tokens, m.draft_tokens) << "random weights do not predict stories260K";
}

TEST(EngineDraftModel, AnotherVocabularyIsRefusedNamingBothFiles) {
    const Path other = test::models_dir() / "syn-spm-f16.gguf";
    const std::string msg = refusal({"--draft-model", other.string()});
    EXPECT_NE(msg.find(other.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(stories().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("vocabulary"), std::string::npos) << msg;
}

TEST(EngineDraftModel, SeveralSequencesAreRefused) {
    const std::string msg = refusal({"--draft-model", stories().string(), "--parallel", "2"});
    EXPECT_NE(msg.find("--parallel"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--draft-model"), std::string::npos) << msg;
}

TEST(EngineDraftModel, ABudgetTooSmallForTheDraftIsRefused) {
    const std::string msg = refusal({"--draft-model", stories().string(), "--ram-gb", "0.0005"});
    EXPECT_NE(msg.find("draft"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--ram-gb"), std::string::npos) << msg;
}

TEST(EngineDraftModel, ARunWithADraftStaysWithinTheRamBudget) {
    const double budget_gb = 0.02;
    const uint64 budget = uint64(budget_gb * MemoryConfig::kBytesPerGB);
    ASSERT_TRUE(reset_peak_rss());
    auto before = read_process_memory();
    ASSERT_TRUE(before);
    {
        auto e = VulkanSymbioteEngine::create(stories(), cpu_config({"--draft-model", stories().string(), "--ram-gb", std::to_string(budget_gb)}));
        ASSERT_TRUE(e) << e.error().to_string();
        auto t = (*e)->generate_stream(kPrompt, greedy(**e), {});
        ASSERT_TRUE(t) << t.error().to_string();
        EXPECT_GT((*e)->get_performance_metrics().draft_tokens, 0u);
        auto after = read_process_memory();
        ASSERT_TRUE(after);
        const uint64 growth = after->peak_rss_bytes > before->rss_bytes ? after->peak_rss_bytes - before->rss_bytes : 0;
        if (!test::kAddressSanitizer) {  // ASan's shadow memory and quarantine are RSS too
            EXPECT_LE(growth, budget + PackWeightProvider::kFixedOverheadBytes);
        }
    }
}

TEST(EngineDraftModel, CommandLineGeneratesTheSameTextAndReportsTheDrafts) {
    const std::string base = (Path(VKS_TEST_BINARY_DIR) / "vk_symbiote").string() + " generate --model " + stories().string() +
                             " --disable-gpu --raw --temperature 0 --max-tokens 40 --log-level ERROR --prompt '" + kPrompt + "'";
    const test::CommandResult plain = test::run_command(base + " 2>/dev/null");
    const test::CommandResult drafted = test::run_command(base + " --draft-model " + stories().string() + " --draft-fixed --draft-max 3 2>/dev/null");
    ASSERT_EQ(plain.status, 0);
    ASSERT_EQ(drafted.status, 0);
    EXPECT_FALSE(plain.out.empty());
    EXPECT_EQ(drafted.out, plain.out);
    const test::CommandResult json = test::run_command(base + " --draft-model " + stories().string() + " --json 2>/dev/null");
    ASSERT_EQ(json.status, 0);
    EXPECT_NE(json.out.find("\"draft_time_ms\""), std::string::npos) << json.out;
    EXPECT_NE(json.out.find("\"draft_accepted_tokens\""), std::string::npos) << json.out;
}
