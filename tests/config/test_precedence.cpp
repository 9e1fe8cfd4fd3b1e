// Layering: defaults < INI < environment < command line, for the same key, and the env vars.
#include <gtest/gtest.h>

#include "ConfigTestUtil.h"

namespace vk_symbiote::test {
namespace {

TEST(ConfigPrecedence, DefaultsIniEnvCliForTheSameKey) {
    Path ini = write_ini("prec.ini", "[memory]\nvram_budget_gb = 6\nram_budget_gb = 12\nprefetch_lookahead = 2\n");
    const std::string cfgarg = "--config=" + ini.string();

    ConfigManager c0;
    ASSERT_TRUE(load(c0, {}).has_value());
    EXPECT_EQ(c0.memory().vram_budget_gb, 4.0);  // default

    ConfigManager c1;
    ASSERT_TRUE(load(c1, {cfgarg}).has_value());
    EXPECT_EQ(c1.memory().vram_budget_gb, 6.0);  // INI beats default

    ConfigManager c2;
    ASSERT_TRUE(load(c2, {cfgarg}, {{"VK_SYMBIOTE_VRAM_GB", "8"}}).has_value());
    EXPECT_EQ(c2.memory().vram_budget_gb, 8.0);  // env beats INI
    EXPECT_EQ(c2.memory().ram_budget_gb, 12.0);  // INI still applies to other keys

    ConfigManager c3;
    ASSERT_TRUE(load(c3, {"--vram-gb", "10", cfgarg}, {{"VK_SYMBIOTE_VRAM_GB", "8"}}).has_value());
    EXPECT_EQ(c3.memory().vram_budget_gb, 10.0);  // CLI beats env, wherever --config is

    ConfigManager c4;
    ASSERT_TRUE(load(c4, {cfgarg, "--prefetch-lookahead", "9"},
                     {{"VK_SYMBIOTE_PREFETCH", "5"}, {"VK_SYMBIOTE_RAM_GB", "0.75"}})
                    .has_value());
    EXPECT_EQ(c4.memory().prefetch_lookahead, 9u);
    EXPECT_EQ(c4.prefetch_lookahead(), 9u);
    EXPECT_EQ(c4.memory().ram_budget_gb, 0.75);
}

TEST(ConfigPrecedence, ConfigFileFromEnvUnlessCliNamesOne) {
    Path a = write_ini("a.ini", "[memory]\nvram_budget_gb = 1\n");
    Path b = write_ini("b.ini", "[memory]\nvram_budget_gb = 2\n");
    ConfigManager c1;
    ASSERT_TRUE(load(c1, {}, {{"VK_SYMBIOTE_CONFIG", a.string()}}).has_value());
    EXPECT_EQ(c1.memory().vram_budget_gb, 1.0);
    EXPECT_EQ(c1.config_path(), a.string());
    ConfigManager c2;
    ASSERT_TRUE(load(c2, {"--config", b.string()}, {{"VK_SYMBIOTE_CONFIG", a.string()}}).has_value());
    EXPECT_EQ(c2.memory().vram_budget_gb, 2.0);
    EXPECT_EQ(c2.config_path(), b.string());
}

TEST(ConfigPrecedence, EnvironmentValuesAreValidated) {
    expect_load_error({}, ErrorCode::Config, "environment VK_SYMBIOTE_VRAM_GB: 'abc' is not a number",
                      {{"VK_SYMBIOTE_VRAM_GB", "abc"}});
    expect_load_error({}, ErrorCode::Config, "environment VK_SYMBIOTE_RAM_GB: '-1' is out of range",
                      {{"VK_SYMBIOTE_RAM_GB", "-1"}});
    expect_load_error({}, ErrorCode::Config, "environment VK_SYMBIOTE_PREFETCH: '2.5' is not a non-negative whole number",
                      {{"VK_SYMBIOTE_PREFETCH", "2.5"}});
    // An empty variable counts as unset.
    ConfigManager c;
    ASSERT_TRUE(load(c, {}, {{"VK_SYMBIOTE_VRAM_GB", ""}, {"VK_SYMBIOTE_CONFIG", ""}}).has_value());
    EXPECT_EQ(c.memory().vram_budget_gb, 4.0);
    // A bad env value is an error even when the CLI would override it: the user should know.
    expect_load_error({"--vram-gb", "2"}, ErrorCode::Config, "VK_SYMBIOTE_VRAM_GB",
                      {{"VK_SYMBIOTE_VRAM_GB", "x"}});
}

TEST(ConfigPrecedence, ModelsDirFromEnvironmentResolvesBareNames) {
    Path dir = tmp_dir() / "models_here";
    std::filesystem::create_directories(dir);
    write_ini("models_here/tiny.gguf", "GGUF");
    ConfigManager c;
    ASSERT_TRUE(load(c, {"--model", "tiny.gguf"}, {{"VK_SYMBIOTE_MODELS_DIR", dir.string()}}).has_value());
    EXPECT_EQ(c.model().models_dir, dir.string());
    Expected<Path> p = c.resolve_model_path();
    ASSERT_TRUE(p.has_value()) << p.error().to_string();
    EXPECT_EQ(*p, dir / "tiny.gguf");

    ConfigManager missing;
    ASSERT_TRUE(load(missing, {"--model", "nope.gguf"}, {{"VK_SYMBIOTE_MODELS_DIR", dir.string()}}).has_value());
    Expected<Path> q = missing.resolve_model_path();
    ASSERT_FALSE(q.has_value());
    EXPECT_EQ(q.error().code, ErrorCode::NotFound);
    EXPECT_NE(q.error().message.find("model 'nope.gguf' not found"), std::string::npos);

    ConfigManager none;
    Expected<Path> n = none.resolve_model_path();
    ASSERT_FALSE(n.has_value());
    EXPECT_NE(n.error().message.find("--model"), std::string::npos);

    // The compile-time default points into ../shared/models.
    EXPECT_NE(ConfigManager().model().models_dir.find("models"), std::string::npos);
}

TEST(ConfigPrecedence, LoadResetsToDefaultsFirst) {
    ConfigManager c;
    ASSERT_TRUE(load(c, {"--vram-gb", "1", "--prompt", "x"}).has_value());
    ASSERT_TRUE(load(c, {"--ram-gb", "2"}).has_value());
    EXPECT_EQ(c.memory().vram_budget_gb, 4.0);
    EXPECT_FALSE(c.sampling().prompt_set);
}

}  // namespace
}  // namespace vk_symbiote::test
