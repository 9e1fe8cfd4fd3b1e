#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <thread>

#include "memory/FractalMemoryAllocator.h"

using namespace vk_symbiote;

namespace {

// Checks that live allocations never overlap each other or a free chunk, that every
// allocation respects its alignment, and that the byte accounting adds up.
void check_invariants(const FractalMemoryAllocator& fa, const std::vector<std::pair<MemoryAllocation, uint64>>& live) {
    struct Range { uint64 block, begin, end; };
    std::vector<Range> ranges;
    uint64 in_use = 0;
    for (const auto& [a, align] : live) {
        ASSERT_EQ(a.offset % align, 0u) << "offset " << a.offset << " align " << align;
        ASSERT_GE(a.chunk_size, a.size);
        if (a.dedicated) continue;
        ranges.push_back({a.block_index, a.offset, a.offset + a.chunk_size});
        in_use += a.chunk_size;
    }
    for (const auto& c : fa.free_chunks()) ranges.push_back({c[0], c[1], c[1] + c[2]});
    std::sort(ranges.begin(), ranges.end(), [](const Range& x, const Range& y) {
        return x.block != y.block ? x.block < y.block : x.begin < y.begin;
    });
    for (size_t i = 1; i < ranges.size(); ++i)
        if (ranges[i].block == ranges[i - 1].block) {
            ASSERT_LE(ranges[i - 1].end, ranges[i].begin) << "overlap";
        }
    const auto s = fa.stats();
    uint64 ded = 0;
    for (const auto& [a, align] : live)
        if (a.dedicated) ded += a.chunk_size;
    ASSERT_EQ(s.bytes_in_use, in_use + ded);
    ASSERT_EQ(s.live_allocations, live.size());
}

}  // namespace

TEST(FractalAllocator, SplitAndMergeBack) {
    HostBlockSource src;
    FractalMemoryAllocator fa(src, 1 << 20, 256);
    auto a = fa.allocate(1000);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->chunk_size, 1024u);
    EXPECT_EQ(a->offset, 0u);
    auto b = fa.allocate(1000);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->offset, 1024u);  // the buddy of a
    fa.free(*a);
    fa.free(*b);
    auto chunks = fa.free_chunks();
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0][2], uint64(1) << 20);
    EXPECT_DOUBLE_EQ(fa.stats().external_fragmentation(), 0.0);
}

TEST(FractalAllocator, ErrorsAndDedicated) {
    HostBlockSource src(uint64(8) << 20);
    FractalMemoryAllocator fa(src, 1 << 20, 256);
    EXPECT_FALSE(fa.allocate(0));
    auto bad_align = fa.allocate(64, 48);
    ASSERT_FALSE(bad_align);
    EXPECT_EQ(bad_align.error().code, ErrorCode::InvalidArgument);
    auto big = fa.allocate(3 << 20);  // larger than a block: dedicated
    ASSERT_TRUE(big) << big.error().to_string();
    EXPECT_TRUE(big->dedicated);
    auto too_big = fa.allocate(uint64(9) << 20);  // larger than the source's max allocation
    ASSERT_FALSE(too_big);
    EXPECT_EQ(too_big.error().code, ErrorCode::OutOfMemory);
    EXPECT_NE(too_big.error().message.find("max allocation"), std::string::npos);
    fa.free(*big);
    EXPECT_EQ(fa.stats().bytes_reserved, 0u);
}

TEST(FractalAllocator, AlignmentLargerThanSize) {
    HostBlockSource src;
    FractalMemoryAllocator fa(src, 1 << 16, 64);
    auto a = fa.allocate(100);
    auto b = fa.allocate(10, 4096);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(b->offset % 4096, 0u);
    // The host pointer of an allocation is block base + offset and is writable.
    std::fill_n(static_cast<char*>(b->mapped), 10, 'x');
    fa.free(*a);
    fa.free(*b);
}

TEST(FractalAllocator, RandomizedInvariantsAndFragmentation) {
    HostBlockSource src;
    FractalMemoryAllocator fa(src, 1 << 20, 256);
    std::mt19937_64 rng(1234);
    std::vector<std::pair<MemoryAllocation, uint64>> live;
    double frag_sum = 0;
    int frag_n = 0;
    for (int step = 0; step < 4000; ++step) {
        const bool do_alloc = live.empty() || (rng() % 100) < 55;
        if (do_alloc) {
            uint64 size = 1 + rng() % ((rng() % 10 == 0) ? (3u << 20) : 20000u);  // some dedicated
            uint64 align = uint64(1) << (rng() % 13);
            auto a = fa.allocate(size, align);
            ASSERT_TRUE(a) << a.error().to_string();
            live.push_back({*a, align});
        } else {
            size_t i = rng() % live.size();
            fa.free(live[i].first);
            live.erase(live.begin() + long(i));
        }
        if (step % 50 == 0) {
            check_invariants(fa, live);
            frag_sum += fa.stats().external_fragmentation();
            ++frag_n;
        }
    }
    const auto s = fa.stats();
    std::printf("[ fractal ] live=%llu in_use=%llu reserved=%llu largest_free=%llu external_fragmentation=%.4f (mean %.4f)\n",
                (unsigned long long)s.live_allocations, (unsigned long long)s.bytes_in_use,
                (unsigned long long)s.bytes_reserved, (unsigned long long)s.largest_free_block,
                s.external_fragmentation(), frag_sum / frag_n);
    for (auto& [a, align] : live) fa.free(a);
    live.clear();
    check_invariants(fa, live);
    // Everything merged back: each remaining block is one free chunk of block size.
    EXPECT_EQ(fa.free_chunks().size(), fa.stats().blocks);
    for (const auto& c : fa.free_chunks()) EXPECT_EQ(c[2], fa.block_size());
    EXPECT_EQ(fa.stats().bytes_in_use, 0u);
    fa.trim();
    EXPECT_EQ(fa.stats().bytes_reserved, 0u);
}

TEST(FractalAllocator, ConcurrentAllocFree) {
    HostBlockSource src;
    FractalMemoryAllocator fa(src, 1 << 20, 256);
    auto worker = [&](uint64 seed) {
        std::mt19937_64 rng(seed);
        std::vector<MemoryAllocation> mine;
        for (int i = 0; i < 2000; ++i) {
            if (mine.empty() || rng() % 2) {
                auto a = fa.allocate(1 + rng() % 5000, 16);
                ASSERT_TRUE(a);
                // Write a pattern; an overlap with another thread would corrupt it.
                std::fill_n(static_cast<unsigned char*>(a->mapped), a->size, static_cast<unsigned char>(seed));
                mine.push_back(*a);
            } else {
                auto a = mine.back();
                mine.pop_back();
                auto* p = static_cast<unsigned char*>(a.mapped);
                for (uint64 k = 0; k < a.size; ++k) ASSERT_EQ(p[k], static_cast<unsigned char>(seed));
                fa.free(a);
            }
        }
        for (auto& a : mine) fa.free(a);
    };
    std::thread t1(worker, 1), t2(worker, 2), t3(worker, 3);
    t1.join();
    t2.join();
    t3.join();
    EXPECT_EQ(fa.stats().live_allocations, 0u);
    EXPECT_EQ(fa.stats().bytes_in_use, 0u);
}
