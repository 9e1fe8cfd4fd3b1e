// Logger: the engine's one log sink. Lines go to a console stream (stderr by default) and,
// when configured, to a log file capped at max_log_file_size_mb: when the next line would
// exceed the cap, <path> is renamed to <path>.1 (replacing an older .1) and a fresh <path>
// is started. Line format: "2026-11-26 12:00:00.123 [INFO] message".
// Only files the logger created are rotated: they start with a "# vk_symbiote log" line. Any
// other existing file (say `--log-file model.gguf`) is appended to and never renamed or
// truncated: refused at configure() if already at the cap, closed when it reaches it.
//
// Use the stream-style macros; the message is only built when the level is enabled:
//     VKS_LOG_INFO("loaded " << n << " packs");
//     VKS_LOG_PERF("layer " << l << ": " << gbps << " GB/s");   // only if log_performance
//     VKS_LOG_MEMORY("vram " << used_mb << " MB");              // only if log_memory_usage
//
// Thread-safety: every member may be called from any thread; writes are serialized by a
// mutex, level checks are lock-free.
#pragma once

#include <atomic>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>

#include "vk_symbiote/Common.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote {

enum class LogLevel : int { Debug = 0, Info = 1, Warning = 2, Error = 3 };

const char* log_level_name(LogLevel l);
// "DEBUG|INFO|WARNING|ERROR" (case-insensitive; "WARN" accepted).
Expected<LogLevel> parse_log_level(std::string_view s);

class Logger {
public:
    Logger() = default;
    ~Logger();
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;

    // The process-wide logger used by the macros.
    static Logger& instance();

    // Applies level (verbose = DEBUG), the performance / memory switches and the file sink
    // (opened in append mode; closes any previous one). Io error naming the path if the
    // file cannot be opened; InvalidArgument for a bad level. On error nothing changes.
    [[nodiscard]] ExpectedVoid configure(const LoggingConfig& cfg);

    void set_level(LogLevel l) { level_.store(static_cast<int>(l), std::memory_order_relaxed); }
    LogLevel level() const { return static_cast<LogLevel>(level_.load(std::memory_order_relaxed)); }
    bool enabled(LogLevel l) const { return static_cast<int>(l) >= level_.load(std::memory_order_relaxed); }
    bool performance_enabled() const { return perf_.load(std::memory_order_relaxed); }
    bool memory_enabled() const { return memory_.load(std::memory_order_relaxed); }

    // Console stream (not owned; must outlive its use). nullptr = no console output.
    void set_console(std::FILE* f);
    // Overrides the file size cap in bytes (tests use small caps; configure() sets MB).
    void set_max_file_bytes(uint64 bytes);
    // Stops file logging and closes the file.
    void close_file();

    // Writes one line if `l` is enabled. Newlines inside `msg` are kept as-is.
    void write(LogLevel l, std::string_view msg);
    // Info-level lines that print only when log_performance / log_memory_usage is on.
    void log_performance(std::string_view msg);
    void log_memory(std::string_view msg);

private:
    struct LogFile {
        std::FILE* f = nullptr;
        uint64 bytes = 0;   // size after opening (header included)
        bool ours = false;  // starts with the logger's header: rotation may rename / truncate it
    };
    static Expected<LogFile> open_log_file(const std::string& path, uint64 cap);
    void write_locked(const std::string& line);
    void rotate_locked();
    void stop_at_cap_locked();

    std::atomic<int> level_{static_cast<int>(LogLevel::Info)};
    std::atomic<bool> perf_{true};
    std::atomic<bool> memory_{true};

    std::mutex mu_;  // guards everything below
    std::FILE* console_ = stderr;
    std::FILE* file_ = nullptr;  // owned
    std::string file_path_;
    uint64 file_bytes_ = 0;      // current size of file_
    bool file_ours_ = false;     // file_ starts with the logger's header (see open_log_file)
    uint64 max_file_bytes_ = 100ull << 20;
};

}  // namespace vk_symbiote

#define VKS_LOG_AT_(lvl, expr)                                                          \
    do {                                                                                \
        ::vk_symbiote::Logger& vks_lg_ = ::vk_symbiote::Logger::instance();             \
        if (vks_lg_.enabled(lvl)) {                                                     \
            std::ostringstream vks_os_;                                                 \
            vks_os_ << expr;                                                            \
            vks_lg_.write(lvl, vks_os_.str());                                          \
        }                                                                               \
    } while (0)

#define VKS_LOG_DEBUG(expr) VKS_LOG_AT_(::vk_symbiote::LogLevel::Debug, expr)
#define VKS_LOG_INFO(expr) VKS_LOG_AT_(::vk_symbiote::LogLevel::Info, expr)
#define VKS_LOG_WARN(expr) VKS_LOG_AT_(::vk_symbiote::LogLevel::Warning, expr)
#define VKS_LOG_ERROR(expr) VKS_LOG_AT_(::vk_symbiote::LogLevel::Error, expr)

#define VKS_LOG_PERF(expr)                                                              \
    do {                                                                                \
        ::vk_symbiote::Logger& vks_lg_ = ::vk_symbiote::Logger::instance();             \
        if (vks_lg_.performance_enabled() && vks_lg_.enabled(::vk_symbiote::LogLevel::Info)) { \
            std::ostringstream vks_os_;                                                 \
            vks_os_ << expr;                                                            \
            vks_lg_.log_performance(vks_os_.str());                                     \
        }                                                                               \
    } while (0)

#define VKS_LOG_MEMORY(expr)                                                            \
    do {                                                                                \
        ::vk_symbiote::Logger& vks_lg_ = ::vk_symbiote::Logger::instance();             \
        if (vks_lg_.memory_enabled() && vks_lg_.enabled(::vk_symbiote::LogLevel::Info)) { \
            std::ostringstream vks_os_;                                                 \
            vks_os_ << expr;                                                            \
            vks_lg_.log_memory(vks_os_.str());                                          \
        }                                                                               \
    } while (0)
