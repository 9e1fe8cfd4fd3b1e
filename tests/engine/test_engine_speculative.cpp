// Speculative decoding through the engine and the command line: the --draft-* options reach
// GenerationOptions (INI / flags in the option table), a greedy generation with n-gram drafts
// gives the plain text while the metrics count drafted and accepted tokens and more than one
// token per decode pass, and `vk_symbiote generate --draft-ngram --json` prints the same text
// with the speculative figures.
#include <gtest/gtest.h>

#include "support/RunCommand.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

namespace {

ConfigManager cpu_config(std::vector<std::string> extra = {}) {
    ConfigManager c;
    std::vector<std::string> args = {"--disable-gpu", "--log-level", "WARNING", "--ctx-size", "256"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = c.load(args, [](std::string_view) { return std::optional<std::string>(); });
    EXPECT_TRUE(r) << r.error().to_string();
    return c;
}

std::string run_stdout(const std::string& cmd) {
    const test::CommandResult r = test::run_command(cmd);
    EXPECT_EQ(r.status, 0) << cmd;
    return r.out;
}

const char* kPrompt = "Once upon a time, there was a little girl named Lily. She liked to play. Once upon a time, there was a little girl named Lily.";

}  // namespace

TEST(EngineSpeculative, OptionsReachTheGenerationOptions) {
    ConfigManager c = cpu_config({"--draft-ngram", "--draft-max", "5", "--draft-ngram-size", "2", "--draft-min", "2", "--draft-fixed"});
    auto e = VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", c);
    ASSERT_TRUE(e) << e.error().to_string();
    const GenerationOptions o = (*e)->default_generation_options();
    EXPECT_TRUE(o.draft_ngram);
    EXPECT_EQ(o.draft_max, 5u);
    EXPECT_EQ(o.draft_ngram_size, 2u);
    EXPECT_EQ(o.draft_min, 2u);
    EXPECT_FALSE(o.draft_adaptive);
    ConfigManager bad;
    EXPECT_FALSE(bad.load(std::vector<std::string>{"--draft-max", "0"}, [](std::string_view) { return std::optional<std::string>(); }))
        << "--draft-max below 1 is refused";
}

TEST(EngineSpeculative, GreedyTextIsThePlainTextAndTheMetricsCountTheDrafts) {
    auto e = VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", cpu_config());
    ASSERT_TRUE(e) << e.error().to_string();
    GenerationOptions o = (*e)->default_generation_options();
    o.temperature = 0;
    o.max_tokens = 80;
    o.ignore_eos = true;
    auto plain = (*e)->generate_stream(kPrompt, o, {});
    ASSERT_TRUE(plain) << plain.error().to_string();
    EXPECT_EQ((*e)->get_performance_metrics().draft_tokens, 0u);
    (*e)->reset_performance_metrics();
    o.draft_ngram = true;
    o.draft_adaptive = false;  // drafts every step: the counts below do not depend on timing
    auto spec = (*e)->generate_stream(kPrompt, o, {});
    ASSERT_TRUE(spec) << spec.error().to_string();
    EXPECT_EQ(*spec, *plain);
    const PerformanceMetrics& m = (*e)->get_performance_metrics();
    EXPECT_GT(m.draft_tokens, 0u);
    EXPECT_GT(m.draft_accepted_tokens, 0u);
    EXPECT_LE(m.draft_accepted_tokens, m.draft_tokens);
    EXPECT_GT(m.verify_passes, 0u);
    EXPECT_GT(m.verify_time_ns, 0u);
    ASSERT_GT(m.decode_passes, 0u);
    EXPECT_EQ(m.decode_tokens, m.decode_passes + m.draft_accepted_tokens) << "each pass: one token and the accepted drafts";
}

TEST(EngineSpeculative, CommandLineGeneratesTheSameTextWithDrafts) {
    const std::string base = (Path(VKS_TEST_BINARY_DIR) / "vk_symbiote").string() + " generate --model " + (test::models_dir() / "stories260K.gguf").string() +
                             " --disable-gpu --raw --temperature 0 --max-tokens 60 --log-level ERROR --prompt '" + kPrompt + "'";
    const std::string plain = run_stdout(base + " 2>/dev/null");
    const std::string spec = run_stdout(base + " --draft-ngram --draft-max 4 2>/dev/null");
    EXPECT_FALSE(plain.empty());
    EXPECT_EQ(spec, plain);
    const std::string json = run_stdout(base + " --draft-ngram --json 2>/dev/null");
    EXPECT_NE(json.find("\"draft_accepted_tokens\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"tokens_per_decode_pass\""), std::string::npos) << json;
}
