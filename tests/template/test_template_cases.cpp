// Every case of ../shared/chat-templates/*.cases.json: real chat templates rendered with the
// conversations there must give exactly the string Hugging Face's Jinja engine rendered (and
// the error cases must fail, with the template's raise_exception message). One test per case.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "support/TestPaths.h"
#include "template/Template.h"

using namespace vk_symbiote;

namespace {

struct Case {
    std::string template_name;  // file stem: "qwen3" for qwen3.jinja
    std::string id;
    nlohmann::ordered_json json;
};

Path templates_dir() { return test::shared_dir() / "chat-templates"; }

std::vector<Case> load_cases() {
    std::vector<Case> out;
    std::error_code ec;
    std::vector<Path> files;
    for (const auto& e : std::filesystem::directory_iterator(templates_dir(), ec))
        if (e.path().string().ends_with(".cases.json")) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const Path& f : files) {
        std::ifstream in(f);
        const auto cases = nlohmann::ordered_json::parse(in, nullptr, false);
        const std::string name = f.filename().string().substr(0, f.filename().string().size() - std::string(".cases.json").size());
        if (!cases.is_array()) continue;  // CasesFilesArePresent reports it
        for (const auto& c : cases) out.push_back({name, c.value("id", "?"), c});
    }
    return out;
}

// A few characters around byte i of s, escaped so that control characters show.
std::string excerpt(const std::string& s, size_t i) {
    const size_t b = i < 30 ? 0 : i - 30, e = std::min(s.size(), i + 30);
    std::string out;
    for (size_t k = b; k < e; ++k) {
        const unsigned char c = uint8(s[k]);
        if (k == i) out += "\u2038";  // the caret marks the first difference
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20) out += "\\x" + std::to_string(c);
        else out += char(c);
    }
    return out;
}

std::string diff(const std::string& expected, const std::string& actual) {
    size_t i = 0;
    while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
    return "first difference at byte " + std::to_string(i) + " (expected " + std::to_string(expected.size()) + " bytes, got " +
           std::to_string(actual.size()) + ")\n  expected: ..." + excerpt(expected, i) + "...\n  actual:   ..." + excerpt(actual, i) + "...";
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.template_name << "/" << c.id; }

class ChatTemplateCase : public ::testing::TestWithParam<Case> {};

TEST_P(ChatTemplateCase, RendersLikeHuggingFace) {
    const Case& c = GetParam();
    const std::string source = test::read_file(templates_dir() / (c.template_name + ".jinja"));
    auto tmpl = jinja::Template::parse(source, c.template_name + ".jinja");
    ASSERT_TRUE(tmpl) << tmpl.error().to_string();

    nlohmann::ordered_json vars = nlohmann::ordered_json::object();
    for (const auto& [k, v] : c.json.items())
        if (k != "id" && k != "expected" && k != "error") vars[k] = v;
    jinja::RenderOptions opts;
    opts.now = jinja::civil_time(2025, 3, 14);  // the README's fixed strftime_now date
    auto out = tmpl->render(vars, opts);

    if (c.json.contains("error")) {
        ASSERT_FALSE(out) << "expected the error '" << c.json["error"].get<std::string>() << "', got a rendering";
        const std::string want = c.json["error"].get<std::string>();
        const std::string& got = out.error().message;
        EXPECT_TRUE(got.ends_with(": " + want)) << got;
        EXPECT_NE(got.find("raised an error"), std::string::npos) << got;
        return;
    }
    ASSERT_TRUE(out) << out.error().to_string();
    const std::string want = c.json["expected"].get<std::string>();
    EXPECT_EQ(*out, want) << diff(want, *out);
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    std::string n = info.param.template_name + "_" + info.param.id;
    for (char& ch : n)
        if (!std::isalnum(uint8(ch))) ch = '_';
    return n;
}

INSTANTIATE_TEST_SUITE_P(SharedCases, ChatTemplateCase, ::testing::ValuesIn(load_cases()), case_name);

// The data is there: 13 templates, 78 cases, 3 of them errors (README of chat-templates).
TEST(ChatTemplateCases, CasesFilesArePresent) {
    const std::vector<Case> cases = load_cases();
    std::map<std::string, int> per_template;
    int errors = 0;
    for (const Case& c : cases) {
        per_template[c.template_name]++;
        errors += c.json.contains("error") ? 1 : 0;
    }
    EXPECT_EQ(per_template.size(), 13u) << templates_dir();
    EXPECT_EQ(cases.size(), 78u);
    EXPECT_EQ(errors, 3);
}

}  // namespace
