// Small templates covering each feature of the engine, with what Python's Jinja2 renders for
// them in Hugging Face's configuration (tests/template/data/jinja2_reference.json, written by
// scripts/gen-jinja-reference.py). The engine must give the same text, or fail where Jinja2
// fails. One test per entry.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "template/Template.h"

using namespace vk_symbiote;

namespace {

struct RefCase {
    std::string name;
    nlohmann::ordered_json json;
};

std::vector<RefCase> load_reference() {
    std::ifstream in(std::string(VKS_SOURCE_DIR) + "/tests/template/data/jinja2_reference.json");
    const auto doc = nlohmann::ordered_json::parse(in, nullptr, false);
    std::vector<RefCase> out;
    if (doc.is_object() && doc.contains("cases"))
        for (const auto& c : doc["cases"]) out.push_back({c["name"].get<std::string>(), c});
    return out;
}

void PrintTo(const RefCase& c, std::ostream* os) { *os << c.name; }

class Jinja2Reference : public ::testing::TestWithParam<RefCase> {};

TEST_P(Jinja2Reference, SameAsJinja2) {
    const auto& c = GetParam().json;
    jinja::RenderOptions opts;
    opts.now = jinja::civil_time(2025, 3, 14);
    auto tmpl = jinja::Template::parse(c["template"].get<std::string>(), GetParam().name);
    Expected<std::string> out = tmpl ? tmpl->render(c["variables"], opts) : Expected<std::string>(tmpl.error());
    if (c.contains("error")) {
        EXPECT_FALSE(out) << "Jinja2 fails with \"" << c["error"].get<std::string>() << "\" but the engine rendered: " << *out;
        if (!out) std::printf("  %s\n  (Jinja2: %s)\n", out.error().message.c_str(), c["error"].get<std::string>().c_str());
        return;
    }
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(*out, c["expected"].get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Features, Jinja2Reference, ::testing::ValuesIn(load_reference()),
                         [](const ::testing::TestParamInfo<RefCase>& i) { return i.param.name; });

TEST(Jinja2ReferenceFile, IsPresent) { EXPECT_GE(load_reference().size(), 90u); }

}  // namespace
