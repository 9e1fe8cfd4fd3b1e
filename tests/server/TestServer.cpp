#include "TestServer.h"

#include <gtest/gtest.h>

#include <chrono>

#include "support/TestPaths.h"

namespace vk_symbiote::test {

namespace {
const char* kLocal = "127.0.0.1";
constexpr int kTimeoutSeconds = 120;  // generous: two slow shared cores
}  // namespace

TestServer::TestServer(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"serve",       "--model", (models_dir() / "stories260K.gguf").string(), "--disable-gpu", "--ctx-size", "512",
                                     "--port",      "0",       "--temperature", "0", "--log-level", "WARNING", "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto loaded = cfg_.load(args, [](std::string_view) { return std::optional<std::string>(); });
    if (!loaded) throw std::runtime_error(loaded.error().to_string());
    auto engine = VulkanSymbioteEngine::create(*cfg_.resolve_model_path(), cfg_);
    if (!engine) throw std::runtime_error(engine.error().to_string());
    engine_ = std::move(*engine);
    auto server = server::OpenAiServer::create(*engine_, cfg_, *cfg_.resolve_model_path());
    if (!server) throw std::runtime_error(server.error().to_string());
    server_ = std::move(*server);
    auto port = server_->bind();
    if (!port) throw std::runtime_error(port.error().to_string());
    port_ = *port;
    listener_ = std::thread([this] { (void)server_->listen(); });
    if (!eventually([&] { return client().Get("/health") != nullptr; }, kTimeoutSeconds)) throw std::runtime_error("the test server never answered /health");
}

TestServer::~TestServer() {
    server_->stop();
    listener_.join();
}

httplib::Client TestServer::client() const {
    httplib::Client c(kLocal, port_);
    c.set_read_timeout(kTimeoutSeconds);
    c.set_write_timeout(kTimeoutSeconds);
    c.set_connection_timeout(kTimeoutSeconds);
    return c;
}

namespace {
std::pair<int, nlohmann::json> answer(const httplib::Result& r) {
    if (!r) return {-1, nullptr};
    return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
}
httplib::Headers auth(const std::string& key) { return key.empty() ? httplib::Headers{} : httplib::Headers{{"Authorization", "Bearer " + key}}; }
}  // namespace

std::pair<int, nlohmann::json> TestServer::post(const std::string& path, const nlohmann::json& body, const std::string& key) const {
    return answer(client().Post(path.c_str(), auth(key), body.dump(), "application/json"));
}

std::pair<int, nlohmann::json> TestServer::get(const std::string& path, const std::string& key) const {
    return answer(client().Get(path.c_str(), auth(key)));
}

double TestServer::metric(const std::string& name) const {
    auto r = client().Get("/metrics");
    if (!r) return -1;
    const std::string key = "\nvk_symbiote_" + name + " ";
    const size_t at = r->body.find(key);
    return at == std::string::npos ? -1 : std::stod(r->body.substr(at + key.size()));
}

std::string SseResult::text() const {
    std::string t;
    for (const std::string& e : events) {
        if (e == "[DONE]") continue;
        const auto j = nlohmann::json::parse(e);
        if (!j.contains("choices") || j["choices"].empty()) continue;
        const auto& c = j["choices"][0];
        if (c.contains("delta") && c["delta"].contains("content")) t += c["delta"]["content"].get<std::string>();
        if (c.contains("text")) t += c["text"].get<std::string>();
    }
    return t;
}

nlohmann::json SseResult::last_chunk_with_choices() const {
    nlohmann::json last;
    for (const std::string& e : events)
        if (e != "[DONE]") {
            auto j = nlohmann::json::parse(e);
            if (j.contains("choices") && !j["choices"].empty()) last = j;
        }
    return last;
}

SseResult post_stream(const TestServer& s, const std::string& path, nlohmann::json body) {
    body["stream"] = true;
    SseResult out;
    std::string buffer;
    auto c = s.client();
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        buffer.append(data, n);
        for (size_t cut; (cut = buffer.find("\n\n")) != std::string::npos; buffer.erase(0, cut + 2))
            if (buffer.rfind("data: ", 0) == 0) out.events.push_back(buffer.substr(6, cut - 6));
        return true;
    };
    auto r = c.send(req);
    out.status = r ? r->status : -1;
    if (r && r->status != 200) out.events.push_back(r->body);
    return out;
}

bool eventually(const std::function<bool()>& pred, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

}  // namespace vk_symbiote::test
