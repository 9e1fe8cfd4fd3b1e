// OpenAiServer: `vk_symbiote serve`: an OpenAI-compatible HTTP server over one engine. It
// owns the engine driver (the thread that steps the engine), the model's chat template and the
// cpp-httplib server with its routes (Routes.h); requests beyond --parallel queue.
//
//   auto server = OpenAiServer::create(engine, cfg, model_path);   // engine outlives it
//   auto port = (*server)->bind();      // --host:--port; port 0 picks a free one
//   (*server)->listen();                // until stop() from another thread
//
// Thread-safety: stop() from any thread (not from a signal handler); the rest from one.
#pragma once

#include <memory>
#include <string>

#include "server/ServerContext.h"
#include "server/ServingEngine.h"
#include "vk_symbiote/Common.h"

namespace httplib {
class Server;
}

namespace vk_symbiote {
class ConfigManager;
class VulkanSymbioteEngine;
}  // namespace vk_symbiote

namespace vk_symbiote::server {

class OpenAiServer {
public:
    static Expected<std::unique_ptr<OpenAiServer>> create(VulkanSymbioteEngine& engine, const ConfigManager& cfg, const Path& model);
    // Over another engine (the pipeline's: PipelineServe); `engine` outlives the server.
    static Expected<std::unique_ptr<OpenAiServer>> create(ServingEngine& engine, const ConfigManager& cfg, const Path& model);
    ~OpenAiServer();
    OpenAiServer(const OpenAiServer&) = delete;
    OpenAiServer& operator=(const OpenAiServer&) = delete;

    // Binds --host:--port; returns the port (the one chosen for port 0).
    Expected<int> bind();
    // Serves until stop(), which cancels what still runs and refuses what waits.
    ExpectedVoid listen();
    void stop();
    const ServerContext& context() const { return ctx_; }

private:
    OpenAiServer() = default;

    std::string host_;
    int port_ = 0;
    std::unique_ptr<ServingEngine> own_;  // create(VulkanSymbioteEngine&)'s adapter
    std::unique_ptr<ChatTemplate> template_;
    std::unique_ptr<EngineDriver> driver_;
    ServerContext ctx_;
    std::unique_ptr<httplib::Server> http_;
};

}  // namespace vk_symbiote::server
