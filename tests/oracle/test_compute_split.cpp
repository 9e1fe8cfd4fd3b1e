// ComputeSplit (src/oracle/ComputeSplit.h): the decode split between CPU and GPU found from
// measured token times. The "machine" here is a fake: token time = max(CPU side, GPU side)
// with per-layer costs, so the best split is known in closed form.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "oracle/ComputeSplit.h"

using namespace vk_symbiote;

namespace {

// Both sides run concurrently: the CPU computes n layers (cpu_s each), the bus uploads
// the other S - n (bus_s each); plus a fixed part.
struct FakeMachine {
    uint32 S = 26;
    double cpu_s = 0.006, bus_s = 0.008, fixed = 0.002;
    double time(uint32 n) const { return std::max(cpu_s * n, bus_s * (S - n)) + fixed; }
    uint32 best() const {
        uint32 b = 0;
        for (uint32 n = 1; n <= S; ++n)
            if (time(n) < time(b)) b = n;
        return b;
    }
};

// Runs `tokens` decode steps; noise(i) multiplies the i-th token's time.
void run(ComputeSplit& split, const FakeMachine& m, uint32 tokens, const std::function<double(uint32)>& noise = {}) {
    for (uint32 i = 0; i < tokens; ++i) split.record_token(m.time(split.cpu_layers()) * (noise ? noise(i) : 1.0));
}

}  // namespace

TEST(ComputeSplit, SpreadPlacesCountLayersEvenly) {
    for (uint32 S : {1u, 5u, 26u, 32u})
        for (uint32 c = 0; c <= S; ++c) {
            auto m = ComputeSplit::spread(S, c);
            ASSERT_EQ(m.size(), S);
            EXPECT_EQ(uint32(std::count(m.begin(), m.end(), 1)), c) << S << " " << c;
            if (2 * c <= S) {  // at most half on the CPU: never two CPU layers in a row
                for (uint32 i = 1; i < S; ++i) EXPECT_FALSE(m[i] && m[i - 1]) << S << " " << c << " at " << i;
            }
        }
}

TEST(ComputeSplit, InitialGuessFollowsTheBandwidths) {
    EXPECT_EQ(ComputeSplit::initial_cpu_layers(26, 68e9, 51e9), 15u);  // 26 * 68 / 119 = 14.9
    EXPECT_EQ(ComputeSplit::initial_cpu_layers(26, 10e9, 50e9), 4u);   // slow CPU: mostly streamed
    EXPECT_EQ(ComputeSplit::initial_cpu_layers(26, 0, 50e9), 13u);     // unknown: half
    EXPECT_EQ(ComputeSplit::initial_cpu_layers(0, 1, 1), 0u);
}

TEST(ComputeSplit, ConvergesToTheFastestSplitFromAnyStart) {
    FakeMachine m;
    for (uint32 start : {0u, 5u, 13u, 26u}) {
        ComputeSplit split(m.S, start, {.window = 3, .min_gain = 0.01, .reexplore_tokens = 0});
        run(split, m, 400);
        EXPECT_TRUE(split.settled()) << start;
        EXPECT_NEAR(double(split.cpu_layers()), double(m.best()), 1.0) << "start " << start;
        EXPECT_LE(m.time(split.cpu_layers()), m.time(m.best()) * 1.05) << start;
    }
}

TEST(ComputeSplit, SlowCpuGetsMoreStreamingFastCpuLess) {
    FakeMachine slow, fast;
    slow.cpu_s = 0.024;  // a CPU 4x slower per layer than the bus
    fast.cpu_s = 0.004;
    ComputeSplit a(slow.S, 13), b(fast.S, 13);
    run(a, slow, 400);
    run(b, fast, 400);
    EXPECT_NEAR(double(a.cpu_layers()), double(slow.best()), 1.0);
    EXPECT_NEAR(double(b.cpu_layers()), double(fast.best()), 1.0);
    EXPECT_LT(a.cpu_layers() + 6, b.cpu_layers());
}

TEST(ComputeSplit, OneSlowTokenPerWindowDoesNotMisleadIt) {
    FakeMachine m;
    ComputeSplit split(m.S, 2, {.window = 3, .min_gain = 0.01, .reexplore_tokens = 0});
    // Every third token is twice as slow (a page fault, another process); +-2% jitter on the rest.
    run(split, m, 600, [](uint32 i) { return i % 3 == 1 ? 2.0 : 1.0 + 0.02 * std::sin(double(i) * 1.7); });
    EXPECT_NEAR(double(split.cpu_layers()), double(m.best()), 1.0);
}

TEST(ComputeSplit, ReexploresWhenTheMachineChanges) {
    FakeMachine m;
    ComputeSplit split(m.S, 13, {.window = 3, .min_gain = 0.01, .reexplore_tokens = 16});
    run(split, m, 300);
    const uint32 before = split.cpu_layers();
    EXPECT_NEAR(double(before), double(m.best()), 1.0);
    m.cpu_s *= 3;  // another process takes CPU time
    run(split, m, 1500);
    EXPECT_NEAR(double(split.cpu_layers()), double(m.best()), 1.0);
    EXPECT_LT(split.cpu_layers(), before);
}

TEST(ComputeSplit, NothingStreamedNothingToSplit) {
    ComputeSplit split(0, 5);
    EXPECT_EQ(split.cpu_layers(), 0u);
    EXPECT_TRUE(split.settled());
    EXPECT_FALSE(split.record_token(0.1));
    EXPECT_TRUE(split.cpu_mask().empty());
}

TEST(ComputeSplit, RecordTokenReportsChangesOnlyAtWindowEnds) {
    FakeMachine m;
    ComputeSplit split(m.S, 0, {.window = 4, .min_gain = 0.01, .reexplore_tokens = 0});
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(split.record_token(m.time(split.cpu_layers())));
    EXPECT_TRUE(split.record_token(m.time(split.cpu_layers())));  // window done: moves to 0 + step
    EXPECT_EQ(split.cpu_layers(), m.S / 8);
    EXPECT_EQ(split.changes(), 1u);
}

// Re-seed: the probed peaks put the first guess on the steep side (too few CPU layers, the
// bus saturates); the model's guess from measured rates is the balance point. The search
// measures the initial split once, jumps to the guess, and settles there, in fewer windows
// than walking one step per window.
TEST(ComputeSplit, ReseedsOnceFromTheMeasuredRatesGuess) {
    FakeMachine m;  // best: cpu_s * n = bus_s * (S - n) -> n = 26 * 8 / 14 = 14.9
    const uint32 best = m.best();
    ComputeSplit split(m.S, 4, {.window = 3, .min_gain = 0.01, .reexplore_tokens = 0});
    for (int i = 0; i < 3; ++i) split.record_token(m.time(split.cpu_layers()), best);
    EXPECT_TRUE(split.reseeded());
    EXPECT_EQ(split.cpu_layers(), best);  // straight to the guess after the first window
    // Later guesses are ignored (once only): a wrong one does not move it.
    for (int i = 0; i < 200; ++i) split.record_token(m.time(split.cpu_layers()), 0);
    EXPECT_TRUE(split.settled());
    EXPECT_NEAR(double(split.cpu_layers()), double(best), 1.0);

    // Without a guess the same start walks one step (26 / 8 = 3) per window instead, and
    // takes more changes (each a window of tokens at a slower split) to settle.
    ComputeSplit walk(m.S, 4, {.window = 3, .min_gain = 0.01, .reexplore_tokens = 0});
    for (int i = 0; i < 3; ++i) walk.record_token(m.time(walk.cpu_layers()));
    EXPECT_FALSE(walk.reseeded());
    EXPECT_EQ(walk.cpu_layers(), 4u + m.S / 8);
    run(walk, m, 200);
    EXPECT_TRUE(walk.settled());
    EXPECT_LT(split.changes(), walk.changes());
}

TEST(ComputeSplit, ReseedIgnoresAGuessWithinOneStep) {
    FakeMachine m;
    ComputeSplit split(m.S, 13, {.window = 3, .min_gain = 0.01, .reexplore_tokens = 0});
    for (int i = 0; i < 3; ++i) split.record_token(m.time(split.cpu_layers()), 13 + int64(m.S / 8));
    EXPECT_FALSE(split.reseeded());  // within one step: the ordinary search step instead
}

TEST(ComputeSplit, ReseedToAWorseGuessFallsBackToTheInitialSplit) {
    FakeMachine m;
    const uint32 best = m.best();
    ComputeSplit split(m.S, best, {.window = 3, .min_gain = 0.01, .reexplore_tokens = 0});
    for (int i = 0; i < 3; ++i) split.record_token(m.time(split.cpu_layers()), 0);  // a wrong guess: all streamed
    EXPECT_TRUE(split.reseeded());
    EXPECT_EQ(split.cpu_layers(), 0u);
    for (int i = 0; i < 200; ++i) split.record_token(m.time(split.cpu_layers()));
    EXPECT_TRUE(split.settled());
    EXPECT_NEAR(double(split.cpu_layers()), double(best), 1.0);
}
