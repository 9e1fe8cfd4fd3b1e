// TestServer: `vk_symbiote serve` in the test process: stories260K on the CPU, on 127.0.0.1
// and a free port, started by the constructor (which waits until /health answers) and stopped
// by the destructor. Plus small HTTP helpers on cpp-httplib's client.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/OpenAiServer.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote::test {

class TestServer {
public:
    // Extra command-line options after the defaults (CPU, stories260K, --ctx-size 512, greedy).
    explicit TestServer(const std::vector<std::string>& extra = {});
    ~TestServer();

    int port() const { return port_; }
    httplib::Client client() const;
    // POST `body` as JSON; the status and the parsed answer (null when not JSON).
    std::pair<int, nlohmann::json> post(const std::string& path, const nlohmann::json& body, const std::string& api_key = {}) const;
    std::pair<int, nlohmann::json> get(const std::string& path, const std::string& api_key = {}) const;
    // One value of GET /metrics ("vk_symbiote_<name>"), -1 when absent.
    double metric(const std::string& name) const;

private:
    ConfigManager cfg_;
    std::unique_ptr<VulkanSymbioteEngine> engine_;
    std::unique_ptr<server::OpenAiServer> server_;
    std::thread listener_;
    int port_ = 0;
};

// A streamed request's events: the data of each "data: " event, in order ("[DONE]" included).
struct SseResult {
    int status = 0;
    std::vector<std::string> events;
    std::string text() const;  // the content / text of every chunk, concatenated
    nlohmann::json last_chunk_with_choices() const;
};
SseResult post_stream(const TestServer& s, const std::string& path, nlohmann::json body);

// Waits (at most `seconds`) until pred() holds; false on timeout.
bool eventually(const std::function<bool()>& pred, double seconds = 60);

}  // namespace vk_symbiote::test
