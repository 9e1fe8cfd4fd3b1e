// --decode-pipeline (VulkanOptions::decode_one_submission and decode_ahead) through the command
// line on the first Vulkan device (lavapipe in CI): stories260K all in VRAM, greedy. With `on`
// every decode token is one submission and the next token's pass is queued before the last one
// ends, and --stats / --json say so; the tokens are those of `off` and of the reference, and
// generation stops at --max-tokens with no extra token. Through the engine: stop strings, a
// cancelling callback and a continued conversation give the tokens of `off`.
#include <gtest/gtest.h>

#include <regex>

#include <nlohmann/json.hpp>

#include "support/ReferenceCase.h"
#include "support/RunCommand.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

namespace {

struct Generation {
    bool vulkan = false;          // the engine ran the Vulkan backend
    std::vector<uint32> tokens;   // generated
    uint64 submissions = 0;       // stats.decode_submissions_per_token
    uint64 queued = 0;            // stats.decode_queued_ahead
    std::string stats;            // stderr, with the --stats lines
};

Generation generate(const std::string& pipeline, uint32 max_tokens, const std::string& fuse = "on") {
    const Path err = test::tmp_dir() / ("decode-pipeline-" + pipeline + "-" + fuse + ".txt");
    const std::string cli = (Path(VKS_TEST_BINARY_DIR) / "vk_symbiote").string();
    const std::string model = "'" + (test::models_dir() / "stories260K.gguf").string() + "'";
    const test::CommandResult r = test::run_command(cli + " generate --json --stats --device-index 0 --ram-gb 2 --model " + model +
                                                    " --prompt 'Once upon a time' --temperature 0 --max-tokens " + std::to_string(max_tokens) +
                                                    " --fuse-decode " + fuse + " --decode-pipeline " + pipeline + " 2>'" + err.string() + "'");
    Generation g;
    g.stats = test::read_file(err);
    EXPECT_EQ(r.status, 0) << r.out << g.stats;
    if (r.status != 0) return g;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    g.vulkan = g.stats.find("engine: backend vulkan") != std::string::npos;
    g.tokens = j["tokens"].get<std::vector<uint32>>();
    g.submissions = j["stats"]["decode_submissions_per_token"].get<uint64>();
    g.queued = j["stats"]["decode_queued_ahead"].get<uint64>();
    EXPECT_EQ(j["stats"]["generated_tokens"].get<uint64>(), g.tokens.size());
    return g;
}

// The --stats lines of a plain (not --json) run.
std::string stats_lines(const std::string& pipeline, const std::string& fuse) {
    const Path err = test::tmp_dir() / ("decode-pipeline-stats-" + pipeline + "-" + fuse + ".txt");
    const std::string cli = (Path(VKS_TEST_BINARY_DIR) / "vk_symbiote").string();
    const std::string model = "'" + (test::models_dir() / "stories260K.gguf").string() + "'";
    const test::CommandResult r = test::run_command(cli + " generate --stats --device-index 0 --ram-gb 2 --model " + model +
                                                    " --prompt 'Once upon a time' --temperature 0 --max-tokens 12 --fuse-decode " + fuse +
                                                    " --decode-pipeline " + pipeline + " 2>'" + err.string() + "'");
    EXPECT_EQ(r.status, 0) << r.out;
    return test::read_file(err);
}

}  // namespace

TEST(CliDecodePipeline, OneSubmissionPerTokenSameTokens) {
    auto rc = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(rc) << rc.error().to_string();
    for (const std::string fuse : {"on", "off"}) {
        SCOPED_TRACE("--fuse-decode " + fuse);
        const Generation on = generate("on", 12, fuse), off = generate("off", 12, fuse);
        if (!on.vulkan) GTEST_SKIP() << "no Vulkan backend here: " << on.stats;
        ASSERT_EQ(on.tokens.size(), 12u);
        EXPECT_EQ(on.tokens, off.tokens);
        EXPECT_TRUE(std::equal(on.tokens.begin(), on.tokens.end(), rc->greedy_tokens.begin()));
        EXPECT_EQ(on.submissions, 1u);
        EXPECT_GT(off.submissions, 1u);  // layer 0, then layer 1 (stories260K: 5 layers)
        // 11 decode passes: all but the first and one starting a KV block were queued ahead.
        EXPECT_GE(on.queued, 8u);
        EXPECT_EQ(off.queued, 0u);
        const std::string lines = stats_lines("on", fuse);
        EXPECT_TRUE(std::regex_search(lines, std::regex("decode token on the GPU: [0-9]+ dispatches/token, [0-9]+ barriers/token, 1 submissions/token, "
                                                           "[0-9]+ waited uploads/token, [1-9][0-9]* tokens queued ahead")))
            << lines;
    }
}

// Stopping at --max-tokens: exactly that many tokens, the reference's first ones, for each count.
TEST(CliDecodePipeline, StopsAtMaxTokens) {
    auto rc = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(rc) << rc.error().to_string();
    for (uint32 n : {1u, 2u, 5u}) {
        const Generation on = generate("on", n);
        if (!on.vulkan) GTEST_SKIP() << "no Vulkan backend here: " << on.stats;
        ASSERT_EQ(on.tokens.size(), n);
        EXPECT_TRUE(std::equal(on.tokens.begin(), on.tokens.end(), rc->greedy_tokens.begin())) << n << " tokens";
    }
}

namespace {

ConfigManager engine_config(const std::string& pipeline) {
    ConfigManager c;
    const std::vector<std::string> args{"--device-index", "0", "--ram-gb", "2", "--decode-pipeline", pipeline, "--log-level", "ERROR"};
    auto r = c.load(args, [](std::string_view) { return std::optional<std::string>(); });
    EXPECT_TRUE(r) << r.error().to_string();
    return c;
}

struct EngineRuns {
    bool vulkan = false;
    std::vector<std::vector<uint32>> tokens;  // per generation
    std::vector<std::string> texts;
    DecodeRecording rec;
};

// Three generations on one engine, greedy: a stop string found after its token was sampled, a
// callback that cancels after 7 tokens, then a prompt extending the last reply (its KV cache
// kept: a queued pass dropped at a stop must leave no stale K / V row or position behind).
EngineRuns engine_runs(const std::string& pipeline) {
    EngineRuns out;
    auto e = VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", engine_config(pipeline));
    EXPECT_TRUE(e) << e.error().to_string();
    if (!e) return out;
    out.vulkan = (*e)->get_performance_metrics().backend.find("vulkan") != std::string::npos;
    GenerationOptions g;
    g.max_tokens = 40;
    g.temperature = 0.0f;
    std::string prompt = "Once upon a time";
    for (int run = 0; run < 3; ++run) {
        g.stop = run == 0 ? std::vector<std::string>{"Lily"} : std::vector<std::string>{};
        std::vector<uint32> toks;
        auto text = (*e)->generate_stream(prompt, g, [&](const std::string&, uint32 t) {
            toks.push_back(t);
            return run != 1 || toks.size() < 7;
        });
        EXPECT_TRUE(text) << text.error().to_string();
        if (!text) return out;
        out.tokens.push_back(toks);
        out.texts.push_back(*text);
        prompt += *text + " She";
    }
    out.rec = (*e)->get_performance_metrics().decode_recording;
    return out;
}

}  // namespace

TEST(EngineDecodePipeline, StopsCancelsAndContinuesAsWithoutIt) {
    const EngineRuns on = engine_runs("on"), off = engine_runs("off");
    if (!on.vulkan) GTEST_SKIP() << "no Vulkan backend here";
    ASSERT_EQ(on.tokens.size(), 3u);
    EXPECT_EQ(on.tokens, off.tokens);
    EXPECT_EQ(on.texts, off.texts);
    EXPECT_EQ(on.texts[0], ", there was a little girl named ");  // stopped before "Lily"
    EXPECT_EQ(on.tokens[1].size(), 7u);                           // cancelled at the 7th
    EXPECT_EQ(on.tokens[2].size(), 40u);
    EXPECT_GT(on.rec.queued_ahead, 20u);
    EXPECT_EQ(off.rec.queued_ahead, 0u);
}
