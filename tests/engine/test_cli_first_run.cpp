// Issue 26, "first run, as a newcomer meets it": the command line explains itself. Each test
// runs the built vk_symbiote on stories260K (caches in the build's temp dir).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "engine/CliHelp.h"
#include "model/ModelConfig.h"
#include "support/ReferenceCase.h"
#include "support/RunCommand.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;
namespace fs = std::filesystem;

namespace {

using Cmd = test::CommandResult;

// `cmd` with stdout captured; stderr to `err` ("": into the output too).
Cmd run(const std::string& cmd, const std::string& err = "") {
    return test::run_command(cmd + (err.empty() ? " 2>&1" : " 2>'" + err + "'"));
}

std::string cli() { return (Path(VKS_TEST_BINARY_DIR) / "vk_symbiote").string(); }
std::string stories() { return "'" + (test::models_dir() / "stories260K.gguf").string() + "'"; }
size_t count(const std::string& s, const std::string& sub) {
    size_t c = 0;
    for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + 1)) ++c;
    return c;
}

}  // namespace

TEST(CliFirstRun, EverySubcommandHasItsHelpWithExamplesAndThereIsAVersion) {
    Cmd overview = run(cli() + " --help");
    EXPECT_EQ(overview.status, 0);
    for (const tool::SubcommandHelp& s : tool::subcommands()) {
        SCOPED_TRACE(s.name);
        EXPECT_NE(overview.out.find("  " + std::string(s.name) + " "), std::string::npos) << overview.out;
        Cmd h = run(cli() + " " + s.name + " --help");
        EXPECT_EQ(h.status, 0) << h.out;
        EXPECT_NE(h.out.find("Usage: vk_symbiote " + std::string(s.usage)), std::string::npos) << h.out.substr(0, 600);
        EXPECT_NE(h.out.find("Examples:\n  vk_symbiote " + std::string(s.name)), std::string::npos) << h.out.substr(0, 600);
        EXPECT_NE(h.out.find("--ram-gb"), std::string::npos) << "the options follow";
    }
    Cmd v = run(cli() + " --version");
    EXPECT_EQ(v.status, 0);
    EXPECT_TRUE(std::regex_search(v.out, std::regex("^vk_symbiote [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << v.out;
}

TEST(CliFirstRun, NegativeFlagsSayWhatTheFlagDoes) {
    Cmd h = run(cli() + " --help-all");
    ASSERT_EQ(h.status, 0);
    const auto line_of = [&](const std::string& flag) {
        const size_t at = h.out.find("\n  " + flag);
        return at == std::string::npos ? std::string() : h.out.substr(at + 1, h.out.find('\n', at + 1) - at - 1);
    };
    EXPECT_NE(line_of("--disable-gpu").find("run on the CPU only"), std::string::npos) << line_of("--disable-gpu");
    EXPECT_NE(line_of("--no-compression").find("uncompressed"), std::string::npos) << line_of("--no-compression");
    EXPECT_NE(line_of("--fp32").find("FP32 arithmetic"), std::string::npos) << line_of("--fp32");
    EXPECT_NE(line_of("--no-coopmat").find("instead of the tensor-core"), std::string::npos) << line_of("--no-coopmat");
    EXPECT_EQ(line_of("--disable-gpu").find("use a Vulkan GPU"), std::string::npos) << line_of("--disable-gpu");
}

TEST(CliFirstRun, LlamaCppHabitsGetSuggestions) {
    const struct {
        std::string args, hint;
    } cases[] = {{"-m model.gguf", "did you mean --model?"},
                 {"-p hello", "did you mean --prompt?"},
                 {"-n 16", "did you mean --max-tokens?"},
                 {"-c 512", "did you mean --ctx-size?"},
                 {"-t 4", "did you mean --threads?"},
                 {"-ngl 99", "did you mean --vram-gb"},
                 {"--vram-g 2", "did you mean --vram-gb?"},
                 {"'Once upon a time'", "a prompt is given with --prompt 'Once upon a time'"},
                 {"chta", "did you mean chat?"}};
    for (const auto& c : cases) {
        Cmd r = run(cli() + " " + c.args);
        EXPECT_EQ(r.status, 2) << c.args << ": " << r.out;
        EXPECT_NE(r.out.find(c.hint), std::string::npos) << c.args << ": " << r.out;
    }
}

// One line says which backend runs and why; no line says otherwise. Sizes are in GiB.
TEST(CliFirstRun, OneBackendLineAndSizesInGiB) {
    const Path err = test::tmp_dir() / "backend-line.txt";
    Cmd r = run(cli() + " --model " + stories() + " --prompt hi --max-tokens 2", err.string());
    ASSERT_EQ(r.status, 0);
    const std::string e = test::read_file(err);
    EXPECT_EQ(count(e, "engine: backend "), 1u) << e;
    EXPECT_EQ(e.find("using CPU Vulkan implementation"), std::string::npos) << e;
    EXPECT_EQ(e.find(" GB "), std::string::npos) << e;
    EXPECT_NE(e.find(" GiB"), std::string::npos) << e;
}

TEST(CliFirstRun, CtxSizeZeroIsTheTrainedContextAndBeyondItWarns) {
    auto make = [](std::vector<std::string> extra) {
        ConfigManager c;
        std::vector<std::string> args = {"--disable-gpu", "--log-level", "ERROR"};
        args.insert(args.end(), extra.begin(), extra.end());
        EXPECT_TRUE(c.load(args, [](std::string_view) { return std::optional<std::string>(); }));
        auto e = VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", c);
        EXPECT_TRUE(e) << e.error().to_string();
        return e ? std::move(*e) : nullptr;
    };
    auto zero = make({"--ctx-size", "0"});
    ASSERT_TRUE(zero);
    const uint32 trained = zero->model_config().n_ctx_train;
    EXPECT_EQ(zero->context_size(), trained);
    EXPECT_EQ(make({})->context_size(), std::min<uint32>(trained, 2048));
    EXPECT_EQ(make({"--ctx-size", "100"})->context_size(), 100u);
    const Path err = test::tmp_dir() / "ctx-warn.txt";
    Cmd r = run(cli() + " --disable-gpu --model " + stories() + " --prompt hi --max-tokens 2 --ctx-size " + std::to_string(trained + 1), err.string());
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(test::read_file(err).find("beyond the model's trained context of " + std::to_string(trained)), std::string::npos) << test::read_file(err);
}

TEST(CliFirstRun, JsonGenerateIsOneDocument) {
    auto rc = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(rc);
    Cmd r = run(cli() + " generate --json --disable-gpu --model " + stories() + " --prompt 'Once upon a time' --temperature 0 --max-tokens 12",
                (test::tmp_dir() / "json-err.txt").string());
    ASSERT_EQ(r.status, 0) << r.out;
    nlohmann::json j = nlohmann::json::parse(r.out);  // the whole of stdout is one document
    EXPECT_EQ(j["text"].get<std::string>().rfind(", there was a little girl named Lily.", 0), 0u) << j.dump();
    const auto tokens = j["tokens"].get<std::vector<uint32>>();
    ASSERT_EQ(tokens.size(), 12u);
    EXPECT_TRUE(std::equal(tokens.begin(), tokens.end(), rc->greedy_tokens.begin()));
    EXPECT_EQ(j["stats"]["generated_tokens"].get<uint64>(), 12u);
    EXPECT_GT(j["stats"]["weights_gb_per_second"].get<double>(), 0.0);
    Cmd other = run(cli() + " tokenize --json --model " + stories() + " --prompt hi");
    EXPECT_EQ(other.status, 1);
    EXPECT_NE(other.out.find("--json is for generate"), std::string::npos) << other.out;
}

TEST(CliFirstRun, StatsShowTheWeightsGBPerSecond) {
    Cmd r = run(cli() + " --disable-gpu --model " + stories() + " --prompt hi --max-tokens 8 --stats");
    ASSERT_EQ(r.status, 0);
    EXPECT_TRUE(std::regex_search(r.out, std::regex("read at [0-9.]+ GB/s"))) << r.out;
}

// Without --ram-gb the budget comes from the machine, said in one line; a given one is kept.
TEST(CliFirstRun, DefaultBudgetsComeFromTheMachine) {
    Cmd r = run(cli() + " --disable-gpu --model " + stories() + " --prompt hi --max-tokens 2");
    ASSERT_EQ(r.status, 0);
    EXPECT_EQ(count(r.out, "budgets from this machine: --ram-gb "), 1u) << r.out;
    EXPECT_NE(r.out.find("(available RAM "), std::string::npos) << r.out;
    Cmd gpu = run(cli() + " --device-index 0 --ram-gb 3 --model " + stories() + " --prompt hi --max-tokens 2");
    if (gpu.out.find("engine: backend vulkan") != std::string::npos) {  // a Vulkan device: its free memory
        EXPECT_NE(gpu.out.find("budgets from this machine: --vram-gb "), std::string::npos) << gpu.out;
        EXPECT_NE(gpu.out.find("(free on "), std::string::npos) << gpu.out;
    }
    Cmd given = run(cli() + " --disable-gpu --ram-gb 3 --model " + stories() + " --prompt hi --max-tokens 2");
    ASSERT_EQ(given.status, 0);
    EXPECT_EQ(given.out.find("budgets from this machine"), std::string::npos) << given.out;
    EXPECT_NE(given.out.find("--ram-gb 3.00 GiB"), std::string::npos) << given.out;
}

TEST(CliFirstRun, BenchRunsTheBenchmarkWorkload) {
    const Path cache = test::tmp_dir() / "bench-cache";
    Cmd r = run(cli() + " bench --disable-gpu --model " + stories() + " -p 8 -n 4 -r 1 --no-warmup --json --cache-dir '" + cache.string() + "'",
                (test::tmp_dir() / "bench-err.txt").string());
    ASSERT_EQ(r.status, 0) << r.out << test::read_file(test::tmp_dir() / "bench-err.txt");
    nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_TRUE(j.contains("workloads")) << j.dump().substr(0, 400);
    Cmd h = run(cli() + " bench --help");
    EXPECT_EQ(h.status, 0);
    EXPECT_NE(h.out.find("-p N"), std::string::npos) << h.out.substr(0, 400);
}
