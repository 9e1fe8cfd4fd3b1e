// Issue 26, defect 8: `chat` exited when the conversation outgrew the context. ChatHistory
// drops the oldest turns (the system prompt stays) so every turn gets a reply.
#include <gtest/gtest.h>

#include "runtime/Session.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

namespace {

// One token per 4 bytes: enough to exercise the fitting without a tokenizer.
size_t quarter(const std::string& s) { return s.size() / 4 + 1; }

}  // namespace

TEST(ChatHistory, DropsWholeOldestTurnsAndKeepsTheSystemPrompt) {
    ChatHistory h(ChatFormat::Plain, "SYSTEM");
    for (int i = 0; i < 6; ++i) {
        h.add_user("question " + std::to_string(i) + std::string(40, 'q'));
        auto p = h.next_prompt(quarter, 64, 16);
        ASSERT_TRUE(p) << p.error().to_string();
        EXPECT_LE(p->tokens + 16, 64u);
        EXPECT_NE(p->text.find("SYSTEM"), std::string::npos) << p->text;
        EXPECT_NE(p->text.find("question " + std::to_string(i)), std::string::npos);
        h.add_assistant("answer " + std::to_string(i) + std::string(40, 'a'));
    }
    const auto& m = h.messages();
    ASSERT_GE(m.size(), 2u);
    EXPECT_EQ(m[0].role, "system");
    EXPECT_EQ(m[1].role, "user") << "a kept conversation opens with a user message";
    EXPECT_EQ(m.back().content.rfind("answer 5", 0), 0u);
    EXPECT_LT(m.size(), 13u) << "nothing was dropped";
}

TEST(ChatHistory, AMessageTooLongForTheContextIsRefusedAndTheChatGoesOn) {
    ChatHistory h(ChatFormat::Plain, "SYSTEM");
    h.add_user(std::string(400, 'x'));
    auto p = h.next_prompt(quarter, 64, 16);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(p.error().message.find("the context holds 64"), std::string::npos) << p.error().message;
    h.drop_last();
    h.add_user("short");
    ASSERT_TRUE(h.next_prompt(quarter, 64, 16));
}

// The real model at a context of 64 tokens: a dozen turns, each answered.
TEST(ChatHistory, LongChatOnStories260KStaysAliveAtATinyContext) {
    ConfigManager cfg;
    auto r = cfg.load(std::vector<std::string>{"--disable-gpu", "--log-level", "ERROR", "--ctx-size", "64", "--temperature", "0", "--max-tokens", "12"},
                      [](std::string_view) { return std::optional<std::string>(); });
    ASSERT_TRUE(r) << r.error().to_string();
    auto engine = VulkanSymbioteEngine::create(test::models_dir() / "stories260K.gguf", cfg);
    ASSERT_TRUE(engine) << engine.error().to_string();
    VulkanSymbioteEngine& e = **engine;
    ASSERT_EQ(e.context_size(), 64u);
    const GenerationOptions o = e.default_generation_options();
    const auto count = [&](const std::string& t) { return e.encode(t).size(); };
    ChatHistory h(ChatFormat::Plain, "Tell a story.");
    size_t dropped = 0;
    for (int turn = 0; turn < 12; ++turn) {
        h.add_user("The little dog ran to the park with Lily.");
        auto p = h.next_prompt(count, e.context_size(), o.max_tokens);
        ASSERT_TRUE(p) << "turn " << turn << ": " << p.error().to_string();
        dropped += p->dropped_messages;
        EXPECT_LE(p->tokens + o.max_tokens, 64u);
        EXPECT_NE(p->text.find("Tell a story."), std::string::npos) << "the system prompt was dropped";
        auto reply = e.generate_stream(p->text, o, {});
        ASSERT_TRUE(reply) << "turn " << turn << ": " << reply.error().to_string();
        h.add_assistant(*reply);
    }
    EXPECT_GT(dropped, 0u) << "twelve turns fit 64 tokens?";
}
