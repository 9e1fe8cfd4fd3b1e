// Issue 26, defects 3 and 4: a run that will be refused does no work (no pack cache built or
// written, next to the model or anywhere), the pack cache build stays within --ram-gb by
// the builder's own accounting, and the minimum a refusal states is the one that then runs:
// the same whatever budget was asked for, without the GPU driver's reserve when the CPU
// path runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "gguf/GGUFLoader.h"
#include "model/LoadedModel.h"
#include "packs/PackCache.h"
#include "packs/PackPlanner.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"
#ifdef VKS_HAS_VULKAN
#include "backend/vulkan/VulkanBackend.h"
#endif

using namespace vk_symbiote;
namespace fs = std::filesystem;

namespace {

ConfigManager config(std::vector<std::string> args) {
    ConfigManager c;
    args.insert(args.end(), {"--log-level", "ERROR"});
    auto r = c.load(args, [](std::string_view) { return std::optional<std::string>(); });
    EXPECT_TRUE(r) << r.error().to_string();
    return c;
}

// A writable copy of stories260K alone in a fresh directory.
Path model_copy(const std::string& dir_name) {
    const Path dir = test::tmp_dir() / dir_name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(test::models_dir() / "stories260K.gguf", dir / "stories260K.gguf");
    return dir / "stories260K.gguf";
}

std::vector<std::string> entries(const Path& dir) {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
}

// The "minimum of X GiB" / "minimum is X GiB" figure of a refusal, as the option's text.
std::string stated_minimum(const std::string& message) {
    std::smatch m;
    if (!std::regex_search(message, m, std::regex("minimum (?:is|of) ([0-9.]+) GiB"))) return "";
    return m[1];
}

#ifdef VKS_HAS_VULKAN
// True on a machine whose default Vulkan device is a CPU implementation (lavapipe).
bool only_a_cpu_vulkan_device() {
    auto vb = VulkanBackend::create(VulkanOptions{});
    return vb && (*vb)->device().caps().is_cpu;
}
#endif

}  // namespace

// A RAM budget that will be refused: refused before the pack cache is built, so the model's
// directory stays as it was; the minimum stated then runs (and builds the cache).
TEST(BudgetRefusal, RefusedRamBudgetWritesNothingAndItsMinimumRuns) {
    const Path model = model_copy("refused-ram");
    const auto before = entries(model.parent_path());
    const std::vector<std::string> base = {"--disable-gpu", "--max-pack-mb", "0.0625", "--ctx-size", "64"};
    std::vector<std::string> tight = base;
    tight.insert(tight.end(), {"--ram-gb", "0.0001"});
    auto e = VulkanSymbioteEngine::create(model, config(tight));
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, ErrorCode::BudgetTooSmall) << e.error().to_string();
    EXPECT_EQ(entries(model.parent_path()), before) << "a refused run wrote into the model's directory";
    const std::string min = stated_minimum(e.error().message);
    ASSERT_FALSE(min.empty()) << e.error().message;

    std::vector<std::string> at_min = base;
    at_min.insert(at_min.end(), {"--ram-gb", min});
    auto ok = VulkanSymbioteEngine::create(model, config(at_min));
    ASSERT_TRUE(ok) << "the stated minimum " << min << " GiB was refused: " << ok.error().to_string();
    EXPECT_NE((*ok)->describe().find("weights streamed in packs"), std::string::npos) << (*ok)->describe();
    EXPECT_TRUE((*ok)->evaluate({1, 2, 3}));
}

// The build holds at most what --ram-gb allows: its thread count is cut to the budget, the
// peak of its own accounting stays under it, and a budget below one thread is refused
// before a byte is written.
TEST(BudgetRefusal, PackCacheBuildStaysWithinItsMemoryBudget) {
    const Path model = model_copy("build-budget");
    auto g = GGUFLoader::open(model);
    ASSERT_TRUE(g);
    auto lm = LoadedModel::open(model, false);
    ASSERT_TRUE(lm);
    auto plan = plan_packs((*lm)->registry(), {64 << 10});
    ASSERT_TRUE(plan);
    const uint64 per_thread = pack_cache_build_bytes_per_thread(plan->largest_pack_bytes);
    for (const uint64 budget : {per_thread, 2 * per_thread + per_thread / 2}) {
        PackCacheBuildStats stats;
        PackCacheOptions o;
        o.threads = 8;
        o.memory_budget_bytes = budget;
        o.stats = &stats;
        auto c = build_pack_cache(**g, *plan, o);
        ASSERT_TRUE(c) << c.error().to_string();
        EXPECT_EQ(stats.threads, unsigned(budget / per_thread));
        EXPECT_GT(stats.peak_held_bytes, plan->largest_pack_bytes);  // it counts what it holds
        EXPECT_LE(stats.peak_held_bytes, budget);
    }
    fs::remove(pack_cache_path(model, {}));
    const auto before = entries(model.parent_path());
    PackCacheOptions small;
    small.memory_budget_bytes = per_thread - 1;
    auto refused = build_pack_cache(**g, *plan, small);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::BudgetTooSmall);
    EXPECT_NE(refused.error().message.find("building the pack cache takes"), std::string::npos) << refused.error().message;
    EXPECT_EQ(entries(model.parent_path()), before);
}

#ifdef VKS_HAS_VULKAN
// A VRAM budget that will be refused: refused before the pack cache is built (the weights do
// not fit --ram-gb either, so a cache would be built first).
TEST(BudgetRefusal, RefusedVramBudgetWritesNothing) {
    auto vb = VulkanBackend::create(VulkanOptions{});
    if (!vb) GTEST_SKIP() << "no Vulkan device";
    const Path model = model_copy("refused-vram");
    const auto before = entries(model.parent_path());
    auto args = [](const std::string& ram_gb) {
        return config({"--device-index", "0", "--vram-gb", "0.0001", "--ram-gb", ram_gb, "--max-pack-mb", "0.0625", "--ctx-size", "64"});
    };
    auto ram = VulkanSymbioteEngine::create(model, args("0.05"));  // both too small: RAM is checked first
    ASSERT_FALSE(ram);
    const std::string ram_min = stated_minimum(ram.error().message);
    ASSERT_FALSE(ram_min.empty()) << ram.error().message;
    auto e = VulkanSymbioteEngine::create(model, args(ram_min));  // packs (and a cache) at the RAM minimum
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, ErrorCode::BudgetTooSmall) << e.error().to_string();
    EXPECT_NE(e.error().message.find("VRAM budget"), std::string::npos) << e.error().message;
    EXPECT_EQ(entries(model.parent_path()), before) << "a refused run wrote into the model's directory";
}

// The VRAM minimum stated is the same at any budget below it, and exactly it runs (the
// allocator's block size follows the budget; the minimum used to follow it too).
TEST(BudgetRefusal, VramMinimumIsTheOneThatRuns) {
    auto vb = VulkanBackend::create(VulkanOptions{});
    if (!vb) GTEST_SKIP() << "no Vulkan device";
    const Path model = test::models_dir() / "syn-f32.gguf";
    std::string first;
    for (const char* budget : {"0.0001", "0.002", "0.004"}) {
        auto e = VulkanSymbioteEngine::create(model, config({"--device-index", "0", "--vram-gb", budget, "--ctx-size", "256"}));
        ASSERT_FALSE(e) << "--vram-gb " << budget << " ran";
        const std::string min = stated_minimum(e.error().message);
        ASSERT_FALSE(min.empty()) << e.error().message;
        if (first.empty()) first = min;
        EXPECT_EQ(min, first) << "--vram-gb " << budget << ": " << e.error().message;
    }
    auto ok = VulkanSymbioteEngine::create(model, config({"--device-index", "0", "--vram-gb", first, "--ctx-size", "256"}));
    ASSERT_TRUE(ok) << "the stated minimum " << first << " GiB was refused: " << ok.error().to_string();
    EXPECT_EQ((*ok)->get_performance_metrics().backend, "vulkan");
}

// Only a CPU Vulkan device: the default selection runs the CPU path, so the RAM minimum is
// the CPU path's (no driver reserve) and the one engine line says why the CPU runs.
TEST(BudgetRefusal, CpuVulkanDeviceOnlyGivesTheCpuPathsRamMinimum) {
    if (!only_a_cpu_vulkan_device()) GTEST_SKIP() << "the default Vulkan device is not a CPU implementation";
    const Path model = model_copy("lavapipe-ram");
    const std::vector<std::string> tight = {"--ram-gb", "0.0001", "--max-pack-mb", "0.0625", "--ctx-size", "64"};
    std::vector<std::string> cpu = tight;
    cpu.push_back("--disable-gpu");
    auto by_default = VulkanSymbioteEngine::create(model, config(tight));
    auto cpu_only = VulkanSymbioteEngine::create(model, config(cpu));
    ASSERT_FALSE(by_default);
    ASSERT_FALSE(cpu_only);
    EXPECT_EQ(stated_minimum(by_default.error().message), stated_minimum(cpu_only.error().message)) << by_default.error().message;
    auto runs = VulkanSymbioteEngine::create(model, config({"--ctx-size", "64"}));
    ASSERT_TRUE(runs) << runs.error().to_string();
    EXPECT_EQ((*runs)->get_performance_metrics().backend, "cpu");
    EXPECT_NE((*runs)->describe().find("is a CPU implementation"), std::string::npos) << (*runs)->describe();
}
#endif
