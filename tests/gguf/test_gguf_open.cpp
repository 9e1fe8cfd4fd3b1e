// GGUFLoader::open on paths that are not regular files: refused with a clear error, and a
// FIFO never blocks open() waiting for a writer (issue 26: `--model fifo` hung).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "gguf/GGUFLoader.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

TEST(GGUFOpen, AFifoIsRefusedWithoutBlocking) {
    const Path fifo = test::tmp_dir() / "model.fifo";
    std::filesystem::remove(fifo);
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    // Watchdog: if open() blocks waiting for a writer, become that writer after 3 s so the
    // test fails on the elapsed time instead of hanging.
    std::atomic<bool> done{false};
    std::thread watchdog([&] {
        for (int i = 0; i < 30 && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (done.load()) return;
        const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (w >= 0) ::close(w);
    });
    const auto t0 = std::chrono::steady_clock::now();
    auto g = GGUFLoader::open(fifo);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    done.store(true);
    watchdog.join();
    EXPECT_LT(seconds, 2.0) << "open() blocked on the FIFO";
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().message.find("model.fifo: not a regular file"), std::string::npos) << g.error().message;
}

TEST(GGUFOpen, ADirectoryIsRefused) {
    auto g = GGUFLoader::open(test::tmp_dir());
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().message.find("not a regular file"), std::string::npos) << g.error().message;
}
