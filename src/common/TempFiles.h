// TempFiles: temporary files (a cache or model being written as "<path>.tmp...") that a
// signal must not leave behind. While a TempFileGuard lives its path is registered; a
// program that called install_temp_file_cleanup() (the command-line tools) removes every
// registered file when SIGINT, SIGTERM, SIGHUP or SIGPIPE ends it, then dies of that same
// signal (exit status and core behaviour unchanged). A library user's own handlers are
// never replaced unless it calls the installer.
//
// Thread-safety: guards may be made and dropped on any thread. The handler only reads a
// fixed table of slots through atomics and calls unlink() and raise() (async-signal-safe).
#pragma once

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class TempFileGuard {
public:
    // Registers `path` (at most kMaxTempFiles at once and paths under 4096 bytes; beyond
    // that the file is simply not removed by a signal).
    explicit TempFileGuard(const Path& path);
    ~TempFileGuard();  // unregisters; the file itself is the owner's to rename or remove
    TempFileGuard(const TempFileGuard&) = delete;
    TempFileGuard& operator=(const TempFileGuard&) = delete;

    static constexpr int kMaxTempFiles = 64;

private:
    int slot_ = -1;
};

// Installs the removing handler for SIGINT, SIGTERM, SIGHUP and SIGPIPE (once; later calls
// do nothing). A signal ignored at start (SIG_IGN, e.g. `nohup`) stays ignored.
void install_temp_file_cleanup();

}  // namespace vk_symbiote
