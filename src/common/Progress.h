// Progress: feedback for long steps (generating a benchmark model, loading a large one,
// building a pack cache). On a terminal: one line redrawn in place ("\r") with a bar,
// percent, sizes (GiB), rate and the time left (ETA).
// Otherwise (a log file, CI): a plain line every `line_every_percent` percent or every
// `line_every_seconds` seconds, whichever comes first, so logs stay short but alive.
//
// Thread-safety: update() may be called from one thread at a time (the generator calls its
// callback from its writer thread only). Output goes to the FILE* given, never stdout by
// default (stdout carries the --json report).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ProgressReporter {
public:
    // is_tty: nullopt-like -1 = ask isatty(fileno(out)); 0 / 1 force the mode (tests).
    ProgressReporter(std::string label, FILE* out = stderr, int is_tty = -1);
    ~ProgressReporter();  // finishes the line if update() reached total but finish() was not called
    ProgressReporter(const ProgressReporter&) = delete;
    ProgressReporter& operator=(const ProgressReporter&) = delete;

    // `done` and `total` in bytes (total 0 = unknown, only the count is shown).
    void update(uint64 done, uint64 total);
    // Final line ("... done in 12.3 s"), once.
    void finish();

    bool tty() const { return tty_; }
    double line_every_percent = 10;
    double line_every_seconds = 30;
    // Nothing is printed (updates nor the final line) until this many seconds have passed:
    // a step that ends sooner stays silent.
    double quiet_seconds = 0;

private:
    std::string status(uint64 done, uint64 total) const;

    std::string label_;
    FILE* out_;
    bool tty_;
    bool finished_ = false;
    bool drew_ = false;
    uint64 last_done_ = 0, last_total_ = 0;
    double last_percent_line_ = -1;
    std::chrono::steady_clock::time_point start_, last_line_, last_draw_;
};

}  // namespace vk_symbiote
