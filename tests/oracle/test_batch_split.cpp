// BatchSplit: the rows split's CPU share for a batched pass of B rows, from the CPU's rate
// measured per class of B and the bus rate (synthetic rates, no clock).
#include <gtest/gtest.h>

#include "oracle/BatchSplit.h"

using namespace vk_symbiote;

TEST(BatchSplit, RowClassesArePowersOfTwo) {
    EXPECT_EQ(BatchSplit::row_class(1), 1u);
    EXPECT_EQ(BatchSplit::row_class(3), 4u);
    EXPECT_EQ(BatchSplit::row_class(16), 16u);
    EXPECT_EQ(BatchSplit::row_class(17), 32u);
}

// Equal rates: half the heads on each side; a CPU twice the bus: two thirds.
TEST(BatchSplit, BothSidesFinishTogetherAtTheMeasuredRates) {
    BatchSplit s(32, 4);
    s.seed_cpu_rate(50e9);
    EXPECT_EQ(s.cpu_heads(1, 50e9), 16u);
    s.record_cpu(16, 100, 1e-9);  // 100 GB/s for 16 rows
    EXPECT_EQ(s.cpu_heads(16, 50e9), 21u);
    EXPECT_EQ(s.cpu_heads(1, 50e9), 16u) << "the single-row class keeps the seed";
}

// The CPU's rate falls as B grows (compute-bound); the bus cost stays: the share shrinks, and
// below the layout's minimum the pass streams every layer whole when that is faster.
TEST(BatchSplit, LargeBatchesGiveTheCpuLessThenNothing) {
    BatchSplit s(32, 8);
    s.seed_cpu_rate(50e9);
    s.record_cpu(16, 20, 1e-9);   // 20 GB/s
    s.record_cpu(64, 1, 1e-9);    // 1 GB/s: 8 of 32 heads would take 8 x the bus's whole pass
    const uint32 h16 = s.cpu_heads(16, 50e9);
    EXPECT_GE(h16, 8u);
    EXPECT_LT(h16, 16u);
    EXPECT_EQ(s.cpu_heads(64, 50e9), 0u) << "streaming everything beats the minimum CPU share";
    EXPECT_DOUBLE_EQ(s.cpu_rate(24), 20e9) << "an unmeasured class (32) takes the nearest smaller measured one";
    EXPECT_DOUBLE_EQ(s.cpu_rate(40), 1e9) << "40 rows are in the class of 64";
    EXPECT_DOUBLE_EQ(s.cpu_rate(128), 1e9);
}

TEST(BatchSplit, MeasurementsAreSmoothedAndBadOnesIgnored) {
    BatchSplit s(8, 1);
    s.record_cpu(4, 100, 1e-9);
    s.record_cpu(4, 0, 1.0);
    s.record_cpu(4, 100, 0.0);
    EXPECT_DOUBLE_EQ(s.cpu_rate(4), 100e9);
    s.record_cpu(4, 20, 1e-9);
    EXPECT_DOUBLE_EQ(s.cpu_rate(4), 0.75 * 100e9 + 0.25 * 20e9);
}

// Unknown rates: half the heads when the layout allows it, else no CPU share; one KV head, or a
// prompt-sized pass: none.
TEST(BatchSplit, UnknownRatesOneHeadAndPromptSizedPasses) {
    BatchSplit fast(32, 4);
    fast.seed_cpu_rate(1e12);
    EXPECT_GT(fast.cpu_heads(BatchSplit::kMaxCpuRows, 50e9), 0u);
    EXPECT_EQ(fast.cpu_heads(BatchSplit::kMaxCpuRows + 1, 50e9), 0u);
    EXPECT_EQ(BatchSplit(8, 2).cpu_heads(16, 0), 4u);
    EXPECT_EQ(BatchSplit(8, 6).cpu_heads(16, 0), 0u);
    EXPECT_EQ(BatchSplit(1, 0).cpu_heads(1, 50e9), 0u);
}
