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

// A layout that allows no CPU head at all (pieces of a layer fit half a slot): the CPU still
// takes at least one, or none when even one is slower than the bus alone.
TEST(BatchSplit, ALayoutMinimumOfZeroStillGivesTheCpuOneHeadOrNone) {
    BatchSplit s(32, 0);
    s.seed_cpu_rate(1e9);  // 1 GB/s: 1 of 32 heads is 1/32 of the bytes at 1/50 of the bus's rate
    EXPECT_EQ(s.cpu_heads(1, 50e9), 0u);
    s.seed_cpu_rate(30e9);
    EXPECT_EQ(s.cpu_heads(1, 50e9), 12u) << "32 x 30 / 80";
    s.record_cpu(16, 2, 1e-9);  // 2 GB/s at 16 rows: one head (1/32 at 2 GB/s) beats the bus's 31/32 at 50
    EXPECT_EQ(s.cpu_heads(16, 50e9), 1u);
}

// The bus rate batched passes measured replaces the caller's: a pass that waited for its uploads
// sets it (smoothed); one the CPU set the pace of raises it to what it moved, and at least a
// quarter of the way back to the caller's rate (so a rate measured too low cannot keep the CPU's
// share too large).
TEST(BatchSplit, MeasuredBusRateReplacesTheProbedOne) {
    BatchSplit s(32, 0);
    s.seed_cpu_rate(50e9);
    EXPECT_EQ(s.cpu_heads(1, 50e9), 16u);
    s.record_bus(25, 1e-9, false, 50e9);
    EXPECT_DOUBLE_EQ(s.bus_rate(50e9), 50e9) << "a lower bound alone keeps the caller's rate";
    s.record_bus(25, 1e-9, true, 50e9);  // 25 GB/s: the DMA ran at half the probe
    EXPECT_DOUBLE_EQ(s.bus_rate(50e9), 25e9);
    EXPECT_EQ(s.cpu_heads(1, 50e9), 21u) << "32 x 50 / 75";
    s.record_bus(10, 1e-9, false, 50e9);
    EXPECT_DOUBLE_EQ(s.bus_rate(50e9), 0.75 * 25e9 + 0.25 * 50e9) << "a quarter of the way back to the caller's rate";
    s.record_bus(40, 1e-9, false, 50e9);
    EXPECT_DOUBLE_EQ(s.bus_rate(50e9), 40e9) << "the bus moved more than the rate said while the CPU set the pace";
    s.record_bus(20, 1e-9, true, 50e9);
    EXPECT_DOUBLE_EQ(s.bus_rate(50e9), 0.75 * 40e9 + 0.25 * 20e9);
    s.record_bus(20, 0.0, true, 50e9);
    EXPECT_DOUBLE_EQ(s.bus_rate(50e9), 0.75 * 40e9 + 0.25 * 20e9) << "no time measured: ignored";
}

// The prediction the log prints: both sides' seconds for S bytes, the pass their maximum.
TEST(BatchSplit, PredictionOfBothSides) {
    BatchSplit s(32, 0);
    s.seed_cpu_rate(20e9);
    const auto p = s.predict(1, 8, 40e9, 4'000'000'000ull);  // CPU 1 GB at 20 GB/s, bus 3 GB at 40 GB/s
    EXPECT_DOUBLE_EQ(p.cpu_s, 0.05);
    EXPECT_DOUBLE_EQ(p.bus_s, 0.075);
    EXPECT_DOUBLE_EQ(p.pass_s(), 0.075);
    const auto whole = s.predict(1, 0, 40e9, 4'000'000'000ull);
    EXPECT_DOUBLE_EQ(whole.cpu_s, 0.0);
    EXPECT_DOUBLE_EQ(whole.bus_s, 0.1);
}
