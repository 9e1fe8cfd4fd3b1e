// Budgets above what the machine has are said in one line with the machine's figure.
#include <gtest/gtest.h>

#include "engine/BudgetCheck.h"

namespace vk_symbiote {
namespace {

constexpr uint64 kGiB = uint64(1) << 30;

TEST(BudgetCheck, RamAbovePhysicalMemoryWarnsWithTheMachinesFigure) {
    MemoryConfig m;
    m.ram_budget_gb = 64;
    auto w = ram_budget_warning(m, 24 * kGiB);
    ASSERT_TRUE(w);
    EXPECT_NE(w->find("--ram-gb 64.00 GiB"), std::string::npos) << *w;
    EXPECT_NE(w->find("physical memory (24.00 GiB)"), std::string::npos) << *w;
    m.ram_budget_gb = 16;
    EXPECT_FALSE(ram_budget_warning(m, 24 * kGiB));
    EXPECT_FALSE(ram_budget_warning(m, 0)) << "unknown machine size: no warning";
}

TEST(BudgetCheck, VramAboveTheDeviceWarnsWithTheDevicesFigure) {
    MemoryConfig m;
    m.vram_budget_gb = 70;
    auto w = vram_budget_warning(m, 8 * kGiB, "Test GPU");
    ASSERT_TRUE(w);
    EXPECT_NE(w->find("Test GPU (8.00 GiB)"), std::string::npos) << *w;
    m.vram_budget_gb = 4;
    EXPECT_FALSE(vram_budget_warning(m, 8 * kGiB, "Test GPU"));
    m.vram_budget_gb = 0;  // the device's own budget
    EXPECT_FALSE(vram_budget_warning(m, 8 * kGiB, "Test GPU"));
}

TEST(BudgetCheck, PhysicalMemoryIsKnownHere) { EXPECT_GT(physical_ram_bytes(), uint64(256) << 20); }

}  // namespace
}  // namespace vk_symbiote
