#include "ServeProcess.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string_view>
#include <regex>
#include <thread>

#include <httplib.h>

#include "support/TestPaths.h"

namespace vk_symbiote::test {

namespace {
std::atomic<int> g_serial{0};
void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
}  // namespace

ServeProcess::ServeProcess(const std::string& cmd, double start_s) : log_(tmp_dir() / ("serve." + std::to_string(g_serial++) + ".log")) {
    launcher_ = ::fork();
    if (launcher_ == 0) {
        ::setpgid(0, 0);  // its own group: the destructor can end mpirun and its ranks together
        const std::string line = "exec " + cmd + " </dev/null >" + log_.string() + " 2>&1";
        ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    const std::regex listen_re("listening on http://[^:]+:(\\d+)"), pid_re("rank 0 is process (\\d+)");
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(start_s);
    while (std::chrono::steady_clock::now() < end && wait_exit(0) < 0 && !exited_) {
        const std::string text = log();
        std::smatch m;
        if (std::regex_search(text, m, listen_re)) {
            port_ = std::stoi(m[1]);
            rank0_ = std::regex_search(text, m, pid_re) ? pid_t(std::stoi(m[1])) : launcher_;
            return;
        }
        sleep_ms(50);
    }
}

ServeProcess::~ServeProcess() {
    if (launcher_ <= 0 || exited_) return;
    if (stop(20) < 0 && !exited_) {
        ::kill(-launcher_, SIGKILL);
        ::waitpid(launcher_, nullptr, 0);
    }
}

std::string ServeProcess::log() const {
    std::ifstream f(log_, std::ios::binary);  // "" until the shell has created it
    std::ostringstream text;
    text << f.rdbuf();
    return text.str();
}

std::pair<int, nlohmann::json> ServeProcess::complete(const nlohmann::json& body) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(300);
    auto r = c.Post("/v1/completions", body.dump(), "application/json");
    if (!r) return {-1, nullptr};
    return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
}

int ServeProcess::stream_and_leave(nlohmann::json body, int events) const {
    body["stream"] = true;
    httplib::Client c("127.0.0.1", port_);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    int seen = 0;
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        for (std::string_view chunk(data, n); chunk.find("data: ") != std::string_view::npos; chunk.remove_prefix(chunk.find("data: ") + 6)) ++seen;
        return seen < events;  // false: httplib closes the connection
    };
    c.send(req);
    return seen;
}

double ServeProcess::metric(const std::string& name) const {
    httplib::Client c("127.0.0.1", port_);
    auto r = c.Get("/metrics");
    if (!r) return -1;
    std::smatch m;
    const std::regex re("\\nvk_symbiote_" + name + " (\\S+)");
    return std::regex_search(r->body, m, re) ? std::stod(m[1]) : -1;
}

int ServeProcess::wait_exit(double wait_s) {
    if (exited_) return status_;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
    do {
        int st = 0;
        if (::waitpid(launcher_, &st, WNOHANG) == launcher_) {
            exited_ = true;
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return status_;
        }
        if (wait_s > 0) sleep_ms(50);
    } while (std::chrono::steady_clock::now() < end);
    return -1;
}

int ServeProcess::stop(double wait_s) {
    if (exited_) return status_;
    ::kill(rank0_ > 0 ? rank0_ : launcher_, SIGTERM);
    return wait_exit(wait_s);
}

}  // namespace vk_symbiote::test
