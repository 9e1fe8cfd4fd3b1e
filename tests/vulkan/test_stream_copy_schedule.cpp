// StreamCopySchedule: every byte of every copy is recorded exactly once, before its consumer,
// never beside a group that still reads the old contents of its range, behind a barrier only
// when it cannot overlap, and spread over the pass by weight bytes. No device needed.
#include <gtest/gtest.h>

#include <map>

#include "backend/vulkan/StreamCopySchedule.h"

using namespace vk_symbiote;

namespace {

bool overlaps(const CopyRange& a, const CopyRange& b) { return a.begin < b.end && b.begin < a.end; }

// Checks the invariants; returns per group the bytes recorded before it.
std::vector<uint64> check(const StreamCopySchedule& s, const std::vector<CopyGroup>& groups, const std::vector<SlotCopy>& copies, uint64 chunk) {
    std::vector<uint64> per_group(groups.size(), 0);
    std::map<uint32, std::vector<std::pair<uint64, uint64>>> covered;  // copy -> [offset, end)
    uint64 total = 0, forced_bytes = 0;
    for (uint32 g = 0; g < s.groups(); ++g) {
        const auto& is = s.before(g);
        EXPECT_LE(s.forced(g), is.size());
        for (size_t i = 0; i < is.size(); ++i) {
            const CopyIssue& c = is[i];
            const SlotCopy& sc = copies[c.copy];
            EXPECT_GT(c.bytes, 0u);
            EXPECT_LE(c.bytes, chunk);
            EXPECT_EQ(c.offset % chunk, 0u) << "split off a multiple of the chunk size";
            const CopyRange r{sc.dst.begin + c.offset, sc.dst.begin + c.offset + c.bytes};
            EXPECT_LE(r.end, sc.dst.end);
            const bool forced = i < s.forced(g);
            if (forced) {
                EXPECT_EQ(g, sc.consumer) << "a forced chunk is consumed by the group it precedes";
                forced_bytes += c.bytes;
            } else {
                EXPECT_LT(g, sc.consumer) << "copy " << c.copy << " recorded beside its own consumer without a barrier";
            }
            // No group from g (it runs beside it) up to the consumer reads the old contents.
            for (uint32 j = g; j < sc.consumer; ++j)
                for (const CopyRange& rd : groups[j].reads) EXPECT_FALSE(overlaps(rd, r)) << "group " << j << " reads what copy " << c.copy << " overwrites at " << g;
            covered[c.copy].push_back({c.offset, c.offset + c.bytes});
            per_group[g] += c.bytes;
            total += c.bytes;
        }
    }
    for (uint32 c = 0; c < copies.size(); ++c) {
        auto v = covered[c];
        std::sort(v.begin(), v.end());
        uint64 at = 0;
        for (auto [b, e] : v) {
            EXPECT_EQ(b, at) << "copy " << c << ": gap or overlap";
            at = e;
        }
        EXPECT_EQ(at, copies[c].dst.end - copies[c].dst.begin) << "copy " << c << " not fully recorded";
    }
    EXPECT_EQ(total, s.total_bytes());
    EXPECT_EQ(forced_bytes, s.unoverlapped_bytes());
    return per_group;
}

// A Llama-like layer in one slot of `slot` bytes: groups QKV, O, gate/up, down reading
// [0, 3a), [3a, 4a), [4a, 4a + 2f), [4a + 2f, 4a + 3f).
constexpr uint64 A = 32 << 10, F = 86 << 10, SLOT = 4 * A + 3 * F;

}  // namespace

TEST(StreamCopySchedule, OneSlotLayersOverlapWithoutOverwritingLiveWeights) {
    // Two resident layers, then three streamed layers through one slot (each streamed
    // layer's copies land where the previous streamed layer's weights were read).
    std::vector<CopyGroup> groups;
    std::vector<SlotCopy> copies;
    const CopyRange qkv{0, 3 * A}, o{3 * A, 4 * A}, gu{4 * A, 4 * A + 2 * F}, dn{4 * A + 2 * F, SLOT};
    for (uint32 l = 0; l < 5; ++l) {
        const bool streamed = l >= 2;
        const uint32 g0 = uint32(groups.size());
        groups.push_back({3 * A, streamed ? std::vector<CopyRange>{qkv} : std::vector<CopyRange>{}});
        groups.push_back({A, streamed ? std::vector<CopyRange>{o} : std::vector<CopyRange>{}});
        groups.push_back({2 * F, streamed ? std::vector<CopyRange>{gu} : std::vector<CopyRange>{}});
        groups.push_back({F, streamed ? std::vector<CopyRange>{dn} : std::vector<CopyRange>{}});
        if (streamed)
            for (uint32 i = 0; i < 4; ++i) copies.push_back({g0 + i, i == 0 ? qkv : i == 1 ? o : i == 2 ? gu : dn, l});
    }
    groups.push_back({F, {}});  // the head, resident
    const uint64 chunk = 16 << 10;
    StreamCopySchedule s(groups, copies, chunk);
    auto per = check(s, groups, copies, chunk);
    // The first streamed layer's copies run beside the resident layers (the slot is free).
    uint64 resident_part = 0;
    for (uint32 g = 0; g < 8; ++g) resident_part += per[g];
    EXPECT_GE(resident_part, SLOT) << "layer 2's weights should cross during layers 0-1";
    // The long gate/up kernels of streamed layers with a successor get copies beside them too
    // (the next layer's Q/K/V/O, not all recorded beside the short O kernel before).
    for (uint32 l = 2; l < 4; ++l) EXPECT_GT(per[l * 4 + 2], 0u) << "layer " << l << " gate/up";
    // One slot, Llama layout: every later chunk can still overlap (the O region frees after
    // O, the FFN regions after the FFN kernels), so nothing waits behind a barrier.
    EXPECT_EQ(s.unoverlapped_bytes(), 0u);
}

TEST(StreamCopySchedule, ForcedBehindABarrierWhenThePreviousGroupReadsTheRange) {
    // Group 0 reads [0, 64); group 1 needs new contents of [0, 64): nothing can overlap.
    std::vector<CopyGroup> groups = {{100, {{0, 64}}}, {100, {{0, 64}}}};
    std::vector<SlotCopy> copies = {{1, {0, 64}, 0}};
    StreamCopySchedule s(groups, copies, 16);
    check(s, groups, copies, 16);
    EXPECT_EQ(s.forced(1), 4u);
    EXPECT_EQ(s.unoverlapped_bytes(), 64u);
    EXPECT_TRUE(s.before(0).empty());
}

TEST(StreamCopySchedule, SpreadsByWeightBytes) {
    // Copies free from the start, consumed by the last group: recorded in proportion to the
    // groups' weight bytes before it (3 : 1 : 0), not all beside the first group.
    std::vector<CopyGroup> groups = {{300, {}}, {100, {}}, {0, {{0, 4096}}}};
    std::vector<SlotCopy> copies = {{2, {0, 4096}, 0}};
    StreamCopySchedule s(groups, copies, 256);
    auto per = check(s, groups, copies, 256);
    EXPECT_NEAR(double(per[0]), 0.75 * 4096, 256 + 16);
    EXPECT_EQ(per[0] + per[1], 4096u) << "everything before the consumer's predecessor ends";
    EXPECT_EQ(s.unoverlapped_bytes(), 0u);
}

TEST(StreamCopySchedule, ShortGroupDefersToTheLongOneAfterIt) {
    // The range frees after group 0; group 1 is short, group 2 long, group 3 consumes: the
    // short group takes its share only, the long one the rest.
    std::vector<CopyGroup> groups = {{10, {{0, 160}}}, {10, {}}, {100, {}}, {10, {{0, 160}}}};
    std::vector<SlotCopy> copies = {{3, {0, 160}, 0}};
    StreamCopySchedule s(groups, copies, 16);
    auto per = check(s, groups, copies, 16);
    EXPECT_EQ(per[0], 0u);
    EXPECT_LE(per[1], 32u);
    EXPECT_GE(per[2], 128u);
    EXPECT_EQ(s.unoverlapped_bytes(), 0u);
}

TEST(StreamCopySchedule, FirstGroupConsumerIsForced) {
    std::vector<CopyGroup> groups = {{10, {{0, 32}}}, {10, {}}};
    std::vector<SlotCopy> copies = {{0, {0, 32}, 0}};
    StreamCopySchedule s(groups, copies, 16);
    check(s, groups, copies, 16);
    EXPECT_EQ(s.forced(0), 2u);
    EXPECT_EQ(s.unoverlapped_bytes(), 32u);
}
