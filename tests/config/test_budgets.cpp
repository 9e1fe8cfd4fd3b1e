// Budgets that would round to zero bytes are refused where they are given: 0 bytes reads as
// "the device's own budget" (VRAM) or "nothing" (RAM), never what a user of 1e-12 GB meant.
#include <gtest/gtest.h>

#include "ConfigTestUtil.h"

namespace vk_symbiote::test {
namespace {

TEST(ConfigBudgets, ABudgetBelowOneByteIsRefusedOnEveryLayer) {
    expect_load_error({"--vram-gb", "1e-12"}, ErrorCode::InvalidArgument, "--vram-gb: '1e-12' is less than one byte");
    expect_load_error({"--ram-gb=1e-10"}, ErrorCode::InvalidArgument, "--ram-gb: '1e-10' is less than one byte");
    expect_load_error({}, ErrorCode::Config, "is less than one byte", {{"VK_SYMBIOTE_VRAM_GB", "0.0000000001"}});
    const Path ini = write_ini("tiny-budget.ini", "[memory]\nram_budget_gb = 1e-11\n");
    expect_load_error({"--config", ini.string()}, ErrorCode::Config, "is less than one byte");
    ConfigManager cfg;
    EXPECT_FALSE(cfg.set("memory.vram_budget_gb", "5e-10").has_value());
}

TEST(ConfigBudgets, ZeroAndOneByteAreAccepted) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--vram-gb", "0", "--ram-gb", "9.4e-10"}).has_value());  // 9.4e-10 GB > 1 byte
    EXPECT_EQ(cfg.memory().vram_budget_bytes(), 0u);
    EXPECT_EQ(cfg.memory().ram_budget_bytes(), 1u);
}

}  // namespace
}  // namespace vk_symbiote::test
