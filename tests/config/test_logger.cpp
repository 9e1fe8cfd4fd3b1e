// Logger: level filtering, the perf / memory switches, file output with rotation, errors,
// macros and concurrent writers.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "ConfigTestUtil.h"
#include "config/Logger.h"

namespace vk_symbiote::test {
namespace {

std::string slurp(const Path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
    return n;
}

// A Logger writing only to `file` (no console).
LoggingConfig file_config(const Path& file, const std::string& level = "INFO") {
    LoggingConfig c;
    c.log_level = level;
    c.log_to_file = true;
    c.log_file_path = file.string();
    return c;
}

TEST(Logger, LevelsFilter) {
    Path f = tmp_dir() / "levels.log";
    Logger lg;
    lg.set_console(nullptr);
    ASSERT_TRUE(lg.configure(file_config(f, "WARNING")).has_value());
    lg.write(LogLevel::Debug, "d-line");
    lg.write(LogLevel::Info, "i-line");
    lg.write(LogLevel::Warning, "w-line");
    lg.write(LogLevel::Error, "e-line");
    lg.close_file();
    const std::string s = slurp(f);
    EXPECT_EQ(s.find("d-line"), std::string::npos);
    EXPECT_EQ(s.find("i-line"), std::string::npos);
    EXPECT_NE(s.find("[WARNING] w-line\n"), std::string::npos) << s;
    EXPECT_NE(s.find("[ERROR] e-line\n"), std::string::npos);
    EXPECT_EQ(lg.level(), LogLevel::Warning);
}

TEST(Logger, VerboseMeansDebug) {
    Logger lg;
    lg.set_console(nullptr);
    LoggingConfig c;
    c.log_level = "ERROR";
    c.verbose = true;
    ASSERT_TRUE(lg.configure(c).has_value());
    EXPECT_EQ(lg.level(), LogLevel::Debug);
    EXPECT_TRUE(lg.enabled(LogLevel::Debug));
}

TEST(Logger, PerformanceAndMemoryLinesOnlyWhenEnabled) {
    Path f = tmp_dir() / "switches.log";
    Logger lg;
    lg.set_console(nullptr);
    LoggingConfig c = file_config(f);
    c.log_performance = false;
    c.log_memory_usage = true;
    ASSERT_TRUE(lg.configure(c).has_value());
    lg.log_performance("12 tok/s");
    lg.log_memory("vram 100 MB");
    lg.close_file();
    const std::string s = slurp(f);
    EXPECT_EQ(s.find("12 tok/s"), std::string::npos);
    EXPECT_NE(s.find("memory: vram 100 MB"), std::string::npos);
}

TEST(Logger, ConsoleStream) {
    std::FILE* t = std::tmpfile();
    ASSERT_NE(t, nullptr);
    Logger lg;
    lg.set_console(t);
    lg.write(LogLevel::Info, "to console");
    std::rewind(t);
    char buf[256] = {};
    size_t n = std::fread(buf, 1, sizeof buf - 1, t);
    std::fclose(t);
    EXPECT_NE(std::string(buf, n).find("[INFO] to console"), std::string::npos);
}

TEST(Logger, RotatesAtTheCap) {
    Path f = tmp_dir() / "rot.log";
    std::filesystem::remove(f);
    std::filesystem::remove(f.string() + ".1");
    Logger lg;
    lg.set_console(nullptr);
    ASSERT_TRUE(lg.configure(file_config(f)).has_value());
    const uint64 cap = 1000;
    lg.set_max_file_bytes(cap);
    for (int i = 0; i < 100; ++i) lg.write(LogLevel::Info, "line number " + std::to_string(i));
    lg.close_file();
    ASSERT_TRUE(std::filesystem::exists(f.string() + ".1"));
    EXPECT_LE(std::filesystem::file_size(f), cap);
    EXPECT_LE(std::filesystem::file_size(f.string() + ".1"), cap);
    EXPECT_GT(std::filesystem::file_size(f.string() + ".1"), cap / 2);
    // The newest line is in the live file, an older one in .1, lines are never split.
    EXPECT_NE(slurp(f).find("line number 99\n"), std::string::npos);
    const std::string old = slurp(f.string() + ".1");
    EXPECT_EQ(old.back(), '\n');
    EXPECT_EQ(old.find("line number 99\n"), std::string::npos);
}

// Issue 26: `--log-file model.gguf` renamed the model to model.gguf.1 at start-up. A file the
// logger did not create is appended to up to the cap and never renamed nor truncated.
TEST(Logger, NeverRotatesAFileItDidNotCreate) {
    Path f = tmp_dir() / "user_file.bin";
    std::filesystem::remove(f.string() + ".1");
    const std::string user(2000, 'U');
    { std::ofstream(f, std::ios::binary) << user; }
    Logger lg;
    lg.set_console(nullptr);
    ASSERT_TRUE(lg.configure(file_config(f)).has_value());
    lg.set_max_file_bytes(2500);  // above the file: appending is allowed, rotating is not
    for (int i = 0; i < 100; ++i) lg.write(LogLevel::Info, "line number " + std::to_string(i));
    lg.close_file();
    EXPECT_FALSE(std::filesystem::exists(f.string() + ".1"));
    const std::string after = slurp(f);
    ASSERT_GE(after.size(), user.size());
    EXPECT_EQ(after.substr(0, user.size()), user);
    EXPECT_LE(after.size(), 2500u);
}

TEST(Logger, RefusesAUserFileAlreadyOverTheCap) {
    Path f = tmp_dir() / "model_like.gguf";
    std::filesystem::remove(f.string() + ".1");
    const std::string user((1u << 20) + 10, 'M');  // over a 1 MiB cap
    { std::ofstream(f, std::ios::binary) << user; }
    Logger lg;
    lg.set_console(nullptr);
    LoggingConfig c = file_config(f);
    c.max_log_file_size_mb = 1;
    ExpectedVoid r = lg.configure(c);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("model_like.gguf: not a log file written by vk_symbiote"), std::string::npos)
        << r.error().message;
    lg.write(LogLevel::Error, "must not land anywhere");
    EXPECT_FALSE(std::filesystem::exists(f.string() + ".1"));
    EXPECT_EQ(slurp(f), user);
}

// A rotation never replaces a <path>.1 the logger did not write: it truncates its own file.
TEST(Logger, RotationKeepsAUserDotOneFile) {
    Path f = tmp_dir() / "rot_user1.log";
    std::filesystem::remove(f);
    const std::string user1 = "the user's own file\n";
    { std::ofstream(f.string() + ".1", std::ios::binary) << user1; }
    Logger lg;
    lg.set_console(nullptr);
    ASSERT_TRUE(lg.configure(file_config(f)).has_value());
    lg.set_max_file_bytes(500);
    for (int i = 0; i < 100; ++i) lg.write(LogLevel::Info, "line number " + std::to_string(i));
    lg.close_file();
    EXPECT_EQ(slurp(f.string() + ".1"), user1);
    EXPECT_LE(std::filesystem::file_size(f), 500u);
    EXPECT_NE(slurp(f).find("line number 99\n"), std::string::npos);
}

TEST(Logger, ConfigureErrors) {
    Logger lg;
    lg.set_console(nullptr);
    LoggingConfig c = file_config(tmp_dir() / "no_such_dir" / "x.log");
    ExpectedVoid r = lg.configure(c);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::Io);
    EXPECT_NE(r.error().message.find("no_such_dir/x.log: cannot open log file"), std::string::npos);

    LoggingConfig bad;
    bad.log_level = "LOUD";
    ExpectedVoid b = lg.configure(bad);
    ASSERT_FALSE(b.has_value());
    EXPECT_NE(b.error().message.find("logging.log_level: log level 'LOUD'"), std::string::npos);
    EXPECT_EQ(lg.level(), LogLevel::Info);  // unchanged
    EXPECT_EQ(*parse_log_level("warn"), LogLevel::Warning);
}

TEST(Logger, MacrosUseTheGlobalLogger) {
    Path f = tmp_dir() / "macros.log";
    Logger& lg = Logger::instance();
    lg.set_console(nullptr);
    ASSERT_TRUE(lg.configure(file_config(f, "INFO")).has_value());
    int evaluated = 0;
    auto side_effect = [&] { return ++evaluated; };
    VKS_LOG_DEBUG("hidden " << side_effect());  // not built when disabled
    VKS_LOG_INFO("loaded " << 3 << " packs");
    VKS_LOG_WARN("warn " << 1.5);
    VKS_LOG_ERROR("err");
    VKS_LOG_PERF(42 << " GB/s");
    VKS_LOG_MEMORY("ram " << 7);
    ASSERT_TRUE(lg.configure(LoggingConfig{}).has_value());  // back to defaults: closes the file
    lg.set_console(stderr);
    const std::string s = slurp(f);
    EXPECT_EQ(evaluated, 0);
    EXPECT_NE(s.find("[INFO] loaded 3 packs"), std::string::npos) << s;
    EXPECT_NE(s.find("[WARNING] warn 1.5"), std::string::npos);
    EXPECT_NE(s.find("[ERROR] err"), std::string::npos);
    EXPECT_NE(s.find("perf: 42 GB/s"), std::string::npos);
    EXPECT_NE(s.find("memory: ram 7"), std::string::npos);
}

TEST(Logger, ConcurrentWritersDoNotInterleave) {
    Path f = tmp_dir() / "threads.log";
    std::filesystem::remove(f);
    Logger lg;
    lg.set_console(nullptr);
    ASSERT_TRUE(lg.configure(file_config(f)).has_value());
    constexpr int kThreads = 4, kLines = 250;
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
        ts.emplace_back([&lg, t] {
            for (int i = 0; i < kLines; ++i) lg.write(LogLevel::Info, "t" + std::to_string(t) + " <payload> end");
        });
    for (auto& t : ts) t.join();
    lg.close_file();
    const std::string s = slurp(f);
    EXPECT_EQ(count(s, "\n"), size_t(kThreads * kLines) + 1);  // + the "# vk_symbiote log" header
    EXPECT_EQ(s.rfind("# vk_symbiote log", 0), 0u);
    EXPECT_EQ(count(s, "<payload> end\n"), size_t(kThreads * kLines));
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(count(s, "t" + std::to_string(t) + " <payload>"), size_t(kLines));
}

}  // namespace
}  // namespace vk_symbiote::test
