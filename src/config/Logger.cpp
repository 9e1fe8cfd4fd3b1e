#include "config/Logger.h"

#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>

namespace vk_symbiote {

const char* log_level_name(LogLevel l) {
    switch (l) {
        case LogLevel::Debug: return "DEBUG";
        case LogLevel::Info: return "INFO";
        case LogLevel::Warning: return "WARNING";
        case LogLevel::Error: return "ERROR";
    }
    return "?";
}

Expected<LogLevel> parse_log_level(std::string_view s) {
    std::string u(s);
    for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (u == "DEBUG") return LogLevel::Debug;
    if (u == "INFO") return LogLevel::Info;
    if (u == "WARNING" || u == "WARN") return LogLevel::Warning;
    if (u == "ERROR") return LogLevel::Error;
    return make_error(ErrorCode::InvalidArgument,
                      "log level '" + std::string(s) + "' is not one of DEBUG, INFO, WARNING, ERROR");
}

namespace {

// "2026-11-26 12:00:00.123" in local time.
std::string timestamp() {
    using namespace std::chrono;
    const auto now = system_clock::now();
    const std::time_t t = system_clock::to_time_t(now);
    const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[40];
    const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03d", static_cast<int>(ms));
    return buf;
}

// The first line of every log file the logger creates. Rotation renames or truncates only
// files that start with it, so `--log-file model.gguf` can never move or clear a user's file.
constexpr std::string_view kLogHeader = "# vk_symbiote log (rotated at logging.max_log_file_size_mb)\n";

// True when `path` exists and starts with kLogHeader.
bool written_by_logger(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    std::string head(kLogHeader.size(), '\0');
    const size_t n = std::fread(head.data(), 1, head.size(), f);
    std::fclose(f);
    return n == head.size() && head == kLogHeader;
}

}  // namespace

// Opens `path` for appending. A new or empty regular file gets the header and becomes
// ours; any other file is the user's (a non-empty file without the header, /dev/stderr, a
// FIFO): appended to, never rotated, and refused when it already holds `cap` bytes or more.
Expected<Logger::LogFile> Logger::open_log_file(const std::string& path, uint64 cap) {
    if (path.empty())
        return make_error(ErrorCode::InvalidArgument, "logging.log_file_path: empty while log_to_file is on");
    std::error_code ec;
    const std::filesystem::file_status st = std::filesystem::status(path, ec);
    const bool regular = std::filesystem::is_regular_file(st);
    uint64 size = regular ? std::filesystem::file_size(path, ec) : 0;
    if (ec) size = 0;
    const bool ours = !std::filesystem::exists(st) || (regular && (size == 0 || written_by_logger(path)));
    if (!ours && size >= cap)
        return make_error(ErrorCode::InvalidArgument,
                          path + ": not a log file written by vk_symbiote (no '# vk_symbiote log' first line) and already " +
                              std::to_string(size) + " bytes, at or over the log cap of " + std::to_string(cap) +
                              " bytes (logging.max_log_file_size_mb); refusing to append to it or rotate it");
    std::FILE* f = std::fopen(path.c_str(), "ab");
    if (!f) return make_error(ErrorCode::Io, path + ": cannot open log file for appending");
    if (ours && size == 0 && std::fwrite(kLogHeader.data(), 1, kLogHeader.size(), f) == kLogHeader.size()) {
        size = kLogHeader.size();
        std::fflush(f);
    }
    return LogFile{f, size, ours};
}

Logger::~Logger() { close_file(); }

Logger& Logger::instance() {
    static Logger lg;
    return lg;
}

ExpectedVoid Logger::configure(const LoggingConfig& cfg) {
    Expected<LogLevel> lvl = parse_log_level(cfg.log_level);
    if (!lvl) return make_error(lvl.error().code, "logging.log_level: " + lvl.error().message);
    const uint64 cap = static_cast<uint64>(cfg.max_log_file_size_mb) << 20;
    LogFile lf;
    if (cfg.log_to_file) {
        Expected<LogFile> opened = open_log_file(cfg.log_file_path, cap);
        if (!opened) return opened.error();
        lf = *opened;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (file_) std::fclose(file_);
        file_ = lf.f;
        file_path_ = lf.f ? cfg.log_file_path : std::string();
        file_bytes_ = lf.bytes;
        file_ours_ = lf.ours;
        max_file_bytes_ = cap;
    }
    set_level(cfg.verbose ? LogLevel::Debug : *lvl);
    perf_.store(cfg.log_performance, std::memory_order_relaxed);
    memory_.store(cfg.log_memory_usage, std::memory_order_relaxed);
    return {};
}

void Logger::set_console(std::FILE* f) {
    std::lock_guard<std::mutex> lock(mu_);
    console_ = f;
}

void Logger::set_max_file_bytes(uint64 bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    max_file_bytes_ = bytes;
}

void Logger::close_file() {
    std::lock_guard<std::mutex> lock(mu_);
    if (file_) std::fclose(file_);
    file_ = nullptr;
    file_path_.clear();
    file_bytes_ = 0;
}

void Logger::write(LogLevel l, std::string_view msg) {
    if (!enabled(l)) return;
    std::string line = timestamp() + " [" + log_level_name(l) + "] ";
    line.append(msg);
    line += '\n';
    std::lock_guard<std::mutex> lock(mu_);
    write_locked(line);
}

void Logger::log_performance(std::string_view msg) {
    if (performance_enabled()) write(LogLevel::Info, std::string("perf: ").append(msg));
}

void Logger::log_memory(std::string_view msg) {
    if (memory_enabled()) write(LogLevel::Info, std::string("memory: ").append(msg));
}

void Logger::write_locked(const std::string& line) {
    if (console_) {
        std::fwrite(line.data(), 1, line.size(), console_);
        std::fflush(console_);
    }
    if (!file_) return;
    // Rotate before a line that would cross the cap (a line longer than the cap still gets
    // written, alone, into a fresh file). A file that is not ours is closed instead.
    if (file_bytes_ > 0 && file_bytes_ + line.size() > max_file_bytes_) {
        if (file_ours_)
            rotate_locked();
        else
            stop_at_cap_locked();
    }
    if (!file_) return;
    if (std::fwrite(line.data(), 1, line.size(), file_) == line.size()) file_bytes_ += line.size();
    std::fflush(file_);
}

void Logger::stop_at_cap_locked() {
    std::fclose(file_);
    file_ = nullptr;
    if (console_) {
        const std::string msg = "vk_symbiote: log file " + file_path_ +
                                " reached its size cap and was not written by vk_symbiote; it is left as it is and "
                                "file logging stops\n";
        std::fwrite(msg.data(), 1, msg.size(), console_);
    }
}

void Logger::rotate_locked() {
    std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    const std::string old = file_path_ + ".1";
    // <path>.1 is replaced only when it is absent or an older rotation of ours.
    if (std::filesystem::exists(old, ec) && !written_by_logger(old))
        ec = std::make_error_code(std::errc::file_exists);
    else
        std::filesystem::rename(file_path_, old, ec);
    // If rename failed (e.g. permissions) we truncate our own file instead so the cap still holds.
    file_ = std::fopen(file_path_.c_str(), ec ? "wb" : "ab");
    file_bytes_ = 0;
    if (file_ && std::fwrite(kLogHeader.data(), 1, kLogHeader.size(), file_) == kLogHeader.size())
        file_bytes_ = kLogHeader.size();
    if (!file_ && console_) {
        const std::string msg = "vk_symbiote: cannot reopen log file " + file_path_ + " after rotation\n";
        std::fwrite(msg.data(), 1, msg.size(), console_);
    }
}

}  // namespace vk_symbiote
