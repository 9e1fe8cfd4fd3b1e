// --devices and per-device --vram-gb (several Vulkan devices): the list through every layer
// (command line, INI, environment), each value checked like a single budget, the dump
// round-trips it; the engine's parsing of the device list and budgets per device, with bad
// input refused naming the entry.
#include <gtest/gtest.h>

#include "ConfigTestUtil.h"
#include "engine/MultiDeviceSetup.h"

namespace vk_symbiote::test {
namespace {

TEST(ConfigDevices, VramBudgetListGivesOnePerDeviceAndTheFirstAsTheBudget) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--devices", "0,1", "--vram-gb", "4,8"}).has_value());
    EXPECT_EQ(cfg.performance().devices, "0,1");
    EXPECT_EQ(cfg.memory().vram_budget_gb, 4.0);
    EXPECT_EQ(cfg.memory().vram_budgets_gb, (std::vector<double>{4.0, 8.0}));
    auto b = device_budgets(cfg.memory(), 2);
    ASSERT_TRUE(b);
    EXPECT_EQ(*b, (std::vector<uint64>{uint64(4) << 30, uint64(8) << 30}));
    ConfigManager ini;
    const Path p = write_ini("devices.ini", "[performance]\ndevices = all\n[memory]\nvram_budget_gb = 2,0.5\n");
    ASSERT_TRUE(load(ini, {"--config", p.string()}).has_value());
    EXPECT_EQ(ini.performance().devices, "all");
    EXPECT_EQ(ini.memory().vram_budgets_gb, (std::vector<double>{2.0, 0.5}));
}

TEST(ConfigDevices, OneBudgetIsEveryDevicesAndNoneIsTheDevicesOwn) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--devices", "0,0", "--vram-gb", "3"}).has_value());
    auto b = device_budgets(cfg.memory(), 2);
    ASSERT_TRUE(b);
    EXPECT_EQ(*b, (std::vector<uint64>{uint64(3) << 30, uint64(3) << 30}));
    ConfigManager unset;
    ASSERT_TRUE(load(unset, {"--devices", "0,0"}).has_value());
    EXPECT_EQ(*device_budgets(unset.memory(), 2), (std::vector<uint64>{0, 0}));
}

TEST(ConfigDevices, BadListsAreRefusedByEntry) {
    expect_load_error({"--vram-gb", "4,abc"}, ErrorCode::InvalidArgument, "--vram-gb: 'abc' is not a number");
    expect_load_error({"--vram-gb", "4,1e-12"}, ErrorCode::InvalidArgument, "is less than one byte");
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--devices", "0,1", "--vram-gb", "4,8,2"}).has_value());
    auto b = device_budgets(cfg.memory(), 2);
    ASSERT_FALSE(b);
    EXPECT_NE(b.error().message.find("--vram-gb: 3 budgets for 2 devices"), std::string::npos) << b.error().message;
    auto l = parse_device_list("0,x");
    ASSERT_FALSE(l);
    EXPECT_NE(l.error().message.find("'x' in '0,x' is not a device index"), std::string::npos) << l.error().message;
    EXPECT_FALSE(parse_device_list("0,"));
    EXPECT_EQ(*parse_device_list("2,0"), (std::vector<int32>{2, 0}));
    EXPECT_TRUE(parse_device_list("all")->empty());
}

TEST(ConfigDevices, DumpRoundTripsTheList) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--devices", "0,1", "--vram-gb", "4,8.5"}).has_value());
    const std::string dump = cfg.dump();
    EXPECT_NE(dump.find("vram_budget_gb = 4,8.5"), std::string::npos) << dump;
    EXPECT_NE(dump.find("devices = 0,1"), std::string::npos) << dump;
}

}  // namespace
}  // namespace vk_symbiote::test
