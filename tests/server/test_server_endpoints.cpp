// The server's endpoints other than generation, its errors and the API key, over real HTTP
// on 127.0.0.1 (TestServer: stories260K on the CPU).
#include <gtest/gtest.h>

#include "TestServer.h"

using namespace vk_symbiote;
using nlohmann::json;

namespace {

const json kChat = {{"messages", json::array({{{"role", "user"}, {"content", "Hello"}}})}, {"max_tokens", 4}};

class ServerEndpoints : public ::testing::Test {
protected:
    static void SetUpTestSuite() { server_ = new test::TestServer({"--max-tokens-limit", "1000", "--max-body-mb", "0.01"}); }
    static void TearDownTestSuite() { delete server_; }
    static test::TestServer* server_;
};
test::TestServer* ServerEndpoints::server_ = nullptr;

TEST_F(ServerEndpoints, HealthModelsAndProps) {
    auto [hs, health] = server_->get("/health");
    EXPECT_EQ(hs, 200);
    EXPECT_EQ(health["status"], "ok");
    auto [ms, models] = server_->get("/v1/models");
    ASSERT_EQ(ms, 200);
    EXPECT_EQ(models["object"], "list");
    ASSERT_EQ(models["data"].size(), 1u);
    EXPECT_EQ(models["data"][0]["id"], "stories260K");
    auto [ps, props] = server_->get("/props");
    ASSERT_EQ(ps, 200);
    EXPECT_EQ(props["n_ctx"], 512);
    EXPECT_EQ(props["backend"], "cpu");
    EXPECT_FALSE(props["placement"].get<std::string>().empty());
}

TEST_F(ServerEndpoints, TokenizeAndDetokenizeRoundTrip) {
    auto [ts, tok] = server_->post("/tokenize", {{"content", "Once upon a time"}});
    ASSERT_EQ(ts, 200);
    ASSERT_FALSE(tok["tokens"].empty());
    auto [ds, detok] = server_->post("/detokenize", {{"tokens", tok["tokens"]}});
    ASSERT_EQ(ds, 200);
    EXPECT_EQ(detok["content"], "Once upon a time");
    auto [ws, pieces] = server_->post("/tokenize", {{"content", "Once"}, {"with_pieces", true}});
    ASSERT_EQ(ws, 200);
    EXPECT_TRUE(pieces["tokens"][0].contains("piece"));
    EXPECT_EQ(server_->post("/detokenize", {{"tokens", {999999}}}).first, 400);
    EXPECT_EQ(server_->post("/tokenize", {{"text", "x"}}).first, 400);
}

TEST_F(ServerEndpoints, ApplyTemplateRendersTheModelsFormat) {
    auto [s, body] = server_->post("/apply-template", kChat);
    ASSERT_EQ(s, 200);
    // stories260K has no template: the plain transcript.
    EXPECT_EQ(body["prompt"], "User: Hello\nAssistant:");
}

TEST_F(ServerEndpoints, ChatPageIsServed) {
    auto r = server_->client().Get("/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->get_header_value("Content-Type").find("text/html"), std::string::npos);
    EXPECT_NE(r->body.find("/v1/chat/completions"), std::string::npos);
    EXPECT_EQ(r->body.find("http://"), std::string::npos) << "the page loads nothing from elsewhere";
}

TEST_F(ServerEndpoints, MetricsArePrometheusText) {
    auto r = server_->client().Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    for (const char* name : {"requests_total", "generated_tokens_total", "tokens_per_second", "queue_length", "kv_blocks_used", "kv_blocks_total",
                             "weight_bytes_disk_total", "ram_budget_bytes"})
        EXPECT_GE(server_->metric(name), 0) << name;
    EXPECT_GT(server_->metric("kv_blocks_total"), 0);
    EXPECT_NE(r->body.find("# TYPE vk_symbiote_requests_total counter"), std::string::npos);
}

// Each error answers OpenAI's error object with the status and the field at fault.
TEST_F(ServerEndpoints, BadRequestsAreOpenAiErrors) {
    struct Case {
        json body;
        const char* param;
    };
    const std::vector<Case> cases = {
        {{{"messages", json::array()}}, "messages"},
        {{{"max_tokens", 4}}, "messages"},
        {json::object({{"messages", kChat["messages"]}, {"n", 2}}), "n"},
        {json::object({{"messages", kChat["messages"]}, {"max_tokens", 5000}}), "max_tokens"},
        {json::object({{"messages", kChat["messages"]}, {"temperature", "hot"}}), "temperature"},
        {json::object({{"messages", kChat["messages"]}, {"top_p", 2}}), "top_p"},
        {json::object({{"messages", kChat["messages"]}, {"stop", json::array({""})}}), "stop"},
        {json::object({{"messages", kChat["messages"]}, {"top_logprobs", 3}}), "top_logprobs"},
        {json::object({{"messages", json::array({{{"content", "no role"}}})}}), "messages"},
    };
    for (const Case& c : cases) {
        auto [s, body] = server_->post("/v1/chat/completions", c.body);
        EXPECT_EQ(s, 400) << c.body.dump();
        ASSERT_TRUE(body.contains("error")) << body.dump();
        EXPECT_EQ(body["error"]["type"], "invalid_request_error");
        EXPECT_EQ(body["error"]["param"], c.param) << c.body.dump();
        EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
    }
}

TEST_F(ServerEndpoints, MalformedBodiesUnknownRoutesAndLimits) {
    auto r = server_->client().Post("/v1/completions", "{not json", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(server_->get("/v1/nothing").first, 404);
    EXPECT_EQ(server_->get("/v1/nothing").second["error"]["type"], "not_found_error");
    // --max-body-mb 0.01: about 10 KiB.
    auto big = server_->post("/v1/completions", {{"prompt", std::string(20000, 'a')}});
    EXPECT_EQ(big.first, 413);
    // A prompt longer than the context (--ctx-size 512) but within the body limit.
    std::vector<int> ids(600, 300);
    auto [s, body] = server_->post("/v1/completions", {{"prompt", ids}});
    EXPECT_EQ(s, 400);
    EXPECT_EQ(body["error"]["param"], "prompt");
    EXPECT_EQ(server_->post("/v1/completions", {{"prompt", {100000}}}).first, 400);
}

TEST(ServerAuth, ApiKeyGuardsEveryEndpointButHealth) {
    test::TestServer server({"--api-key", "sesame"});
    EXPECT_EQ(server.get("/health").first, 200);
    for (const char* path : {"/v1/models", "/metrics", "/props", "/"}) {
        auto [s, body] = server.get(path);
        EXPECT_EQ(s, 401) << path;
        EXPECT_EQ(body["error"]["type"], "authentication_error") << path;
        EXPECT_EQ(server.get(path, "wrong").first, 401) << path;
        EXPECT_EQ(server.get(path, "sesame").first, 200) << path;
    }
    for (const char* path : {"/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize", "/apply-template"})
        EXPECT_EQ(server.post(path, kChat).first, 401) << path;
    EXPECT_EQ(server.post("/v1/chat/completions", kChat, "sesame").first, 200);
}

}  // namespace
