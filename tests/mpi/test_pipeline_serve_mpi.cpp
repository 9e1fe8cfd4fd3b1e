// `vk_symbiote serve --pipeline` (mpirun on this machine; the CPU path, and lavapipe):
// concurrent greedy requests through 2 and 3 ranks give a single process's texts, as
// micro-batches in flight at once; an idle server outlives --pipeline-timeout (the keep-alive);
// a client that leaves disturbs no other request; SIGTERM to rank 0 ends every rank cleanly; a
// rank that dies or hangs ends the server with an error naming it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <thread>

#include "MpiRun.h"
#include "PipelineCases.h"
#include "ServeProcess.h"
#include "backend/vulkan/VulkanBackend.h"
#include "packs/PackWeightProvider.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

constexpr uint32 kMaxTokens = 40;

// The serve command line: greedy, --parallel 4, a free port; `ranks` 0: one process, no mpirun.
// `device`: the stages on Vulkan device 0 (lavapipe), else the CPU path.
std::string serve_cmd(uint32 ranks, const std::string& model, const std::string& extra, bool device = false) {
    const std::string base = build_program("vk_symbiote") + " serve" + (device ? " --device-index 0" : " --disable-gpu") + " --port 0 --host 127.0.0.1 --temperature 0 --parallel 4" + common_args(model);
    return ranks == 0 ? base + extra : mpirun(ranks) + base + " --pipeline" + extra;
}

// The requests: prompts as text and as the reference cases' token ids.
std::vector<nlohmann::json> stories_requests() {
    std::vector<nlohmann::json> out;
    for (const char* text : {"Once upon a time", "The little dog ran to the park", "Lily had a red ball."})
        out.push_back({{"prompt", text}, {"max_tokens", kMaxTokens}, {"temperature", 0}});
    auto c = load_reference_case("stories260K.park");
    EXPECT_TRUE(c) << c.error().message;
    if (c) out.push_back({{"prompt", c->prompt_tokens}, {"max_tokens", kMaxTokens}, {"temperature", 0}});
    return out;
}

// Every request at once (one thread each): each answer's text, "" for a failed one.
std::vector<std::string> complete_all(const ServeProcess& s, const std::vector<nlohmann::json>& reqs) {
    std::vector<std::string> texts(reqs.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < reqs.size(); ++i)
        threads.emplace_back([&, i] {
            auto [status, doc] = s.complete(reqs[i]);
            EXPECT_EQ(status, 200) << doc.dump();
            if (status == 200) texts[i] = doc["choices"][0]["text"].get<std::string>();
        });
    for (auto& t : threads) t.join();
    return texts;
}

// tiny_ram_entry (one sequence's KV cache) with room for the KV caches of --parallel 4 on the
// CPU path (a full context per slot): the rank still streams its layers from packs.
std::string tiny_ram_entry_for_four(const std::string& model) {
    auto g = open_model_source(models_dir() / model);
    EXPECT_TRUE(g);
    auto cfg = ModelConfig::from_source(**g);
    EXPECT_TRUE(cfg);
    const double more = double(estimate_activation_kv_bytes(*cfg, kCtx, 512, 4 * kCtx) - estimate_activation_kv_bytes(*cfg, kCtx, 512, kCtx));
    const std::string entry = tiny_ram_entry(model);  // "0:RAM:SPEED"
    const size_t a = entry.find(':') + 1, b = entry.find(':', a);
    const double gb = std::stod(entry.substr(a, b - a)) + more / 1073741824.0;
    char buf[96];
    std::snprintf(buf, sizeof buf, "0:%.17g:%.17g", gb, 3.0 / gb);
    return buf;
}

std::vector<std::string> single_process_texts(const std::string& model, const std::vector<nlohmann::json>& reqs) {
    ServeProcess one(serve_cmd(0, model, ""));
    EXPECT_TRUE(one.listening()) << one.log();
    if (!one.listening()) return {};
    auto texts = complete_all(one, reqs);
    EXPECT_EQ(one.stop(), 0) << one.log();
    return texts;
}

}  // namespace

// Four concurrent requests through 2 ranks (2 micro-batches) and 3 ranks (3 micro-batches, one
// rank streaming its layers from packs, after idling past --pipeline-timeout): the texts of one
// process, more than one micro-batch in flight, and a clean stop with every rank's report.
TEST(PipelineServe, ConcurrentRequestsMatchOneProcessAsMicroBatches) {
    SKIP_WITHOUT_MPIRUN();
    const auto reqs = stories_requests();
    const auto want = single_process_texts("stories260K.gguf", reqs);
    ASSERT_EQ(want.size(), reqs.size());
    for (const auto& t : want) EXPECT_FALSE(t.empty());
    EXPECT_NE(want[0], want[1]) << "distinct prompts give distinct continuations";
    const std::string packs = " --max-pack-mb 0.00390625 --budgets 0:1," + tiny_ram_entry_for_four("stories260K.gguf") + ",0:1 --pipeline-timeout 3";
    for (const auto& [ranks, extra] : std::vector<std::pair<uint32, std::string>>{{2, " --stats"}, {3, packs + " --stats"}}) {
        ServeProcess s(serve_cmd(ranks, "stories260K.gguf", extra));
        ASSERT_TRUE(s.listening()) << s.log();
        if (ranks == 3) std::this_thread::sleep_for(std::chrono::seconds(8));  // idle: the keep-alive holds the ranks' deadlines
        EXPECT_EQ(complete_all(s, reqs), want) << ranks << " ranks\n" << s.log();
        EXPECT_EQ(complete_all(s, std::vector<nlohmann::json>(1, reqs[0]))[0], want[0]) << "one request alone, stage after stage";
        EXPECT_GE(s.metric("pipeline_peak_in_flight"), 2.0) << ranks << " ranks";
        EXPECT_GT(s.metric("pipeline_micro_batches_total"), 2.0 * kMaxTokens);
        EXPECT_EQ(s.stop(), 0) << s.log();
        const std::string log = s.log();
        EXPECT_NE(log.find("micro-batches through " + std::to_string(ranks) + " ranks, at most"), std::string::npos) << log;
        std::smatch m;
        ASSERT_TRUE(std::regex_search(log, m, std::regex("at most (\\d+) in flight at once"))) << log;
        EXPECT_GE(std::stoi(m[1]), 2) << log;
        if (ranks == 3) {
            EXPECT_NE(log.find("weights streamed in packs"), std::string::npos) << log;
        }
        EXPECT_NE(log.find("bubble"), std::string::npos) << "every rank's report (--stats)\n" << log;
    }
}

// A reference case of another architecture (its prompt as token ids, greedy) through 2 ranks:
// the text of one process.
TEST(PipelineServe, AReferenceCaseMatchesOneProcess) {
    SKIP_WITHOUT_MPIRUN();
    auto c = load_reference_case("arch-qwen3");
    ASSERT_TRUE(c) << c.error().message;
    const nlohmann::json body = {{"prompt", c->prompt_tokens}, {"max_tokens", 24}, {"temperature", 0}};
    const std::vector<nlohmann::json> reqs(1, body);
    const auto want = single_process_texts(c->model, reqs);
    ASSERT_EQ(want.size(), 1u);
    EXPECT_FALSE(want[0].empty());
    ServeProcess s(serve_cmd(2, c->model, ""));
    ASSERT_TRUE(s.listening()) << s.log();
    EXPECT_EQ(complete_all(s, reqs), want) << s.log();
    EXPECT_EQ(s.stop(), 0) << s.log();
}

// The stages on Vulkan (lavapipe, each rank's layers and its slots' KV cache on the device):
// the concurrent requests through 2 ranks answer as one process on the CPU.
TEST(PipelineServe, DeviceStagesMatchOneProcess) {
    SKIP_WITHOUT_MPIRUN();
    if (!VulkanBackend::create(VulkanOptions{})) GTEST_SKIP() << "no Vulkan device";
    const auto reqs = stories_requests();
    const auto want = single_process_texts("stories260K.gguf", reqs);
    ASSERT_EQ(want.size(), reqs.size());
    ServeProcess s(serve_cmd(2, "stories260K.gguf", "", true));
    ASSERT_TRUE(s.listening()) << s.log();
    EXPECT_EQ(complete_all(s, reqs), want) << s.log();
    EXPECT_GE(s.metric("pipeline_peak_in_flight"), 2.0);
    EXPECT_EQ(s.stop(), 0) << s.log();
    EXPECT_NE(s.log().find("computed on"), std::string::npos);
    EXPECT_EQ(s.log().find("computed on the CPU"), std::string::npos) << s.log();
}

// A streamed request whose client leaves after a few tokens is cancelled (its micro-batch may
// be in flight then): the requests beside it and after it answer as in one process.
TEST(PipelineServe, AClientThatLeavesDoesNotDisturbTheOthers) {
    SKIP_WITHOUT_MPIRUN();
    const auto reqs = stories_requests();
    const auto want = single_process_texts("stories260K.gguf", reqs);
    ASSERT_EQ(want.size(), reqs.size());
    ServeProcess s(serve_cmd(2, "stories260K.gguf", ""));
    ASSERT_TRUE(s.listening()) << s.log();
    nlohmann::json long_one = reqs[1];
    long_one["max_tokens"] = 200;
    std::thread leaver([&] { EXPECT_GE(s.stream_and_leave(long_one, 3), 3); });
    EXPECT_EQ(complete_all(s, reqs), want) << s.log();
    leaver.join();
    EXPECT_EQ(complete_all(s, reqs), want) << "after the client left\n" << s.log();
    EXPECT_EQ(s.metric("requests_total"), 2.0 * double(reqs.size()) + 1);
    EXPECT_EQ(s.stop(), 0) << s.log();
}

// Rank 1 stops answering mid-request: the rank after it names it within the timeout and every
// rank ends (the server too), never a hang; rank 1 exiting ends the server within seconds.
TEST(PipelineServe, ARankThatHangsOrDiesEndsTheServer) {
    SKIP_WITHOUT_MPIRUN();
    const nlohmann::json req{{"prompt", "Once upon a time"}, {"max_tokens", 100}, {"temperature", 0}};
    for (const char* knob : {" --pipeline-stall-after 5", " --pipeline-exit-after 5"}) {
        ServeProcess s(serve_cmd(3, "stories260K.gguf", std::string(knob) + " --pipeline-timeout 2"));
        ASSERT_TRUE(s.listening()) << s.log();
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_NE(s.complete(req).first, 200) << s.log();
        const int status = s.wait_exit(30);
        EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0) << s.log();
        EXPECT_GT(status, 0) << s.log();
        const std::string log = s.log();
        EXPECT_NE(log.find("rank 1 (host"), std::string::npos) << log;
        if (std::string(knob).find("stall") != std::string::npos) {
            EXPECT_NE(log.find("receive from rank 1 (host"), std::string::npos) << log;
        }
    }
}
