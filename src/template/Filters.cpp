// The text and number filters, and the lookup of every filter (Filters.h).
#include "template/Filters.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "template/Interpreter.h"
#include "template/Methods.h"
#include "template/PercentFormat.h"
#include "template/TemplateError.h"
#include "template/Utf8.h"
#include "template/ValueFormat.h"

namespace vk_symbiote::jinja {

namespace {

// A filter's input as text (Jinja2's soft_str).
std::string text_of(Interpreter& in, const Value& v) { return to_str(v, in.limit()); }

Value call_method(Interpreter& in, const Value& self, std::string_view name, const CallArgs& args) {
    return in.call(find_method(self, name), args);
}

Value f_abs(Interpreter&, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'abs'");
    if (v.is_integral()) {
        if (v.as_int() == INT64_MIN) runtime_error("integer overflow in abs");
        return Value(std::abs(v.as_int()));
    }
    if (v.is_float()) return Value(std::fabs(v.as_float()));
    runtime_error(std::string("bad operand type for abs(): '") + v.type_name() + "'");
}

Value f_capitalize(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'capitalize'");
    return Value(utf8::capitalize(text_of(in, v)));
}

// Python's str.center: the odd space goes left when the width is odd.
Value f_center(Interpreter& in, const Value& v, const CallArgs& a) {
    const Value w = bind_args(a, {{"width", Value(80)}}, "filter 'center'")[0];
    if (!w.is_integral()) runtime_error("filter 'center': the width must be an integer");
    std::string s = text_of(in, v);
    const int64 width = w.as_int(), marg = width - int64(utf8::length(s));
    if (marg <= 0) return Value(std::move(s));
    if (size_t(width) > in.limit()) throw TemplateError(TemplateErrorKind::Limit, "filter 'center': a width over the output limit");
    const int64 left = marg / 2 + (marg & width & 1);
    return Value(std::string(size_t(left), ' ') + s + std::string(size_t(marg - left), ' '));
}

Value f_default(Interpreter&, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {{"default_value", Value("")}, {"boolean", Value(false)}}, "filter 'default'");
    if (v.is_undefined() || (args[1].truthy() && !v.truthy())) return args[0];
    return v;
}

Value f_escape(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'escape'");
    std::string out;
    for (char c : text_of(in, v)) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return Value(std::move(out));
}

// Python's float(text): surrounding whitespace allowed, "inf" and "nan" included.
bool parse_float(std::string_view text, double* out) {
    const std::string s(utf8::strip_right(utf8::strip_left(text)));
    if (s.empty()) return false;
    char* end = nullptr;
    *out = std::strtod(s.c_str(), &end);
    return end == s.c_str() + s.size();
}

Value f_float(Interpreter&, const Value& v, const CallArgs& a) {
    const Value fallback = bind_args(a, {{"default", Value(0.0)}}, "filter 'float'")[0];
    if (v.is_undefined()) runtime_error(v.undefined_message());
    if (v.is_numeric()) return Value(v.as_float());
    double d = 0;
    if (v.is_string() && parse_float(v.as_string(), &d)) return Value(d);
    return fallback;
}

// Python's int(text, base): sign, whitespace and "_" between digits allowed.
bool parse_int(std::string_view text, int base, int64* out) {
    std::string s(utf8::strip_right(utf8::strip_left(text)));
    const bool neg = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.erase(0, 1);
    if (s.empty() || s.front() == '_' || s.back() == '_' || s.find("__") != std::string::npos) return false;
    std::erase(s, '_');
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, base);
    if (end != s.c_str() + s.size() || errno == ERANGE || s[0] == '-' || s[0] == '+' || std::isspace(uint8(s[0]))) return false;
    *out = neg ? -v : v;
    return true;
}

Value f_int(Interpreter&, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {{"default", Value(0)}, {"base", Value(10)}}, "filter 'int'");
    if (v.is_undefined()) runtime_error(v.undefined_message());
    if (v.is_integral()) return Value(v.as_int());
    double d = v.is_float() ? v.as_float() : 0;
    int64 i = 0;
    const int base = args[1].is_integral() ? int(args[1].as_int()) : 10;
    if (v.is_string() && parse_int(v.as_string(), base, &i)) return Value(i);
    if (v.is_float() || (v.is_string() && parse_float(v.as_string(), &d))) {  // "42.23" | int == 42
        if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) runtime_error("filter 'int': cannot convert " + float_repr(d) + " to a 64-bit integer");
        return Value(int64(std::trunc(d)));
    }
    return args[0];
}

Value f_format(Interpreter& in, const Value& v, const CallArgs& a) {
    if (!a.keyword.empty()) runtime_error("filter 'format': keyword arguments (mapping keys) are not supported");
    return Value(percent_format(text_of(in, v), a.positional, in.limit()));
}

// Jinja2's indent: every line but the first (and, unless blank=true, but empty lines) gets
// the indent; first=true indents the first line too.
Value f_indent(Interpreter& in, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {{"width", Value(4)}, {"first", Value(false)}, {"blank", Value(false)}}, "filter 'indent'");
    std::string pad;
    if (args[0].is_string()) pad = args[0].as_string();
    else if (args[0].is_integral()) pad = std::string(size_t(std::clamp<int64>(args[0].as_int(), 0, 4096)), ' ');
    else runtime_error("filter 'indent': the width must be an integer or a string");
    const std::vector<std::string> lines = utf8::split_lines(text_of(in, v) + "\n", false);
    std::string out = args[1].truthy() ? pad : "";
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i) out += "\n" + ((!lines[i].empty() || args[2].truthy()) ? pad : "");
        out += lines[i];
        if (out.size() > in.limit()) throw TemplateError(TemplateErrorKind::Limit, "filter 'indent': the result is over the output limit");
    }
    return Value(std::move(out));
}

Value f_lower(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'lower'");
    return Value(utf8::lower(text_of(in, v)));
}

Value f_upper(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'upper'");
    return Value(utf8::upper(text_of(in, v)));
}

Value f_replace(Interpreter& in, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {"old", "new", {"count", Value::none()}}, "filter 'replace'");
    CallArgs m{{args[0], args[1]}, {}};
    if (args[2].is_integral()) m.positional.push_back(args[2]);
    return call_method(in, Value(text_of(in, v)), "replace", m);
}

// Python's round(x, n): a float rounded half to even at the exact binary value (what printf
// does), an int unchanged for n >= 0; ceil / floor on x * 10^n.
Value f_round(Interpreter&, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {{"precision", Value(0)}, {"method", Value("common")}}, "filter 'round'");
    if (!v.is_numeric()) runtime_error(std::string("filter 'round': a number is required, not ") + v.type_name());
    if (!args[0].is_integral()) runtime_error("filter 'round': the precision must be an integer");
    const int64 p = std::clamp<int64>(args[0].as_int(), -308, 308);
    const std::string method = args[1].is_string() ? args[1].as_string() : "";
    if (method != "common" && method != "ceil" && method != "floor") runtime_error("filter 'round': method must be common, ceil or floor");
    const double x = v.as_float(), scale = std::pow(10.0, double(p));
    if (method == "ceil") return Value(std::ceil(x * scale) / scale);
    if (method == "floor") return Value(std::floor(x * scale) / scale);
    if (v.is_integral() && p >= 0) return Value(v.as_int());
    if (p < 0 || !std::isfinite(x)) return Value(std::nearbyint(x * scale) / scale);
    char buf[1024];  // 309 integer digits, a point and 300 decimals at most
    std::snprintf(buf, sizeof buf, "%.*f", int(std::min<int64>(p, 300)), x);
    return Value(std::strtod(buf, nullptr));
}

Value f_string(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'string'");
    return Value(text_of(in, v));
}

// Jinja2's title: a word starts after "-", whitespace or an opening bracket.
Value f_title(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'title'");
    std::string out;
    bool word_start = true;
    for (uint32 cp : utf8::decode(text_of(in, v))) {
        const bool sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || utf8::is_space(cp);
        utf8::append(out, sep ? cp : word_start ? utf8::to_upper(cp) : utf8::to_lower(cp));
        word_start = sep;
    }
    return Value(std::move(out));
}

// Hugging Face's tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value f_tojson(Interpreter& in, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {{"ensure_ascii", Value(false)}, {"indent", Value::none()}, {"separators", Value::none()}, {"sort_keys", Value(false)}},
                          "filter 'tojson'");
    JsonStyle st;
    st.ensure_ascii = args[0].truthy();
    st.sort_keys = args[3].truthy();
    if (args[1].is_integral()) st.indent = std::string(size_t(std::clamp<int64>(args[1].as_int(), 0, 64)), ' ');
    else if (args[1].is_string()) st.indent = args[1].as_string();
    else if (!args[1].is_none()) runtime_error("filter 'tojson': indent must be an integer, a string or none");
    if (st.indent) st.item_separator = ",";
    if (!args[2].is_none()) {
        if (!args[2].is_list() || args[2].items().size() != 2 || !args[2].items()[0].is_string() || !args[2].items()[1].is_string())
            runtime_error("filter 'tojson': separators must be a pair of strings");
        st.item_separator = args[2].items()[0].as_string();
        st.key_separator = args[2].items()[1].as_string();
    }
    return Value(to_json(v, st, in.limit()));
}

Value f_trim(Interpreter& in, const Value& v, const CallArgs& a) {
    const Value chars = bind_args(a, {{"chars", Value::none()}}, "filter 'trim'")[0];
    CallArgs m;
    if (!chars.is_none()) m.positional.push_back(chars);
    return call_method(in, Value(text_of(in, v)), "strip", m);
}

// Runs of word characters (letters, digits, "_"; any other non-ASCII character that is not
// whitespace counts as a letter).
Value f_wordcount(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'wordcount'");
    int64 n = 0;
    bool in_word = false;
    for (uint32 cp : utf8::decode(text_of(in, v))) {
        const bool w = (cp < 0x80 && (std::isalnum(int(cp)) || cp == '_')) || (cp >= 0x80 && !utf8::is_space(cp));
        if (w && !in_word) ++n;
        in_word = w;
    }
    return Value(n);
}

Value f_safe(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'safe'");
    return Value(text_of(in, v));
}

struct FilterEntry {
    std::string_view name;
    FilterFn fn;
};

constexpr FilterEntry kFilters[] = {
    {"abs", f_abs},       {"capitalize", f_capitalize}, {"center", f_center},   {"default", f_default}, {"d", f_default},
    {"escape", f_escape}, {"e", f_escape},              {"forceescape", f_escape}, {"float", f_float},  {"format", f_format},
    {"indent", f_indent}, {"int", f_int},               {"lower", f_lower},     {"replace", f_replace}, {"round", f_round},
    {"safe", f_safe},     {"string", f_string},         {"title", f_title},     {"tojson", f_tojson},   {"trim", f_trim},
    {"upper", f_upper},   {"wordcount", f_wordcount},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
    for (const FilterEntry& f : kFilters)
        if (f.name == name) return f.fn;
    return find_list_filter(name);
}

}  // namespace vk_symbiote::jinja
