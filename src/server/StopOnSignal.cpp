#include "server/StopOnSignal.h"

#include <unistd.h>

namespace vk_symbiote::server {

namespace {
int g_pipe[2] = {-1, -1};  // [0] read by the watcher, [1] written by the handler

void on_signal(int) {
    const char byte = 's';
    [[maybe_unused]] ssize_t n = ::write(g_pipe[1], &byte, 1);
}
}  // namespace

StopOnSignal::StopOnSignal(std::function<void()> stop) {
    if (::pipe(g_pipe) != 0) return;  // no pipe: the signals keep their default action
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    watcher_ = std::thread([stop = std::move(stop)] {
        char byte = 0;
        // 'q' (written by the destructor) ends the watcher without stopping anything.
        if (::read(g_pipe[0], &byte, 1) == 1 && byte == 's') stop();
    });
}

StopOnSignal::~StopOnSignal() {
    if (!watcher_.joinable()) return;
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    const char quit = 'q';
    [[maybe_unused]] ssize_t n = ::write(g_pipe[1], &quit, 1);
    watcher_.join();
    ::close(g_pipe[0]);
    ::close(g_pipe[1]);
    g_pipe[0] = g_pipe[1] = -1;
}

}  // namespace vk_symbiote::server
