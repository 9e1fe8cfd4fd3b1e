// ServeProcess: `vk_symbiote serve` started in the background for the pipeline tests, alone or
// under mpirun: its output goes to a log file, its port comes from the "listening on" line, and
// stop() sends SIGTERM to rank 0's process (printed by `serve --pipeline`, else the process
// itself) and waits for the launcher's exit. The destructor ends what is left (SIGKILL to the
// launcher's process group).
#pragma once

#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::test {

class ServeProcess {
public:
    // cmd: the whole command line (its --port must be 0); waits at most start_s for the port.
    explicit ServeProcess(const std::string& cmd, double start_s = 240);
    ~ServeProcess();
    ServeProcess(const ServeProcess&) = delete;
    ServeProcess& operator=(const ServeProcess&) = delete;

    bool listening() const { return port_ > 0; }
    int port() const { return port_; }
    std::string log() const;
    // POST /v1/completions with `body`: the status (-1: no answer) and the parsed JSON.
    std::pair<int, nlohmann::json> complete(const nlohmann::json& body) const;
    // POST /v1/completions streamed, and close the connection after `events` SSE events (a
    // client that leaves): the events received.
    int stream_and_leave(nlohmann::json body, int events) const;
    // One value of GET /metrics ("vk_symbiote_<name>"), -1 when absent.
    double metric(const std::string& name) const;
    // SIGTERM to rank 0; the launcher's exit status (-1: still running after wait_s).
    int stop(double wait_s = 60);
    // The launcher's exit status once it ends by itself within wait_s (-1: still running).
    int wait_exit(double wait_s);

private:
    Path log_;
    pid_t launcher_ = -1;
    pid_t rank0_ = -1;
    int port_ = 0;
    int status_ = -1;
    bool exited_ = false;
};

}  // namespace vk_symbiote::test
