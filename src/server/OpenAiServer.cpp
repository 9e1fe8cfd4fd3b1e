#include "server/OpenAiServer.h"

#include <httplib.h>

#include "config/Logger.h"
#include "engine/CliSupport.h"
#include "model/Tokenizer.h"
#include "server/Routes.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote::server {

namespace {
// HTTP threads: one per streaming client at a time, so every --parallel slot and a good part
// of the queue can hold a connection; the rest wait in httplib's own queue.
constexpr uint32 kSpareHttpThreads = 32;
constexpr time_t kReadTimeoutSeconds = 30;
constexpr time_t kWriteTimeoutSeconds = 30;

// --chat-template-file, else the model's own template (or the fallback its vocabulary suggests).
Expected<ChatTemplate> load_template(const ConfigManager& cfg, const Tokenizer& tok, const Path& model) {
    const std::string& file = cfg.model().chat_template_file;
    if (file.empty()) return ChatTemplate::for_model(tok, model.filename().string());
    auto source = tool::read_prompt_file(file, jinja::kMaxTemplateBytes, "--chat-template-file");
    if (!source) return source.error();
    return ChatTemplate::from_jinja(*source, file, special_token_variables(tok));
}

ServerContext make_context(const ServingEngine& engine, const ConfigManager& cfg, const Path& model) {
    ServerContext c;
    c.tokenizer = &engine.tokenizer();
    c.defaults.options = engine.default_options();
    c.defaults.max_tokens_limit = cfg.server().max_tokens_limit;
    c.context_size = engine.context_size();
    c.parallel = cfg.performance().parallel;
    c.model_id = model.stem().string();
    c.description = engine.describe();
    c.budgets = {cfg.memory().vram_budget_set ? cfg.memory().vram_budget_bytes() : 0, cfg.memory().ram_budget_set ? cfg.memory().ram_budget_bytes() : 0};
    c.api_key = cfg.server().api_key;
    return c;
}
}  // namespace

Expected<std::unique_ptr<OpenAiServer>> OpenAiServer::create(VulkanSymbioteEngine& engine, const ConfigManager& cfg, const Path& model) {
    auto adapter = std::make_unique<EngineServing>(engine);
    auto s = create(*adapter, cfg, model);
    if (s) (*s)->own_ = std::move(adapter);  // the driver, destroyed first (declared after), steps it
    return s;
}

Expected<std::unique_ptr<OpenAiServer>> OpenAiServer::create(ServingEngine& engine, const ConfigManager& cfg, const Path& model) {
    auto tmpl = load_template(cfg, engine.tokenizer(), model);
    if (!tmpl) return tmpl.error();
    std::unique_ptr<OpenAiServer> s(new OpenAiServer());
    s->host_ = cfg.server().host;
    s->port_ = int(cfg.server().port);
    s->template_ = std::make_unique<ChatTemplate>(std::move(*tmpl));
    s->ctx_ = make_context(engine, cfg, model);
    s->ctx_.chat_template = s->template_.get();
    s->driver_ = std::make_unique<EngineDriver>(engine, cfg.performance().parallel, cfg.server().max_queue, cfg.server().prompt_cache);
    s->ctx_.driver = s->driver_.get();
    s->http_ = std::make_unique<httplib::Server>();
    const uint32 threads = cfg.performance().parallel + kSpareHttpThreads;
    s->http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    s->http_->set_payload_max_length(cfg.server().max_body_bytes());
    s->http_->set_read_timeout(kReadTimeoutSeconds);
    s->http_->set_write_timeout(kWriteTimeoutSeconds);
    register_routes(*s->http_, s->ctx_);
    VKS_LOG_INFO("serve: " << s->template_->describe() << "; " << s->ctx_.parallel << " sequences of " << s->ctx_.context_size << " tokens at once");
    return s;
}

OpenAiServer::~OpenAiServer() { stop(); }

Expected<int> OpenAiServer::bind() {
    const int port = port_ == 0 ? http_->bind_to_any_port(host_) : (http_->bind_to_port(host_, port_) ? port_ : -1);
    if (port < 0)
        return make_error(ErrorCode::Io, "serve: cannot listen on " + host_ + ":" + std::to_string(port_) + " (--host / --port): address in use or not local");
    port_ = port;
    return port;
}

ExpectedVoid OpenAiServer::listen() {
    if (!http_->listen_after_bind()) return make_error(ErrorCode::Io, "serve: the server on " + host_ + ":" + std::to_string(port_) + " stopped with an error");
    return {};
}

// The driver first: it ends every generation, so no HTTP thread that httplib's stop joins is
// left waiting for one.
void OpenAiServer::stop() {
    if (driver_) driver_->stop();
    if (http_) http_->stop();
}

}  // namespace vk_symbiote::server
