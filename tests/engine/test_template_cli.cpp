// `vk_symbiote template`: prints a chat template's rendering of a vars file exactly (no newline
// added), the date pinned by --date; a template that raises exits non-zero with its message.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/RunCommand.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

using Cmd = test::CommandResult;

Cmd run(const std::string& cmd) { return test::run_command(cmd); }

std::string vk() { return (Path(VKS_TEST_BINARY_DIR) / "vk_symbiote").string(); }

// The template variables of a case: everything but its id and its answer.
std::string write_vars(const nlohmann::ordered_json& c, const std::string& name) {
    nlohmann::ordered_json vars = c;
    for (const char* k : {"id", "expected", "error"}) vars.erase(k);
    const Path p = test::tmp_dir() / name;
    std::ofstream(p, std::ios::binary) << vars.dump();
    return p.string();
}

Cmd render(const std::string& tmpl, const std::string& vars, const std::string& extra = "") {
    return run(vk() + " template --template-file '" + tmpl + "' --vars-file '" + vars + "' --date 2025-03-14 " + extra);
}

// Every case of three real templates, one of them formatting the date.
TEST(TemplateCli, PrintsTheReferenceRenderingExactly) {
    for (const char* name : {"llama-3.1-instruct", "qwen3", "granite-3.3-instruct"}) {
        const Path dir = test::shared_dir() / "chat-templates";
        const auto cases = nlohmann::ordered_json::parse(test::read_file(dir / (std::string(name) + ".cases.json")));
        for (const auto& c : cases) {
            if (!c.contains("expected")) continue;
            const std::string id = c["id"];
            const Cmd r = render((dir / (std::string(name) + ".jinja")).string(), write_vars(c, std::string(name) + "-" + id + ".json"));
            ASSERT_EQ(r.status, 0) << name << " " << id;
            EXPECT_EQ(r.out, c["expected"].get<std::string>()) << name << " " << id;
        }
    }
}

TEST(TemplateCli, RaiseExceptionExitsNonZeroWithTheMessage) {
    const Path t = test::tmp_dir() / "raises.jinja";
    std::ofstream(t) << "{{ raise_exception('no system role here') }}";
    const std::string vars = write_vars({{"messages", nlohmann::ordered_json::array()}}, "raises.json");
    const Cmd r = render(t.string(), vars, "2>&1");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("no system role here"), std::string::npos) << r.out;
}

TEST(TemplateCli, BadArgumentsAreNamed) {
    const Path t = test::tmp_dir() / "plain.jinja";
    std::ofstream(t) << "{{ strftime_now('%Y-%m-%d') }}";
    const std::string vars = write_vars({{"messages", nlohmann::ordered_json::array()}}, "plain.json");
    const Cmd ok = render(t.string(), vars);
    EXPECT_EQ(ok.status, 0);
    EXPECT_EQ(ok.out, "2025-03-14");
    const Cmd bad_date = render(t.string(), vars, "--date 2025-13-01 2>&1");  // the later --date wins
    EXPECT_NE(bad_date.status, 0);
    EXPECT_NE(bad_date.out.find("--date"), std::string::npos) << bad_date.out;
    const Path notobj = test::tmp_dir() / "list.json";
    std::ofstream(notobj) << "[1, 2]";
    const Cmd bad_vars = render(t.string(), notobj.string(), "2>&1");
    EXPECT_NE(bad_vars.status, 0);
    EXPECT_NE(bad_vars.out.find("--vars-file"), std::string::npos) << bad_vars.out;
    const Cmd missing = run(vk() + " template --vars-file '" + vars + "' 2>&1");
    EXPECT_NE(missing.status, 0);
    EXPECT_NE(missing.out.find("--template-file"), std::string::npos) << missing.out;
}

}  // namespace
