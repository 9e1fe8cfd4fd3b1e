// ThreadPool::parallel_for: every item exactly once, chunks of at least `grain` items and
// at most `max_chunk` (when that is not below grain), about 4 per worker otherwise.
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "backend/cpu/ThreadPool.h"

using namespace vk_symbiote;
using vk_symbiote::cpu::ThreadPool;

namespace {

struct Split {
    std::vector<uint32> hits;
    uint64 smallest = ~uint64(0), largest = 0, chunks = 0;
};

Split split(ThreadPool& pool, uint64 n, uint64 grain, uint64 max_chunk) {
    Split s;
    s.hits.assign(n, 0);
    std::mutex mu;
    pool.parallel_for(n, grain, [&](uint64 b, uint64 e, uint32 w) {
        EXPECT_LT(w, pool.size());
        std::lock_guard<std::mutex> lk(mu);
        for (uint64 i = b; i < e; ++i) s.hits[i]++;
        if (e < n) s.smallest = std::min(s.smallest, e - b);  // the last chunk may be short
        s.largest = std::max(s.largest, e - b);
        s.chunks++;
    }, max_chunk);
    return s;
}

}  // namespace

TEST(ThreadPool, ParallelForCoversEveryItemOnceWithinTheChunkBounds) {
    ThreadPool pool(4);
    // Default: about 4 chunks per worker (4096 / 16 = 256 items each).
    Split d = split(pool, 4096, 4, ~uint64(0));
    for (uint32 h : d.hits) ASSERT_EQ(h, 1u);
    EXPECT_EQ(d.largest, 256u);
    EXPECT_EQ(d.chunks, 16u);
    // max_chunk 16: chunks of 16 (the matvec split: ~128 KiB of weight rows per task).
    Split c = split(pool, 4096, 4, 16);
    for (uint32 h : c.hits) ASSERT_EQ(h, 1u);
    EXPECT_EQ(c.largest, 16u);
    EXPECT_EQ(c.smallest, 16u);
    EXPECT_EQ(c.chunks, 256u);
    // grain wins over a smaller max_chunk; a remainder chunk covers the tail.
    Split g = split(pool, 1001, 40, 16);
    for (uint32 h : g.hits) ASSERT_EQ(h, 1u);
    EXPECT_EQ(g.largest, 40u);
    EXPECT_EQ(g.smallest, 40u);
    EXPECT_EQ(g.chunks, 26u);  // 25 x 40 + 1
    // A max_chunk above the default split changes nothing: ceil(1001 / 16) = 63 per chunk.
    Split m = split(pool, 1001, 4, 100);
    for (uint32 h : m.hits) ASSERT_EQ(h, 1u);
    EXPECT_EQ(m.largest, 63u);
}
