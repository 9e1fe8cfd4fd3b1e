// SideThread runs each started job once on its own thread and join() returns that job's
// result (errors included); join() without a started job succeeds at once.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "backend/vulkan/SideThread.h"

using namespace vk_symbiote;

TEST(SideThread, RunsEachJobOnItsThreadAndJoinReturnsItsResult) {
    SideThread side;
    EXPECT_TRUE(side.join()) << "nothing started";
    const auto self = std::this_thread::get_id();
    std::atomic<int> runs{0};
    std::thread::id where;
    for (int i = 0; i < 50; ++i) {
        side.start([&]() -> ExpectedVoid {
            where = std::this_thread::get_id();
            ++runs;
            return {};
        });
        EXPECT_TRUE(side.join());
        EXPECT_NE(where, self);
    }
    EXPECT_EQ(runs.load(), 50);
    side.start([]() -> ExpectedVoid { return make_error(ErrorCode::Device, "recording failed"); });
    auto r = side.join();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::Device);
    side.start([]() -> ExpectedVoid { return {}; });
    EXPECT_TRUE(side.join()) << "a failed job does not stick to the next one";
}
