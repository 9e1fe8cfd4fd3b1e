#include "common/Progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "common/Units.h"

namespace vk_symbiote {

namespace {

using Clock = std::chrono::steady_clock;

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string gib(uint64 b) { return format_gib(b); }

// "ETA 12 s", "ETA 3 min 5 s": the time left at the rate so far.
std::string eta(double elapsed, uint64 done, uint64 total) {
    const double left = elapsed * double(total - done) / double(done);
    char b[48];
    if (left >= 60) std::snprintf(b, sizeof b, "ETA %d min %d s", int(left / 60), int(left) % 60);
    else std::snprintf(b, sizeof b, "ETA %.0f s", std::ceil(left));
    return b;
}

}  // namespace

ProgressReporter::ProgressReporter(std::string label, FILE* out, int is_tty)
    : label_(std::move(label)), out_(out), tty_(is_tty < 0 ? ::isatty(::fileno(out)) != 0 : is_tty != 0) {
    start_ = last_line_ = last_draw_ = Clock::now();
}

ProgressReporter::~ProgressReporter() {
    if (!finished_ && last_total_ && last_done_ >= last_total_) finish();
    else if (tty_ && drew_ && !finished_) std::fputc('\n', out_);  // leave the cursor on a fresh line
}

std::string ProgressReporter::status(uint64 done, uint64 total) const {
    double el = secs(Clock::now() - start_);
    char rate[48] = "";
    if (el > 0) std::snprintf(rate, sizeof rate, ", %.0f MB/s", double(done) / el / 1e6);
    std::string s = gib(done);
    if (total) {
        char pct[16];
        std::snprintf(pct, sizeof pct, "%5.1f%% ", 100.0 * double(done) / double(total));
        s = pct + s + " of " + gib(total);
    }
    // An ETA once the rate means something: past 1% and a fifth of a second.
    if (total && done * 100 >= total && done < total && el > 0.2) s += std::string(rate) + ", " + eta(el, done, total);
    else s += rate;
    return s;
}

void ProgressReporter::update(uint64 done, uint64 total) {
    last_done_ = done;
    last_total_ = total;
    auto now = Clock::now();
    if (secs(now - start_) < quiet_seconds) return;  // a step this short needs no progress
    if (tty_) {
        if (drew_ && secs(now - last_draw_) < 0.1 && done < total) return;  // at most 10 redraws a second
        last_draw_ = now;
        const int width = 30;
        int fill = total ? int(double(width) * double(std::min(done, total)) / double(total)) : 0;
        std::string bar = "[" + std::string(size_t(fill), '#') + std::string(size_t(width - fill), '.') + "]";
        std::fprintf(out_, "\r%s %s %s\033[K", label_.c_str(), bar.c_str(), status(done, total).c_str());
        std::fflush(out_);
        drew_ = true;
        return;
    }
    double pct = total ? 100.0 * double(done) / double(total) : 0;
    bool by_pct = total && (last_percent_line_ < 0 || pct - last_percent_line_ >= line_every_percent);
    bool by_time = secs(now - last_line_) >= line_every_seconds;
    if (!by_pct && !by_time) return;
    if (by_pct) last_percent_line_ = pct - std::fmod(pct, line_every_percent);
    last_line_ = now;
    std::fprintf(out_, "%s: %s\n", label_.c_str(), status(done, total).c_str());
    std::fflush(out_);
}

void ProgressReporter::finish() {
    if (finished_) return;
    finished_ = true;
    double el = secs(Clock::now() - start_);
    if (el < quiet_seconds) return;
    if (tty_ && drew_) std::fputc('\n', out_);
    std::fprintf(out_, "%s: done, %s in %.1f s\n", label_.c_str(), gib(last_done_).c_str(), el);
    std::fflush(out_);
}

}  // namespace vk_symbiote
