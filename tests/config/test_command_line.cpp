// Command-line layer of ConfigManager: every documented flag, both value forms, implications,
// subcommands, --help, and every error with its message.
#include <gtest/gtest.h>

#include "ConfigTestUtil.h"
#include "config/OptionTable.h"

namespace vk_symbiote::test {
namespace {

// Every flag the product documents (seed doc + the engine's options). If one disappears
// from the option table, these tests fail.
const std::vector<std::string> kDocumentedFlags = {
    "--model", "--config", "--vram-gb", "--ram-gb", "--prefetch-lookahead", "--eviction-aggression",
    "--workgroup-size", "--disable-gpu", "--fp32", "--no-compression", "--no-subgroups",
    "--force-integrated-gpu", "--verbose", "-v", "--log-file", "--log-level", "--enable-profiling",
    "--device-index", "--shader-dir", "--threads", "--max-pack-mb", "--cache-dir", "--compression-algorithm",
    "--prompt", "--prompt-file", "--max-tokens", "--temperature", "--top-k", "--top-p", "--min-p",
    "--repeat-penalty", "--repeat-last-n", "--seed", "--ctx-size", "--raw", "--stats", "--json", "--help", "-h"};

TEST(ConfigCli, DefaultsMatchTheDocumentedValues) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {}).has_value());
    EXPECT_EQ(cfg.memory().vram_budget_gb, 4.0);
    EXPECT_EQ(cfg.memory().ram_budget_gb, 16.0);
    EXPECT_EQ(cfg.memory().prefetch_lookahead, 3u);
    EXPECT_FLOAT_EQ(cfg.memory().eviction_aggression, 0.7f);
    EXPECT_TRUE(cfg.memory().enable_compression);
    EXPECT_EQ(cfg.memory().compression_algorithm, "blosc2");
    EXPECT_EQ(cfg.memory().max_packs_in_memory, 64u);
    EXPECT_EQ(cfg.memory().max_pack_mb, 32.0);
    EXPECT_TRUE(cfg.performance().enable_gpu);
    EXPECT_FALSE(cfg.performance().enable_profiling);
    EXPECT_EQ(cfg.performance().workgroup_size_x, 16u);
    EXPECT_EQ(cfg.performance().workgroup_size_y, 16u);
    EXPECT_EQ(cfg.performance().device_index, -1);
    EXPECT_EQ(cfg.performance().threads, 0u);
    EXPECT_EQ(cfg.logging().log_level, "INFO");
    EXPECT_FALSE(cfg.logging().log_to_file);
    EXPECT_EQ(cfg.logging().log_file_path, "vk_symbiote.log");
    EXPECT_EQ(cfg.logging().max_log_file_size_mb, 100u);
    EXPECT_EQ(cfg.sampling().max_tokens, 256u);
    EXPECT_FLOAT_EQ(cfg.sampling().temperature, 0.7f);
    EXPECT_FALSE(cfg.sampling().prompt_set);
    EXPECT_FALSE(cfg.sampling().seed_set);
    EXPECT_EQ(cfg.subcommand(), "");
    EXPECT_FALSE(cfg.help_requested());
    EXPECT_EQ(cfg.config_path(), "");
}

TEST(ConfigCli, EveryDocumentedOptionParses) {
    ConfigManager cfg;
    ExpectedVoid r = load(cfg, {"--model", "m.gguf", "--vram-gb", "2.5", "--ram-gb", "8", "--prefetch-lookahead", "5",
                                "--eviction-aggression", "0.25", "--workgroup-size", "32", "8", "--disable-gpu",
                                "--fp32", "--no-compression", "--no-subgroups", "--force-integrated-gpu",
                                "--log-file", "x.log", "--log-level", "warning", "--enable-profiling",
                                "--device-index", "2", "--shader-dir", "sh", "--threads", "6", "--max-pack-mb",
                                "1.5", "--cache-dir", "cache", "--compression-algorithm", "ZFP", "--prompt", "hi",
                                "--prompt-file", "p.txt", "--max-tokens", "12", "--temperature", "0", "--top-k",
                                "7", "--top-p", "0.5", "--min-p", "0.1", "--repeat-penalty", "1.1",
                                "--repeat-last-n", "32", "--seed", "18446744073709551615", "--ctx-size", "512",
                                "--raw", "--stats", "--json"});
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ(cfg.model().model_path, "m.gguf");
    EXPECT_EQ(cfg.memory().vram_budget_gb, 2.5);
    EXPECT_EQ(cfg.memory().ram_budget_gb, 8.0);
    EXPECT_EQ(cfg.memory().prefetch_lookahead, 5u);
    EXPECT_FLOAT_EQ(cfg.memory().eviction_aggression, 0.25f);
    EXPECT_EQ(cfg.performance().workgroup_size_x, 32u);
    EXPECT_EQ(cfg.performance().workgroup_size_y, 8u);
    EXPECT_FALSE(cfg.performance().enable_gpu);
    EXPECT_FALSE(cfg.performance().use_fp16_math);
    EXPECT_FALSE(cfg.memory().enable_compression);
    EXPECT_FALSE(cfg.performance().use_subgroup_ops);
    EXPECT_TRUE(cfg.performance().force_integrated_gpu);
    EXPECT_EQ(cfg.logging().log_file_path, "x.log");
    EXPECT_TRUE(cfg.logging().log_to_file);  // implied by --log-file
    EXPECT_EQ(cfg.logging().log_level, "WARNING");  // canonical spelling
    EXPECT_TRUE(cfg.performance().enable_profiling);
    EXPECT_EQ(cfg.performance().device_index, 2);
    EXPECT_EQ(cfg.performance().shader_dir, "sh");
    EXPECT_EQ(cfg.performance().threads, 6u);
    EXPECT_EQ(cfg.memory().max_pack_mb, 1.5);
    EXPECT_EQ(cfg.memory().cache_dir, "cache");
    EXPECT_EQ(cfg.memory().compression_algorithm, "zfp");
    EXPECT_EQ(cfg.sampling().prompt, "hi");
    EXPECT_TRUE(cfg.sampling().prompt_set);
    EXPECT_EQ(cfg.sampling().prompt_file, "p.txt");
    EXPECT_EQ(cfg.sampling().max_tokens, 12u);
    EXPECT_EQ(cfg.sampling().temperature, 0.0f);
    EXPECT_EQ(cfg.sampling().top_k, 7u);
    EXPECT_FLOAT_EQ(cfg.sampling().top_p, 0.5f);
    EXPECT_FLOAT_EQ(cfg.sampling().min_p, 0.1f);
    EXPECT_FLOAT_EQ(cfg.sampling().repeat_penalty, 1.1f);
    EXPECT_EQ(cfg.sampling().repeat_last_n, 32u);
    EXPECT_EQ(cfg.sampling().seed, 18446744073709551615ull);
    EXPECT_TRUE(cfg.sampling().seed_set);
    EXPECT_EQ(cfg.sampling().ctx_size, 512u);
    EXPECT_TRUE(cfg.sampling().raw);
    EXPECT_TRUE(cfg.sampling().stats);
    EXPECT_TRUE(cfg.sampling().json);

    for (const std::string& flag : kDocumentedFlags) {
        if (flag == "--help" || flag == "-h" || flag == "--config") continue;
        EXPECT_NE(config::find_cli_option(flag), nullptr) << flag;
    }
}

TEST(ConfigCli, EqualsFormAndNegativeValues) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--vram-gb=0.05", "--device-index", "-1", "--prompt=--not-an-option", "--model=a=b"})
                    .has_value());
    EXPECT_EQ(cfg.memory().vram_budget_gb, 0.05);  // fractional budgets are exact doubles
    EXPECT_EQ(cfg.memory().vram_budget_bytes(), 53687091u);  // floor(0.05 * 2^30)
    EXPECT_EQ(cfg.memory().ram_budget_bytes(), 16ull << 30);
    EXPECT_EQ(cfg.memory().max_pack_bytes(), 32ull << 20);
    EXPECT_EQ(cfg.performance().device_index, -1);
    EXPECT_EQ(cfg.sampling().prompt, "--not-an-option");
    EXPECT_EQ(cfg.model().model_path, "a=b");
}

TEST(ConfigCli, VerboseImpliesDebugButALaterLogLevelWins) {
    ConfigManager a;
    ASSERT_TRUE(load(a, {"-v"}).has_value());
    EXPECT_TRUE(a.logging().verbose);
    EXPECT_EQ(a.logging().log_level, "DEBUG");
    ConfigManager b;
    ASSERT_TRUE(load(b, {"--verbose", "--log-level", "ERROR"}).has_value());
    EXPECT_EQ(b.logging().log_level, "ERROR");
    ConfigManager c;
    ASSERT_TRUE(load(c, {"--log-level", "ERROR", "--verbose"}).has_value());
    EXPECT_EQ(c.logging().log_level, "DEBUG");
}

TEST(ConfigCli, LastOccurrenceWins) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--vram-gb", "1", "--vram-gb", "3"}).has_value());
    EXPECT_EQ(cfg.memory().vram_budget_gb, 3.0);
}

TEST(ConfigCli, Subcommands) {
    for (std::string_view sc : ConfigManager::kSubcommands) {
        ConfigManager cfg;
        ASSERT_TRUE(load(cfg, {"--vram-gb", "1", std::string(sc), "--raw"}).has_value()) << sc;
        EXPECT_EQ(cfg.subcommand(), sc);
        EXPECT_TRUE(cfg.sampling().raw);
    }
    expect_load_error({"frobnicate"}, ErrorCode::InvalidArgument, "unknown subcommand 'frobnicate'");
    expect_load_error({"generate", "extra"}, ErrorCode::InvalidArgument, "unexpected extra argument 'extra'");
    // After "--" everything is positional, even things that look like options.
    expect_load_error({"generate", "--", "--raw"}, ErrorCode::InvalidArgument, "unexpected extra argument '--raw'");
}

TEST(ConfigCli, ArgcArgvOverloadSkipsProgramName) {
    const char* argv[] = {"vk_symbiote", "chat", "--ram-gb", "0.5", nullptr};
    ConfigManager cfg;
    ASSERT_TRUE(cfg.load(4, argv, env_of({})).has_value());
    EXPECT_EQ(cfg.subcommand(), "chat");
    EXPECT_EQ(cfg.memory().ram_budget_gb, 0.5);
}

TEST(ConfigCli, Errors) {
    using E = ErrorCode;
    expect_load_error({"--bogus"}, E::InvalidArgument, "unknown option '--bogus'");
    expect_load_error({"--bogus=1"}, E::InvalidArgument, "unknown option '--bogus'");
    expect_load_error({"-x"}, E::InvalidArgument, "unknown option '-x'");
    expect_load_error({"--vram-gb", "abc"}, E::InvalidArgument, "--vram-gb: 'abc' is not a number");
    expect_load_error({"--vram-gb", "4GB"}, E::InvalidArgument, "--vram-gb: '4GB' is not a number");
    expect_load_error({"--vram-gb", "nan"}, E::InvalidArgument, "--vram-gb: 'nan' is not a number");
    expect_load_error({"--vram-gb"}, E::InvalidArgument, "--vram-gb: missing value");
    expect_load_error({"--vram-gb", "--ram-gb", "3"}, E::InvalidArgument, "--vram-gb: missing value");
    expect_load_error({"--model"}, E::InvalidArgument, "--model: missing value");
    expect_load_error({"--config"}, E::InvalidArgument, "--config: missing value");
    expect_load_error({"--vram-gb", "-1"}, E::InvalidArgument, "--vram-gb: '-1' is out of range");
    expect_load_error({"--ram-gb=-0.5"}, E::InvalidArgument, "--ram-gb: '-0.5' is out of range");
    expect_load_error({"--eviction-aggression", "1.5"}, E::InvalidArgument,
                      "--eviction-aggression: '1.5' is out of range [0, 1]");
    expect_load_error({"--eviction-aggression", "-0.1"}, E::InvalidArgument, "out of range");
    expect_load_error({"--workgroup-size", "0", "16"}, E::InvalidArgument, "--workgroup-size: '0' is out of range");
    expect_load_error({"--workgroup-size", "16", "0"}, E::InvalidArgument, "--workgroup-size: '0' is out of range");
    expect_load_error({"--workgroup-size", "16"}, E::InvalidArgument, "--workgroup-size: missing value");
    expect_load_error({"--workgroup-size=16"}, E::InvalidArgument, "--workgroup-size: takes two values");
    expect_load_error({"--threads", "-2"}, E::InvalidArgument, "--threads: '-2' is not a non-negative whole number");
    expect_load_error({"--max-tokens", "1.5"}, E::InvalidArgument, "--max-tokens: '1.5' is not a non-negative");
    expect_load_error({"--max-tokens", "99999999999"}, E::InvalidArgument, "--max-tokens: '99999999999' is out of range");
    expect_load_error({"--log-level", "LOUD"}, E::InvalidArgument,
                      "--log-level: 'LOUD' is not one of DEBUG,INFO,WARNING,ERROR");
    expect_load_error({"--compression-algorithm", "gzip"}, E::InvalidArgument, "is not one of none,blosc");
    expect_load_error({"--disable-gpu=yes"}, E::InvalidArgument, "--disable-gpu: takes no value");
    expect_load_error({"--top-p", "1.01"}, E::InvalidArgument, "--top-p: '1.01' is out of range");
    expect_load_error({"--device-index", "-2"}, E::InvalidArgument, "--device-index: '-2' is out of range");
}

TEST(ConfigCli, FailedLoadLeavesPreviousValues) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--vram-gb", "2", "generate"}).has_value());
    ExpectedVoid r = load(cfg, {"--ram-gb", "1", "--vram-gb", "oops"});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(cfg.memory().vram_budget_gb, 2.0);
    EXPECT_EQ(cfg.memory().ram_budget_gb, 16.0);
    EXPECT_EQ(cfg.subcommand(), "generate");
}

TEST(ConfigCli, HelpWinsAndListsEveryOption) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--bogus", "--help"}).has_value());
    EXPECT_TRUE(cfg.help_requested());
    ConfigManager h;
    ASSERT_TRUE(load(h, {"-h"}).has_value());
    EXPECT_TRUE(h.help_requested());

    const std::string help = cfg.help_text("vk_symbiote", true);  // --help-all: [tuning] too
    for (const std::string& flag : kDocumentedFlags) EXPECT_NE(help.find(flag), std::string::npos) << flag;
    for (const config::OptionSpec& o : config::option_table()) {
        // Every option is reachable from the help text: by flag or by INI key.
        EXPECT_NE(help.find(std::string("] ") + o.key), std::string::npos) << o.dotted();
        if (o.cli) {
            EXPECT_NE(help.find(o.cli), std::string::npos) << o.dotted();
        }
        if (o.env) {
            EXPECT_NE(help.find(o.env), std::string::npos) << o.env;
        }
    }
    for (std::string_view sc : ConfigManager::kSubcommands) EXPECT_NE(help.find(sc), std::string::npos);
    EXPECT_NE(help.find("VK_SYMBIOTE_CONFIG"), std::string::npos);
    EXPECT_NE(help.find("default: 4;"), std::string::npos) << help;  // --vram-gb default shown
    EXPECT_NE(help.find("--workgroup-size <x> <y>"), std::string::npos);
    EXPECT_NE(help.find("rmsnorm, attention and add kernels"), std::string::npos) << help;  // not the weight kernels
}

TEST(ConfigCli, PrefetchLookaheadHasOneSourceOfTruth) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--prefetch-lookahead", "7"}).has_value());
    EXPECT_EQ(cfg.memory().prefetch_lookahead, 7u);
    EXPECT_EQ(cfg.performance().prefetch_lookahead, 7u);  // synced mirror
    EXPECT_EQ(cfg.prefetch_lookahead(), 7u);
    cfg.performance().prefetch_lookahead = 5;  // the seed doc's code example
    EXPECT_EQ(cfg.prefetch_lookahead(), 5u);
    ASSERT_TRUE(cfg.set("memory.prefetch_lookahead", "9").has_value());
    EXPECT_EQ(cfg.prefetch_lookahead(), 9u);
    EXPECT_EQ(cfg.performance().prefetch_lookahead, 9u);
}

TEST(ConfigCli, SetAndValidate) {
    ConfigManager cfg;
    ASSERT_TRUE(cfg.set("memory.vram_budget_gb", "0.25").has_value());
    EXPECT_EQ(cfg.memory().vram_budget_gb, 0.25);
    ExpectedVoid bad = cfg.set("memory.nope", "1");
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().message.find("unknown option 'memory.nope'"), std::string::npos);
    ExpectedVoid range = cfg.set("memory.eviction_aggression", "2");
    ASSERT_FALSE(range.has_value());
    EXPECT_NE(range.error().message.find("option memory.eviction_aggression: '2' is out of range"), std::string::npos);

    EXPECT_TRUE(cfg.validate().has_value());
    cfg.performance().workgroup_size_x = 0;
    ExpectedVoid v = cfg.validate();
    ASSERT_FALSE(v.has_value());
    EXPECT_NE(v.error().message.find("performance.workgroup_size_x"), std::string::npos) << v.error().message;
    cfg.performance().workgroup_size_x = 16;
    cfg.logging().log_level = "chatty";
    ASSERT_FALSE(cfg.validate().has_value());
}

TEST(ConfigCli, InstanceIsOneObject) {
    EXPECT_EQ(&ConfigManager::instance(), &ConfigManager::instance());
    ConfigManager::instance().performance().prefetch_lookahead = 5;  // the seed doc's usage compiles
    ConfigManager::instance().reset();
    EXPECT_EQ(ConfigManager::instance().prefetch_lookahead(), 3u);
}

}  // namespace
}  // namespace vk_symbiote::test
