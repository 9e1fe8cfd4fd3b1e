// StagePlan: --budgets parsing and the proportional split of layers over ranks.
#include <gtest/gtest.h>

#include "pipeline/StagePlan.h"

using namespace vk_symbiote;
using namespace vk_symbiote::pipeline;

TEST(StagePlan, ParsesBudgetsWithOptionalSpeed) {
    auto b = parse_budgets("4:16,8:32:2");
    ASSERT_TRUE(b) << b.error().message;
    ASSERT_EQ(b->size(), 2u);
    EXPECT_DOUBLE_EQ((*b)[0].vram_gb, 4);
    EXPECT_DOUBLE_EQ((*b)[0].ram_gb, 16);
    EXPECT_DOUBLE_EQ((*b)[0].speed, 1);
    EXPECT_DOUBLE_EQ((*b)[1].weight(), 80);
}

TEST(StagePlan, RefusesMalformedBudgetsNamingTheEntry) {
    for (const char* bad : {"", "4", "4:x", "4:16:0", "4:-1", "4:16:1:1", "4:16,,8:32"}) {
        auto b = parse_budgets(bad);
        ASSERT_FALSE(b) << bad;
        EXPECT_NE(b.error().message.find("--budgets"), std::string::npos) << b.error().message;
    }
}

TEST(StagePlan, SplitsLayersInProportionContiguously) {
    auto r = plan_stages(32, {{4, 16, 1}, {8, 32, 1}, {4, 16, 1}});  // weights 20 : 40 : 20
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[0].first, 0u);
    EXPECT_EQ((*r)[0].end, 8u);
    EXPECT_EQ((*r)[1].end, 24u);
    EXPECT_EQ((*r)[2].end, 32u);
}

TEST(StagePlan, EveryRankHoldsAtLeastOneLayer) {
    auto r = plan_stages(5, {{0, 100, 1}, {0, 0.001, 1}, {0, 0.001, 1}});
    ASSERT_TRUE(r) << r.error().message;
    uint32 next = 0;
    for (const LayerRange& l : *r) {
        EXPECT_EQ(l.first, next);
        EXPECT_GE(l.count(), 1u);
        next = l.end;
    }
    EXPECT_EQ(next, 5u);
    EXPECT_EQ((*r)[0].count(), 3u);
}

TEST(StagePlan, RefusesMoreRanksThanLayersAndZeroBudgets) {
    auto many = plan_stages(2, {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}});
    ASSERT_FALSE(many);
    EXPECT_NE(many.error().message.find("3 ranks for 2 layers"), std::string::npos) << many.error().message;
    EXPECT_FALSE(plan_stages(4, {{0, 0, 1}, {0, 0, 1}}));
}
