// Hostile templates and inputs (they will come from model files and HTTP clients): each one
// must end, quickly, with an error that says which limit it hit, never hang or crash.
#include <gtest/gtest.h>

#include <chrono>

#include <nlohmann/json.hpp>

#include "template/Template.h"

using namespace vk_symbiote;

namespace {

struct Outcome {
    Expected<std::string> result;
    double seconds;
};

Outcome run(const std::string& source, const nlohmann::ordered_json& vars = nlohmann::ordered_json::object(), jinja::RenderOptions opts = {}) {
    const auto t0 = std::chrono::steady_clock::now();
    auto t = jinja::Template::parse(source, "hostile");
    Expected<std::string> r = t ? t->render(vars, opts) : Expected<std::string>(t.error());
    return {std::move(r), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

std::string repeat(const std::string& s, size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (size_t i = 0; i < n; ++i) out += s;
    return out;
}

// The template failed with a message containing `what`, in well under the time a hang would take.
void expect_refused(const Outcome& o, const std::string& what) {
    ASSERT_FALSE(o.result) << "rendered " << o.result->size() << " bytes";
    EXPECT_NE(o.result.error().message.find(what), std::string::npos) << o.result.error().message;
    EXPECT_NE(o.result.error().message.find("template 'hostile'"), std::string::npos) << o.result.error().message;
    EXPECT_LT(o.seconds, 60.0);  // about a second in a release build; sanitizer builds are far slower
}

TEST(TemplateHostile, DeeplyNestedBlocks) {
    expect_refused(run(repeat("{% if true %}", 20000) + "x" + repeat("{% endif %}", 20000)), "nested deeper than");
    expect_refused(run(repeat("{% for i in [1] %}", 5000) + repeat("{% endfor %}", 5000)), "nested deeper than");
    expect_refused(run(repeat("{{ 1 }}", 200000)), "more than the");  // a source over the size limit
}

TEST(TemplateHostile, DeeplyNestedExpressions) {
    expect_refused(run("{{ " + repeat("(", 50000) + "1" + repeat(")", 50000) + " }}"), "nested deeper than");
    expect_refused(run("{{ " + repeat("[", 50000) + repeat("]", 50000) + " }}"), "nested deeper than");
    expect_refused(run("{{ " + repeat("not ", 50000) + "x }}"), "nested deeper than");
    expect_refused(run("{{ " + repeat("- ", 50000) + "1 }}"), "nested deeper than");
    expect_refused(run("{{ 1" + repeat(" + 1", 50000) + " }}"), "nested deeper than");
    expect_refused(run("{{ x" + repeat(" | trim", 50000) + " }}"), "nested deeper than");
    expect_refused(run("{{ x" + repeat(".a", 50000) + " }}"), "nested deeper than");
}

TEST(TemplateHostile, HugeLoopsRunOutOfSteps) {
    expect_refused(run("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"), "steps");
    jinja::RenderOptions small;
    small.max_steps = 10000;
    expect_refused(run("{% for i in range(100000) %}{{ i }}{% endfor %}", nlohmann::ordered_json::object(), small), "steps");
}

TEST(TemplateHostile, HugeValuesHitTheSizeLimit) {
    expect_refused(run("{% for i in range(10000000000) %}{% endfor %}"), "range");
    expect_refused(run("{{ 'x' * 10000000000 }}"), "output limit");
    expect_refused(run("{{ [0] * 100000000 }}"), "output limit");
    expect_refused(run("{% set ns = namespace(s='xy') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"), "output limit");
    expect_refused(run("{% set ns = namespace(s='xy') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"), "output limit");
    expect_refused(run("{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}"), "output limit");
    expect_refused(run("{% for i in range(1000000) %}{{ 'abcdefgh' * 1000 }}{% endfor %}"), "output");
    expect_refused(run("{{ 'a' | center(100000000000) }}"), "output limit");
    jinja::RenderOptions one_mib;
    one_mib.max_output_bytes = 1 << 20;
    expect_refused(run("{{ 'ab' | replace('', 'x' * 1000000) }}", nlohmann::ordered_json::object(), one_mib), "output limit");
}

TEST(TemplateHostile, RunawayRecursion) {
    expect_refused(run("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"), "nested deeper than");
    expect_refused(run("{% macro f(n) %}{{ f(n + 1) ~ f(n + 1) }}{% endmacro %}{{ f(0) }}"), "nested deeper than");
}

TEST(TemplateHostile, DeepValues) {
    expect_refused(run("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}"), "nested deeper than");
    const auto deep = nlohmann::ordered_json::parse(repeat("[", 5000) + repeat("]", 5000));
    expect_refused(run("{{ v }}", {{"v", deep}}), "nested deeper than");
}

// A long chain of namespaces holding namespaces is freed without deep recursion, and a
// namespace that holds itself does not keep the render from ending.
TEST(TemplateHostile, NamespaceChainsAndCycles) {
    auto o = run("{% set ns = namespace(x=none) %}{% for i in range(300000) %}{% set ns.x = namespace(v=ns.x) %}{% endfor %}"
                 "{% set ns.x = 1 %}done");
    ASSERT_TRUE(o.result) << o.result.error().to_string();
    EXPECT_EQ(*o.result, "done");
    o = run("{% set ns = namespace() %}{% set ns.self = ns %}{% set ns.l = [ns, ns] %}{{ ns.self.self.l | length }} {{ ns }}");
    ASSERT_TRUE(o.result) << o.result.error().to_string();
    EXPECT_EQ(*o.result, "2 <Namespace>");
}

TEST(TemplateHostile, MalformedSourceNeverCrashes) {
    // Truncations of a real template at every byte: each either parses or is a syntax error.
    const std::string src = "{%- for m in messages if m.role != 'x' %}{{ '<' ~ m['role'] | upper ~ '>' }}{% raw %}{{{% endraw %}"
                            "{# c #}{% set ns = namespace(a=[1, {'k': (2,)}]) %}{{ ns.a[1].k[0] * -2 ** 3 }}{% endfor -%}";
    for (size_t n = 0; n <= src.size(); ++n) {
        auto t = jinja::Template::parse(src.substr(0, n), "hostile");
        if (t) (void)t->render({{"messages", nlohmann::ordered_json::array({{{"role", "user"}}})}});
    }
    SUCCEED();
}

}  // namespace
