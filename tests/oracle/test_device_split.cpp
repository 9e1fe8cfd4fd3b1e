// DeviceSplit: layers in contiguous ranges across devices, in proportion to their weights (VRAM
// budget x speed), at least one layer each, the head's bytes on the last device.
#include <gtest/gtest.h>

#include "oracle/DeviceSplit.h"

namespace vk_symbiote {
namespace {

uint32 total(const std::vector<LayerRange>& r) {
    uint32 n = 0;
    for (size_t d = 0; d < r.size(); ++d) {
        EXPECT_EQ(r[d].first, n) << "device " << d << " starts where the one before ends";
        EXPECT_GE(r[d].count, 1u) << "device " << d;
        n += r[d].count;
    }
    return n;
}

TEST(DeviceSplit, EqualWeightsSplitEvenlyAndBudgetsProportionally) {
    const std::vector<uint64> layers(32, 100);
    auto even = split_layers(layers, 0, {1, 1});
    ASSERT_TRUE(even);
    EXPECT_EQ(*even, (std::vector<LayerRange>{{0, 16}, {16, 16}}));
    auto twice = split_layers(layers, 0, {4, 8});  // --vram-gb 4,8
    ASSERT_TRUE(twice);
    EXPECT_EQ(total(*twice), 32u);
    EXPECT_EQ((*twice)[0].count, 11u) << "a third of the bytes";
    auto three = split_layers(layers, 0, {1, 1, 2});
    ASSERT_TRUE(three);
    EXPECT_EQ(*three, (std::vector<LayerRange>{{0, 8}, {8, 8}, {16, 16}}));
}

TEST(DeviceSplit, TheHeadCountsOnTheLastDevice) {
    const std::vector<uint64> layers(8, 100);
    auto r = split_layers(layers, 400, {1, 1});  // 1200 bytes: 600 each, the last has the head's 400
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (std::vector<LayerRange>{{0, 6}, {6, 2}}));
}

TEST(DeviceSplit, EveryDeviceGetsALayerEvenWithATinyWeight) {
    const std::vector<uint64> layers(4, 100);
    auto r = split_layers(layers, 0, {1000, 1});
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (std::vector<LayerRange>{{0, 3}, {3, 1}}));
    auto first_tiny = split_layers(layers, 0, {1, 1000});
    ASSERT_TRUE(first_tiny);
    EXPECT_EQ(*first_tiny, (std::vector<LayerRange>{{0, 1}, {1, 3}}));
}

TEST(DeviceSplit, MoreDevicesThanLayersOrNoBudgetIsRefused) {
    auto many = split_layers(std::vector<uint64>(2, 1), 0, {1, 1, 1});
    ASSERT_FALSE(many);
    EXPECT_NE(many.error().message.find("3 devices for a model of 2 layers"), std::string::npos) << many.error().message;
    auto zero = split_layers(std::vector<uint64>(4, 1), 0, {1, 0});
    ASSERT_FALSE(zero);
    EXPECT_NE(zero.error().message.find("device 1 has no budget"), std::string::npos) << zero.error().message;
}

}  // namespace
}  // namespace vk_symbiote
