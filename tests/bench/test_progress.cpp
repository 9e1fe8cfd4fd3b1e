// ProgressReporter: plain periodic lines off a terminal, an in-place bar on one.
#include <gtest/gtest.h>

#include <cstdio>
#include <chrono>
#include <string>
#include <thread>

#include "common/Progress.h"

using namespace vk_symbiote;

namespace {

std::string captured(FILE* f) {
    std::fflush(f);
    std::rewind(f);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    return s;
}

size_t count(const std::string& s, const std::string& sub) {
    size_t c = 0;
    for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + 1)) ++c;
    return c;
}

}  // namespace

TEST(BenchProgress, PlainLinesEveryTenPercent) {
    FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    {
        ProgressReporter p("gen", f, 0);
        p.line_every_seconds = 1e9;  // percent-driven only
        EXPECT_FALSE(p.tty());
        for (uint64 i = 0; i <= 1000; ++i) p.update(i, 1000);
        p.finish();
    }
    std::string s = captured(f);
    std::fclose(f);
    EXPECT_EQ(s.find('\r'), std::string::npos) << s;
    // 0%, 10%, ..., 100% -> 11 lines, plus the final "done" line.
    EXPECT_EQ(count(s, "\n"), 12u) << s;
    EXPECT_NE(s.find("gen: done"), std::string::npos) << s;
    EXPECT_NE(s.find("100.0%"), std::string::npos) << s;
}

TEST(BenchProgress, TerminalRedrawsOneLine) {
    FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    {
        ProgressReporter p("gen", f, 1);
        EXPECT_TRUE(p.tty());
        p.update(0, 100);
        p.update(100, 100);
        p.finish();
        p.finish();  // only once
    }
    std::string s = captured(f);
    std::fclose(f);
    EXPECT_GE(count(s, "\r"), 2u) << s;
    EXPECT_NE(s.find("[##############################]"), std::string::npos) << s;
    EXPECT_EQ(count(s, "done"), 1u) << s;
}

// Issue 26: the cache build (and the loading of weights) show the time left.
TEST(BenchProgress, LinesShowTheTimeLeftAndShortStepsStaySilent) {
    FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    {
        ProgressReporter p("build", f, 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        p.update(250, 1000);  // a quarter after ~250 ms: under a second left
        p.finish();
    }
    std::string s = captured(f);
    std::fclose(f);
    EXPECT_NE(s.find("25.0%"), std::string::npos) << s;
    EXPECT_NE(s.find("ETA 1 s"), std::string::npos) << s;  // rounded up to whole seconds
    FILE* g = std::tmpfile();
    {
        ProgressReporter quiet("load", g, 0);
        quiet.quiet_seconds = 60;
        quiet.update(500, 1000);
        quiet.update(1000, 1000);
        quiet.finish();
    }
    EXPECT_EQ(captured(g), "");
    std::fclose(g);
}
