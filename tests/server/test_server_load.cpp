// The load generator (server/LoadGenerator, tools/vk_symbiote_load) against an in-process
// server: every level completes all its requests with exactly max_tokens tokens each, and
// reports a rate and TTFT percentiles; a refused request ends the run with its status.
#include <gtest/gtest.h>

#include "TestServer.h"
#include "server/LoadGenerator.h"

using namespace vk_symbiote;

namespace {

server::LoadOptions options_for(const test::TestServer& s) {
    server::LoadOptions opt;
    opt.url = "http://127.0.0.1:" + std::to_string(s.port());
    opt.clients = {1, 4};
    opt.requests = 2;
    opt.max_tokens = 8;
    opt.timeout_s = 120;
    return opt;
}

TEST(ServerLoad, EveryLevelReportsAllTokensARateAndTtft) {
    test::TestServer server({"--parallel", "4"});
    const auto opt = options_for(server);
    auto levels = server::run_load(opt);
    ASSERT_TRUE(levels) << levels.error().message;
    ASSERT_EQ(levels->size(), 2u);
    for (size_t i = 0; i < levels->size(); ++i) {
        const auto& l = (*levels)[i];
        EXPECT_EQ(l.clients, opt.clients[i]);
        EXPECT_EQ(l.requests, l.clients * opt.requests);
        EXPECT_EQ(l.tokens, uint64(l.requests) * opt.max_tokens) << "ignore_eos: every request runs to max_tokens";
        EXPECT_GT(l.tokens_per_second, 0);
        EXPECT_GT(l.ttft_p50_ms, 0);
        EXPECT_GE(l.ttft_p99_ms, l.ttft_p50_ms);
    }
    const std::string table = server::load_table(opt, *levels);
    EXPECT_NE(table.find("TTFT p99 ms"), std::string::npos);
    const auto json = nlohmann::json::parse(server::load_json(opt, *levels));
    EXPECT_EQ(json["levels"][1]["requests"], 8);
}

TEST(ServerLoad, ARefusedRequestEndsTheRunWithItsStatus) {
    test::TestServer server({"--api-key", "secret"});
    auto opt = options_for(server);
    opt.clients = {1};
    auto levels = server::run_load(opt);
    ASSERT_FALSE(levels);
    EXPECT_NE(levels.error().message.find("HTTP 401"), std::string::npos) << levels.error().message;
    opt.api_key = "secret";
    EXPECT_TRUE(server::run_load(opt)) << "with the key the same run completes";
}

}  // namespace
