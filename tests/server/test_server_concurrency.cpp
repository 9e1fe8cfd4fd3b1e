// Many clients at once: concurrent greedy streams give what the same requests give one at a
// time, requests beyond --parallel queue, and a client that disconnects mid-stream cancels
// its generation and gives its KV blocks back.
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "TestServer.h"

using namespace vk_symbiote;
using nlohmann::json;

namespace {

json story_request(int i, int max_tokens) {
    const char* starts[] = {"Once upon a time", "The cat", "Lily went to", "Tom had a big", "One day, a bird", "The sun was", "Mom said", "A little boy"};
    return {{"messages", json::array({{{"role", "user"}, {"content", starts[i % 8]}}})}, {"max_tokens", max_tokens}};
}

TEST(ServerConcurrency, EightConcurrentStreamsEqualTheSameRequestsOneAtATime) {
    test::TestServer server({"--parallel", "8", "--prompt-cache", "0"});  // every block back at the end
    std::vector<std::string> sequential;
    for (int i = 0; i < 8; ++i) {
        auto [s, r] = server.post("/v1/chat/completions", story_request(i, 32));
        ASSERT_EQ(s, 200) << r.dump();
        sequential.push_back(r["choices"][0]["message"]["content"]);
    }
    std::vector<std::future<test::SseResult>> streams;
    for (int i = 0; i < 8; ++i)
        streams.push_back(std::async(std::launch::async, [&, i] { return test::post_stream(server, "/v1/chat/completions", story_request(i, 32)); }));
    for (int i = 0; i < 8; ++i) {
        const test::SseResult r = streams[i].get();
        ASSERT_EQ(r.status, 200);
        EXPECT_EQ(r.text(), sequential[i]) << "request " << i;
    }
    EXPECT_GT(server.metric("peak_sequences_per_pass"), 1) << "the streams shared forward passes";
    EXPECT_TRUE(test::eventually([&] { return server.metric("kv_blocks_used") == 0; }));
}

// With --parallel 1 a long generation holds the only slot: the next requests wait in the queue
// (/metrics says so); once its client hangs up, they run and answer.
// A streamed generation of up to 8000 tokens whose client reads until `hang_up` is set.
std::future<void> hold_slot(const test::TestServer& server, std::atomic<bool>& hang_up) {
    json long_one = story_request(0, 8000);
    long_one["ignore_eos"] = true;
    long_one["stream"] = true;
    return std::async(std::launch::async, [&server, &hang_up, body = long_one.dump()] {
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/chat/completions";
        req.body = body;
        req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return !hang_up.load(); };
        server.client().send(req);
    });
}

TEST(ServerConcurrency, RequestsBeyondParallelQueue) {
    test::TestServer server({"--parallel", "1", "--ctx-size", "8192", "--max-tokens-limit", "8000"});
    std::atomic<bool> hang_up{false};
    auto first = hold_slot(server, hang_up);
    ASSERT_TRUE(test::eventually([&] { return server.metric("requests_active") == 1; }));
    std::vector<std::future<std::pair<int, json>>> queued;
    for (int i = 1; i <= 2; ++i) queued.push_back(std::async(std::launch::async, [&, i] { return server.post("/v1/chat/completions", story_request(i, 8)); }));
    EXPECT_TRUE(test::eventually([&] { return server.metric("queue_length") == 2; })) << "the two requests wait behind the long one";
    EXPECT_EQ(server.metric("requests_finished_total"), 0);
    hang_up = true;
    first.get();
    for (auto& q : queued) EXPECT_EQ(q.get().first, 200);
    EXPECT_EQ(server.metric("requests_finished_total"), 2);
    EXPECT_EQ(server.metric("requests_cancelled_total"), 1);
    EXPECT_EQ(server.metric("peak_sequences_per_pass"), 1);
    EXPECT_EQ(server.metric("queue_length"), 0);
}

// Beyond --parallel and --max-queue a request is refused at once with 503.
TEST(ServerConcurrency, AFullQueueAnswers503) {
    test::TestServer server({"--parallel", "1", "--max-queue", "0", "--ctx-size", "8192", "--max-tokens-limit", "8000"});
    std::atomic<bool> hang_up{false};
    auto first = hold_slot(server, hang_up);
    ASSERT_TRUE(test::eventually([&] { return server.metric("requests_active") == 1; }));
    auto [s, body] = server.post("/v1/chat/completions", story_request(1, 8));
    EXPECT_EQ(s, 503);
    EXPECT_EQ(body["error"]["code"], "server_busy");
    hang_up = true;
    first.get();
    EXPECT_TRUE(test::eventually([&] { return server.metric("requests_active") == 0; }));
    EXPECT_EQ(server.post("/v1/chat/completions", story_request(1, 8)).first, 200);
}

// The client reads the first event and hangs up: the server notices at its next write,
// cancels the sequence, and the pool gets every block back.
TEST(ServerConcurrency, DisconnectMidStreamCancelsAndFreesKvBlocks) {
    test::TestServer server({"--ctx-size", "2048"});
    json body = story_request(0, 2000);
    body["ignore_eos"] = true;
    body["stream"] = true;
    auto c = server.client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    std::atomic<int> chunks{0};
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 2; };  // false: hang up
    c.send(req);
    EXPECT_GE(chunks.load(), 2);
    EXPECT_TRUE(test::eventually([&] { return server.metric("requests_cancelled_total") == 1; }));
    EXPECT_TRUE(test::eventually([&] { return server.metric("requests_active") == 0 && server.metric("kv_blocks_used") == 0; }));
    EXPECT_LT(server.metric("generated_tokens_total"), 2000);
    EXPECT_EQ(server.metric("requests_finished_total"), 0);
}

}  // namespace
