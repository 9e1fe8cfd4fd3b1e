// `vk_symbiote chat` as a user runs it: the chat template it renders, the prompt it feeds,
// and its errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/ChatTemplate.h"
#include "support/RunCommand.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

using Cmd = test::CommandResult;

Cmd run(const std::string& cmd) { return test::run_command(cmd); }

std::string q(const std::string& s) { return "'" + s + "'"; }
std::string vk() { return (Path(VKS_TEST_BINARY_DIR) / "vk_symbiote").string(); }
std::string model() { return (test::models_dir() / "stories260K.gguf").string(); }
std::string shared_template(const std::string& name) { return (test::shared_dir() / "chat-templates" / name).string(); }

std::string write_temp(const std::string& name, const std::string& text) {
    const Path p = test::tmp_dir() / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
}

// `chat` with these lines on stdin; greedy, a few tokens, CPU.
Cmd chat(const std::string& input, const std::string& extra) {
    return run("printf " + q(input) + " | " + vk() + " chat --disable-gpu --model " + q(model()) + " --temperature 0 --max-tokens 6 " + extra);
}

// The first reply of `chat` is the greedy continuation of the template's rendering of the
// conversation: the same text `generate` prints for that rendered prompt.
TEST(ChatCli, FirstReplyContinuesTheRenderedTemplate) {
    const std::string tfile = shared_template("qwen2.5-instruct.jinja");
    Cmd c = chat("Hello there\n", "--chat-template-file " + q(tfile) + " --log-level WARNING 2>/dev/null");
    ASSERT_EQ(c.status, 0) << c.out;
    auto tmpl = ChatTemplate::from_jinja(test::read_file(tfile), tfile, nlohmann::ordered_json::object());
    ASSERT_TRUE(tmpl);
    auto prompt = tmpl->render(nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hello there"}}}));
    ASSERT_TRUE(prompt);
    Cmd g = run(vk() + " generate --disable-gpu --model " + q(model()) + " --temperature 0 --max-tokens 6 --prompt-file " +
                q(write_temp("rendered.txt", *prompt)) + " 2>/dev/null");
    ASSERT_EQ(g.status, 0);
    EXPECT_EQ(c.out, g.out);
    EXPECT_FALSE(c.out.empty());
}

// Turn 2 keeps the ids of turn 1's prompt and reply (the debug log says how many).
TEST(ChatCli, SecondTurnKeepsThePrefix) {
    Cmd c = chat("Hello\nAnd then?\n", "--chat-template-file " + q(shared_template("qwen2.5-instruct.jinja")) + " -v 2>&1");
    ASSERT_EQ(c.status, 0) << c.out;
    EXPECT_NE(c.out.find("chat: using the Jinja chat template " + shared_template("qwen2.5-instruct.jinja")), std::string::npos) << c.out;
    const size_t first = c.out.find("0 of them kept from the last turn");
    ASSERT_NE(first, std::string::npos) << c.out;
    const size_t second = c.out.find(" of them kept from the last turn", first + 10);
    ASSERT_NE(second, std::string::npos) << c.out;
    const size_t start = c.out.rfind(", ", second) + 2;
    EXPECT_GT(std::stoul(c.out.substr(start, second - start)), 100u) << c.out;  // the first prompt alone is over 100 tokens
}

TEST(ChatCli, NoTemplateInTheModelUsesTheFallback) {
    Cmd c = chat("Hi\n", "2>&1");
    ASSERT_EQ(c.status, 0) << c.out;
    EXPECT_NE(c.out.find("a plain User:/Assistant: transcript"), std::string::npos) << c.out;
}

TEST(ChatCli, TemplateErrorsAreClearErrors) {
    Cmd broken = chat("Hi\n", "--chat-template-file " + q(write_temp("broken.jinja", "{% for m in messages %}{{ m.content }")) + " 2>&1");
    EXPECT_EQ(broken.status, 1);
    EXPECT_NE(broken.out.find("chat template '" + (test::tmp_dir() / "broken.jinja").string() + "' line 1, column 37: unexpected '}'"), std::string::npos)
        << broken.out;
    Cmd raised = chat("Hi\n", "--prompt 'Be brief.' --chat-template-file " + q(shared_template("gemma-2-it.jinja")) + " 2>&1");
    EXPECT_EQ(raised.status, 1);
    EXPECT_NE(raised.out.find("the template raised an error: System role not supported"), std::string::npos) << raised.out;
    Cmd missing = chat("Hi\n", "--chat-template-file /nonexistent/t.jinja 2>&1");
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.out.find("/nonexistent/t.jinja: cannot read --chat-template-file"), std::string::npos) << missing.out;
}

}  // namespace
