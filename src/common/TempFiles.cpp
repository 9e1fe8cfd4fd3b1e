#include "common/TempFiles.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace vk_symbiote {

namespace {

constexpr size_t kMaxPath = 4096;

// A slot is free (0), being written (1) or holds a path to remove (2).
struct Slot {
    std::atomic<int> state{0};
    char path[kMaxPath] = {};
};
Slot g_slots[TempFileGuard::kMaxTempFiles];

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

void remove_and_reraise(int sig) {
    for (Slot& s : g_slots)
        if (s.state.load(std::memory_order_acquire) == 2) ::unlink(s.path);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

}  // namespace

TempFileGuard::TempFileGuard(const Path& path) {
    const std::string& p = path.native();
    if (p.size() >= kMaxPath) return;
    for (int i = 0; i < kMaxTempFiles; ++i) {
        int free = 0;
        if (!g_slots[i].state.compare_exchange_strong(free, 1)) continue;
        std::memcpy(g_slots[i].path, p.c_str(), p.size() + 1);
        g_slots[i].state.store(2, std::memory_order_release);
        slot_ = i;
        return;
    }
}

TempFileGuard::~TempFileGuard() {
    if (slot_ >= 0) g_slots[slot_].state.store(0, std::memory_order_release);
}

void install_temp_file_cleanup() {
    static std::atomic<bool> installed{false};
    if (installed.exchange(true)) return;
    for (int sig : kSignals) {
        struct sigaction old {};
        if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        struct sigaction sa {};
        sa.sa_handler = remove_and_reraise;
        sigemptyset(&sa.sa_mask);
        ::sigaction(sig, &sa, nullptr);
    }
}

}  // namespace vk_symbiote
