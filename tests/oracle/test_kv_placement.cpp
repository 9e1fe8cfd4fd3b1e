// KvPlacement: which layers' KV caches stay in VRAM under what the budget leaves them.
#include <gtest/gtest.h>

#include "oracle/KvPlacement.h"

namespace vk_symbiote {

namespace {

std::vector<KvLayerCost> layers(uint32 n, uint64 device, uint64 host) { return std::vector<KvLayerCost>(n, KvLayerCost{device, host, true}); }

}  // namespace

TEST(KvPlacement, EveryCacheStaysInVramWhileAllFit) {
    const KvPlacement p = place_kv(layers(4, 100, 200), 400);
    EXPECT_FALSE(p.any_in_ram());
    EXPECT_EQ(p.vram_bytes, 400u);
    EXPECT_EQ(p.ram_bytes, 0u);
    EXPECT_EQ(p.in_ram, std::vector<uint8>(4, 0));
}

TEST(KvPlacement, CachesThatDoNotFitGoToRamByLayerInOrder) {
    const KvPlacement p = place_kv(layers(4, 100, 200), 399);  // one byte short of all four
    EXPECT_EQ(p.in_ram, (std::vector<uint8>{0, 0, 0, 1}));
    EXPECT_EQ(p.ram_layers, 1u);
    EXPECT_EQ(p.vram_bytes, 300u);
    EXPECT_EQ(p.ram_bytes, 200u) << "RAM bytes are the host's (f32) size of the caches that left";
    const KvPlacement none = place_kv(layers(4, 100, 200), 99);
    EXPECT_EQ(none.ram_layers, 4u);
    EXPECT_EQ(none.vram_bytes, 0u);
    EXPECT_EQ(none.ram_bytes, 800u);
}

TEST(KvPlacement, CachesThatMustStayAreKeptFirstAndSmallerOnesFillTheRest) {
    std::vector<KvLayerCost> l = layers(4, 100, 200);
    l[2].may_leave = false;  // a sliding ring
    l[3].device_bytes = 30;  // a small cache still fits after layer 0 took its share
    const KvPlacement p = place_kv(l, 250);
    EXPECT_EQ(p.in_ram, (std::vector<uint8>{0, 1, 0, 0}));
    EXPECT_EQ(p.vram_bytes, 230u);
    // Even with no room at all, the caches that must stay are in VRAM (the VRAM plan then
    // states its minimum).
    const KvPlacement tight = place_kv(l, 0);
    EXPECT_EQ(tight.in_ram, (std::vector<uint8>{1, 1, 0, 1}));
    EXPECT_EQ(tight.vram_bytes, 100u);
}

TEST(KvPlacement, SummarySaysWhereTheCachesLiveAndTheirBytesPerTier) {
    const std::string s = place_kv(layers(3, uint64(1) << 20, uint64(2) << 20), uint64(1) << 20).summary();
    EXPECT_NE(s.find("1 of 3 layers in VRAM"), std::string::npos) << s;
    EXPECT_NE(s.find("2 in RAM"), std::string::npos) << s;
    EXPECT_EQ(place_kv(layers(2, 10, 20), 100).summary().find(" in RAM"), std::string::npos);
}

}  // namespace vk_symbiote
