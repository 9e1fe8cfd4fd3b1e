// Errors name the template, the line and the column, with the error code of their kind;
// plus the parts of the engine the Jinja2 reference file cannot show (Hugging Face's
// generation blocks, the live clock, concurrent renders).
#include <gtest/gtest.h>

#include <ctime>
#include <thread>

#include <nlohmann/json.hpp>

#include "template/Template.h"

using namespace vk_symbiote;
using json = nlohmann::ordered_json;

namespace {

Error parse_error(const std::string& src) {
    auto t = jinja::Template::parse(src, "t.jinja");
    EXPECT_FALSE(t) << "parsed: " << src;
    return t ? Error{} : t.error();
}

Error render_error(const std::string& src, const json& vars = json::object()) {
    auto t = jinja::Template::parse(src, "t.jinja");
    if (!t) return t.error();
    auto r = t->render(vars);
    EXPECT_FALSE(r) << "rendered: " << *r;
    return r ? Error{} : r.error();
}

std::string render(const std::string& src, const json& vars = json::object()) {
    auto t = jinja::Template::parse(src, "t.jinja");
    if (!t) return "PARSE ERROR " + t.error().message;
    auto r = t->render(vars);
    return r ? *r : "RENDER ERROR " + r.error().message;
}

TEST(TemplateErrors, SyntaxErrorsNameLineAndColumn) {
    Error e = parse_error("line one\n{% if x %}\n  {{ 1 + }}\n{% endif %}");
    EXPECT_EQ(e.code, ErrorCode::Format);
    EXPECT_EQ(e.message, "template 't.jinja' line 3, column 10: unexpected '}}'");
    e = parse_error("a\nb {% for x in y %}");
    EXPECT_EQ(e.message, "template 't.jinja' line 2, column 19: unexpected end of template: the 'for' block is never closed with '{% endfor %}'");
    EXPECT_EQ(parse_error("{{ 'abc }}").message, "template 't.jinja' line 1, column 4: a string literal that is never closed");
    EXPECT_EQ(parse_error("x\n\n  {# note").message, "template 't.jinja' line 3, column 3: a comment '{#' that is never closed with '#}'");
    EXPECT_EQ(parse_error("{% frobnicate %}").message, "template 't.jinja' line 1, column 4: unknown tag 'frobnicate'");
    EXPECT_EQ(parse_error("{{ a ? b }}").message, "template 't.jinja' line 1, column 6: unexpected character '?'");
    EXPECT_EQ(parse_error("{{ (1 }}").message, "template 't.jinja' line 1, column 7: unexpected '}'");
    EXPECT_EQ(parse_error("{% for x in y %}{% endif %}").message, "template 't.jinja' line 1, column 20: unexpected '{% endif %}': no open block takes it here");
    EXPECT_EQ(parse_error("{% continue %}").message, "template 't.jinja' line 1, column 4: 'continue' outside a for loop");
    EXPECT_EQ(parse_error("{% macro m(a=1, b) %}{% endmacro %}").message,
              "template 't.jinja' line 1, column 17: parameter 'b' without a default follows one with a default");
}

TEST(TemplateErrors, UnknownFiltersAndTests) {
    Error e = parse_error("ok\n{{ x | frobnicate }}");
    EXPECT_EQ(e.code, ErrorCode::Format);
    EXPECT_EQ(e.message, "template 't.jinja' line 2, column 8: no filter named 'frobnicate'");
    EXPECT_EQ(parse_error("{{ x is frobnicated }}").message, "template 't.jinja' line 1, column 6: no test named 'frobnicated'");
    // Inside an if (or a conditional expression) Jinja2 reports them only when they run.
    EXPECT_EQ(render("{% if false %}{{ x | frobnicate }}{% endif %}ok"), "ok");
    EXPECT_EQ(render("{{ 'a' if true else x | frobnicate }}"), "a");
    EXPECT_EQ(render_error("{% if true %}{{ x | frobnicate }}{% endif %}").message,
              "template 't.jinja' line 1, column 21: no filter named 'frobnicate'");
}

TEST(TemplateErrors, UnsupportedFeaturesAreRefusedByName) {
    Error e = parse_error("{% include 'other.jinja' %}");
    EXPECT_EQ(e.code, ErrorCode::Unsupported);
    EXPECT_EQ(e.message, "template 't.jinja' line 1, column 4: the 'include' tag is not supported (a chat template renders on its own)");
    EXPECT_EQ(parse_error("{% for x in y recursive %}{% endfor %}").code, ErrorCode::Unsupported);
    EXPECT_EQ(parse_error("{{ f(*args) }}").code, ErrorCode::Unsupported);
    EXPECT_EQ(parse_error("{{ x[1, 2] }}").code, ErrorCode::Unsupported);
    EXPECT_EQ(render_error("{{ '%(a)s' % {'a': 1} }}").message, "template 't.jinja' line 1, column 4: format: mapping keys ('%(name)s') are not supported");
}

TEST(TemplateErrors, RuntimeErrorsNameTheNodeThatFailed) {
    Error e = render_error("{% for m in messages %}\n  {{ m.content + 1 }}\n{% endfor %}", {{"messages", json::array({{{"content", "hi"}}})}});
    EXPECT_EQ(e.code, ErrorCode::InvalidArgument);
    EXPECT_EQ(e.message, "template 't.jinja' line 2, column 6: can only concatenate str (not \"int\") to str");
    EXPECT_EQ(render_error("{{ messages[0].content.upper().foo() }}", {{"messages", json::array()}}).message,
              "template 't.jinja' line 1, column 15: 'list object' has no element 0");
    EXPECT_EQ(render_error("{{ user.name }}").message, "template 't.jinja' line 1, column 8: 'user' is undefined");
    // An error inside a macro names the place in the macro.
    EXPECT_EQ(render_error("{% macro m(x) %}\n{{ x // 0 }}{% endmacro %}\n{{ m(1) }}").message,
              "template 't.jinja' line 2, column 4: integer division or modulo by zero");
    EXPECT_EQ(render_error("{{ range(3) | join(1, 2, 3) }}").message, "template 't.jinja' line 1, column 15: filter 'join' takes at most 2 argument(s), 3 given");
    EXPECT_EQ(render_error("{{ 'a'.split(sep=',', x=1) }}").message, "template 't.jinja' line 1, column 7: str.split got an unexpected keyword argument 'x'");
}

TEST(TemplateErrors, RaiseExceptionKeepsTheTemplatesMessage) {
    Error e = render_error("{% if messages[0].role == 'system' %}\n{{ raise_exception('System role not supported') }}\n{% endif %}",
                           {{"messages", json::array({{{"role", "system"}}})}});
    EXPECT_EQ(e.code, ErrorCode::InvalidArgument);
    EXPECT_EQ(e.message, "template 't.jinja' line 2, column 4: the template raised an error: System role not supported");
}

TEST(TemplateErrors, VariablesMustBeAnObject) {
    auto t = jinja::Template::parse("x", "t.jinja");
    ASSERT_TRUE(t);
    auto r = t->render(json::array());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "template 't.jinja': the variables must be a JSON object");
}

TEST(TemplateFeatures, UndefinedValuesPrintEmptyAndFailWhenUsed) {
    EXPECT_EQ(render("[{{ missing }}]{% if missing %}x{% endif %}{% for i in missing %}y{% endfor %}"), "[]");
    EXPECT_EQ(render("{{ tools is none }} {{ bos is defined }}", {{"tools", nullptr}}), "True False");
}

// Hugging Face's {% generation %} marks the assistant's text for training; rendering ignores
// the marker and keeps the text (what is set inside stays inside, as in a call block).
TEST(TemplateFeatures, GenerationBlocksRenderTheirBody) {
    EXPECT_EQ(render("{% for m in ms %}{% generation %}{% set x = 1 %}[{{ m }}]{% endgeneration %}{% endfor %}{{ x is defined }}",
                     {{"ms", json::array({"a", "b"})}}),
              "[a][b]False");
}

TEST(TemplateFeatures, StrftimeNowReadsTheClockUnlessFixed) {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    EXPECT_EQ(render("{{ strftime_now('%Y') }}"), std::to_string(local.tm_year + 1900));
    auto t = jinja::Template::parse("{{ strftime_now('%d %B %Y, %A %H:%M') }}", "t.jinja");
    jinja::RenderOptions o;
    o.now = jinja::civil_time(2024, 2, 29, 13, 5);
    EXPECT_EQ(*t->render(json::object(), o), "29 February 2024, Thursday 13:05");
}

TEST(TemplateFeatures, KeywordArgumentsAndDefaultsOfMacros) {
    EXPECT_EQ(render("{% macro m(a, b=a ~ '!') %}{{ a }}{{ b }}{% endmacro %}{{ m('x') }} {{ m(b='y', a='z') }}"), "xx! zy");
    EXPECT_EQ(render_error("{% macro m(a) %}{% endmacro %}{{ m(c=1) }}").message, "template 't.jinja' line 1, column 34: macro 'm' takes no keyword argument 'c'");
}

// One parsed template, rendered from several threads at once, gives the same text everywhere.
TEST(TemplateFeatures, ConcurrentRendersOfOneTemplate) {
    auto t = jinja::Template::parse("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}<{{ m.role }}:{{ m.content }}>{% endfor %}{{ ns.n }}",
                                    "t.jinja");
    ASSERT_TRUE(t);
    json msgs = json::array();
    for (int i = 0; i < 50; ++i) msgs.push_back({{"role", "user"}, {"content", std::to_string(i)}});
    const std::string want = *t->render({{"messages", msgs}});
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, 0);
    for (int k = 0; k < 4; ++k)
        threads.emplace_back([&, k] {
            for (int i = 0; i < 200; ++i)
                if (t->render({{"messages", msgs}}).value() != want) ++mismatches[size_t(k)];
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
