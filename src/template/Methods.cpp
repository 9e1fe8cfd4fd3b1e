#include "template/Methods.h"

#include <algorithm>

#include "template/Access.h"
#include "template/CallArgs.h"
#include "template/Interpreter.h"
#include "template/Objects.h"
#include "template/Operators.h"
#include "template/TemplateError.h"
#include "template/Utf8.h"
#include "template/ValueFormat.h"

namespace vk_symbiote::jinja {

namespace {

const std::string& str_arg(const Value& v, std::string_view what) {
    if (!v.is_string()) runtime_error(std::string(what) + " must be a str, not " + v.type_name());
    return v.as_string();
}

// ---- str ----

// Python's strip family: whitespace when chars is none, else any of the code points in chars.
Value strip_impl(const Value& self, const Value& chars, bool left, bool right) {
    const std::string& s = self.as_string();
    if (chars.is_none() || chars.is_undefined()) {
        std::string_view v = s;
        if (left) v = utf8::strip_left(v);
        if (right) v = utf8::strip_right(v);
        return Value(std::string(v));
    }
    const std::vector<uint32> set = utf8::decode(str_arg(chars, "strip chars"));
    const std::vector<uint32> cps = utf8::decode(s);
    auto in_set = [&](uint32 cp) { return std::find(set.begin(), set.end(), cp) != set.end(); };
    size_t b = 0, e = cps.size();
    while (left && b < e && in_set(cps[b])) ++b;
    while (right && e > b && in_set(cps[e - 1])) --e;
    return Value(utf8::encode(cps.data() + b, e - b));
}

Value m_strip(Interpreter&, const Value& self, const CallArgs& a) { return strip_impl(self, bind_args(a, {{"chars", Value::none()}}, "str.strip")[0], true, true); }
Value m_lstrip(Interpreter&, const Value& self, const CallArgs& a) { return strip_impl(self, bind_args(a, {{"chars", Value::none()}}, "str.lstrip")[0], true, false); }
Value m_rstrip(Interpreter&, const Value& self, const CallArgs& a) { return strip_impl(self, bind_args(a, {{"chars", Value::none()}}, "str.rstrip")[0], false, true); }

// Splits on runs of whitespace (Python's split() with no separator), at most maxsplit times;
// the rest after the last split keeps its trailing whitespace.
std::vector<Value> split_whitespace(const std::string& s, int64 maxsplit) {
    const std::vector<uint32> cps = utf8::decode(s);
    std::vector<Value> out;
    size_t i = 0;
    while (true) {
        while (i < cps.size() && utf8::is_space(cps[i])) ++i;
        if (i == cps.size()) break;
        if (maxsplit >= 0 && int64(out.size()) == maxsplit) {
            out.emplace_back(utf8::encode(cps.data() + i, cps.size() - i));
            break;
        }
        size_t j = i;
        while (j < cps.size() && !utf8::is_space(cps[j])) ++j;
        out.emplace_back(utf8::encode(cps.data() + i, j - i));
        i = j;
    }
    return out;
}

Value m_split(Interpreter& in, const Value& self, const CallArgs& a) {
    auto args = bind_args(a, {{"sep", Value::none()}, {"maxsplit", Value(int64(-1))}}, "str.split");
    const std::string& s = self.as_string();
    const int64 maxsplit = args[1].is_integral() ? args[1].as_int() : -1;
    in.charge(s.size() / 16);
    if (args[0].is_none()) return Value::list(split_whitespace(s, maxsplit));
    const std::string& sep = str_arg(args[0], "str.split separator");
    if (sep.empty()) runtime_error("str.split: empty separator");
    std::vector<Value> out;
    size_t pos = 0;
    for (size_t hit; (maxsplit < 0 || int64(out.size()) < maxsplit) && (hit = s.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
        out.emplace_back(s.substr(pos, hit - pos));
    out.emplace_back(s.substr(pos));
    return Value::list(std::move(out));
}

Value m_rsplit(Interpreter& in, const Value& self, const CallArgs& a) {
    auto args = bind_args(a, {{"sep", Value::none()}, {"maxsplit", Value(int64(-1))}}, "str.rsplit");
    const int64 maxsplit = args[1].is_integral() ? args[1].as_int() : -1;
    if (maxsplit < 0 || args[0].is_none()) {
        if (maxsplit >= 0) runtime_error("str.rsplit: maxsplit without a separator is not supported");
        return m_split(in, self, a);
    }
    const std::string& s = self.as_string();
    const std::string& sep = str_arg(args[0], "str.rsplit separator");
    if (sep.empty()) runtime_error("str.rsplit: empty separator");
    std::vector<Value> out;
    size_t end = s.size();
    while (int64(out.size()) < maxsplit) {
        const size_t hit = end >= sep.size() ? s.rfind(sep, end - sep.size()) : std::string::npos;
        if (hit == std::string::npos) break;
        out.emplace_back(s.substr(hit + sep.size(), end - hit - sep.size()));
        end = hit;
    }
    out.emplace_back(s.substr(0, end));
    std::reverse(out.begin(), out.end());
    return Value::list(std::move(out));
}

Value m_splitlines(Interpreter&, const Value& self, const CallArgs& a) {
    const bool keepends = bind_args(a, {{"keepends", Value(false)}}, "str.splitlines")[0].truthy();
    std::vector<Value> out;
    for (std::string& line : utf8::split_lines(self.as_string(), keepends)) out.emplace_back(std::move(line));
    return Value::list(std::move(out));
}

// startswith / endswith: a str or a tuple of str.
bool affix_matches(const Value& self, const Value& affix, bool prefix) {
    const std::string& s = self.as_string();
    auto one = [&](const Value& v) {
        const std::string& x = str_arg(v, prefix ? "startswith argument" : "endswith argument");
        return x.size() <= s.size() && (prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0);
    };
    if (affix.is_list()) return std::any_of(affix.items().begin(), affix.items().end(), one);
    return one(affix);
}

Value m_startswith(Interpreter&, const Value& self, const CallArgs& a) { return Value(affix_matches(self, bind_args(a, {"prefix"}, "str.startswith")[0], true)); }
Value m_endswith(Interpreter&, const Value& self, const CallArgs& a) { return Value(affix_matches(self, bind_args(a, {"suffix"}, "str.endswith")[0], false)); }

// Python's str.replace, empty `old` included (new goes between every character).
std::string replace_text(const std::string& s, const std::string& old, const std::string& repl, int64 count, size_t limit) {
    std::string out;
    auto add = [&](std::string_view piece) {
        if (out.size() + piece.size() > limit) throw TemplateError(TemplateErrorKind::Limit, "str.replace: the result is over the output limit");
        out += piece;
    };
    if (old.empty()) {
        const std::vector<uint32> cps = utf8::decode(s);
        for (size_t i = 0; i <= cps.size(); ++i) {
            if (count < 0 || int64(i) < count) add(repl);
            if (i < cps.size()) add(utf8::encode(&cps[i], 1));
        }
        return out;
    }
    size_t pos = 0;
    for (int64 n = 0; count < 0 || n < count; ++n) {
        const size_t hit = s.find(old, pos);
        if (hit == std::string::npos) break;
        add(std::string_view(s).substr(pos, hit - pos));
        add(repl);
        pos = hit + old.size();
    }
    add(std::string_view(s).substr(pos));
    return out;
}

Value m_replace(Interpreter& in, const Value& self, const CallArgs& a) {
    auto args = bind_args(a, {"old", "new", {"count", Value(int64(-1))}}, "str.replace");
    in.charge(self.as_string().size() / 16);
    const int64 count = args[2].is_integral() ? args[2].as_int() : -1;
    return Value(replace_text(self.as_string(), str_arg(args[0], "str.replace old"), str_arg(args[1], "str.replace new"), count, in.limit()));
}

Value m_upper(Interpreter&, const Value& self, const CallArgs& a) { expect_no_args(a, "str.upper"); return Value(utf8::upper(self.as_string())); }
Value m_lower(Interpreter&, const Value& self, const CallArgs& a) { expect_no_args(a, "str.lower"); return Value(utf8::lower(self.as_string())); }
Value m_capitalize(Interpreter&, const Value& self, const CallArgs& a) { expect_no_args(a, "str.capitalize"); return Value(utf8::capitalize(self.as_string())); }

// Python's str.title(): a cased character after an uncased one starts a word.
Value m_title(Interpreter&, const Value& self, const CallArgs& a) {
    expect_no_args(a, "str.title");
    std::string out;
    bool prev_cased = false;
    for (uint32 cp : utf8::decode(self.as_string())) {
        const uint32 c = prev_cased ? utf8::to_lower(cp) : utf8::to_upper(cp);
        utf8::append(out, c);
        prev_cased = utf8::is_cased(cp);
    }
    return Value(std::move(out));
}

Value find_impl(const Value& self, const CallArgs& a, bool reverse) {
    const std::string& s = self.as_string();
    const std::string& sub = str_arg(bind_args(a, {"sub"}, reverse ? "str.rfind" : "str.find")[0], "str.find argument");
    const size_t hit = reverse ? s.rfind(sub) : s.find(sub);
    return Value(hit == std::string::npos ? int64(-1) : int64(utf8::length(std::string_view(s).substr(0, hit))));
}

Value m_find(Interpreter&, const Value& self, const CallArgs& a) { return find_impl(self, a, false); }
Value m_rfind(Interpreter&, const Value& self, const CallArgs& a) { return find_impl(self, a, true); }

Value m_str_count(Interpreter&, const Value& self, const CallArgs& a) {
    const std::string& s = self.as_string();
    const std::string& sub = str_arg(bind_args(a, {"sub"}, "str.count")[0], "str.count argument");
    if (sub.empty()) return Value(int64(utf8::length(s) + 1));
    int64 n = 0;
    for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
    return Value(n);
}

Value m_join(Interpreter& in, const Value& self, const CallArgs& a) {
    const Value seq = bind_args(a, {"iterable"}, "str.join")[0];
    std::string out;
    size_t i = 0;
    for (const Value& v : iterate(seq, "str.join")) {
        if (!v.is_string()) runtime_error("str.join: sequence item " + std::to_string(i) + ": expected str instance, " + v.type_name() + " found");
        if (i++) out += self.as_string();
        out += v.as_string();
        if (out.size() > in.limit()) throw TemplateError(TemplateErrorKind::Limit, "str.join: the result is over the output limit");
    }
    return Value(std::move(out));
}

Value m_removeprefix(Interpreter&, const Value& self, const CallArgs& a) {
    const std::string& p = str_arg(bind_args(a, {"prefix"}, "str.removeprefix")[0], "str.removeprefix argument");
    const std::string& s = self.as_string();
    return Value(s.compare(0, p.size(), p) == 0 ? s.substr(p.size()) : s);
}

Value m_removesuffix(Interpreter&, const Value& self, const CallArgs& a) {
    const std::string& x = str_arg(bind_args(a, {"suffix"}, "str.removesuffix")[0], "str.removesuffix argument");
    const std::string& s = self.as_string();
    const bool has = !x.empty() && x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
    return Value(has ? s.substr(0, s.size() - x.size()) : s);
}

template <bool (*Pred)(uint32)>
Value char_class(Interpreter&, const Value& self, const CallArgs& a) {
    expect_no_args(a, "str.is...()");
    const std::vector<uint32> cps = utf8::decode(self.as_string());
    return Value(!cps.empty() && std::all_of(cps.begin(), cps.end(), Pred));
}
bool is_ascii_digit(uint32 cp) { return cp >= '0' && cp <= '9'; }

Value m_isupper(Interpreter&, const Value& self, const CallArgs& a) {
    expect_no_args(a, "str.isupper");
    return Value(utf8::is_all_case(self.as_string(), true));
}

Value m_islower(Interpreter&, const Value& self, const CallArgs& a) {
    expect_no_args(a, "str.islower");
    return Value(utf8::is_all_case(self.as_string(), false));
}

// str.format with {} / {0} / {name} fields (no format specs or conversions) and {{ }} escapes.
Value m_format(Interpreter& in, const Value& self, const CallArgs& a) {
    const std::string& f = self.as_string();
    std::string out;
    size_t auto_index = 0;
    for (size_t i = 0; i < f.size(); ++i) {
        const char c = f[i];
        if ((c == '{' || c == '}') && i + 1 < f.size() && f[i + 1] == c) {
            out += c;
            ++i;
            continue;
        }
        if (c == '}') runtime_error("str.format: single '}' encountered in format string");
        if (c != '{') {
            out += c;
            continue;
        }
        const size_t close = f.find('}', i);
        if (close == std::string::npos) runtime_error("str.format: single '{' encountered in format string");
        const std::string field = f.substr(i + 1, close - i - 1);
        if (field.find_first_of(":!.[") != std::string::npos) runtime_error("str.format: format specs and conversions are not supported ('{" + field + "}')");
        const Value* v = nullptr;
        if (field.empty() || std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
            const size_t idx = field.empty() ? auto_index++ : size_t(std::stoul(field));
            if (idx >= a.positional.size()) runtime_error("str.format: replacement index " + std::to_string(idx) + " out of range");
            v = &a.positional[idx];
        } else {
            for (const auto& [k, x] : a.keyword)
                if (k == field) v = &x;
            if (!v) runtime_error("str.format: no argument named '" + field + "'");
        }
        out += to_str(*v, in.limit());
        if (out.size() > in.limit()) throw TemplateError(TemplateErrorKind::Limit, "str.format: the result is over the output limit");
        i = close;
    }
    return Value(std::move(out));
}

// ---- dict ----

Value m_get(Interpreter&, const Value& self, const CallArgs& a) {
    auto args = bind_args(a, {"key", {"default", Value::none()}}, "dict.get");
    if (!args[0].is_string()) return args[1];
    const Value* v = self.as_dict().find(args[0].as_string());
    return v ? *v : args[1];
}

Value m_keys(Interpreter&, const Value& self, const CallArgs& a) {
    expect_no_args(a, "dict.keys");
    std::vector<Value> out;
    for (const auto& [k, v] : self.as_dict().entries()) out.emplace_back(k);
    return Value::list(std::move(out));
}

Value m_values(Interpreter&, const Value& self, const CallArgs& a) {
    expect_no_args(a, "dict.values");
    std::vector<Value> out;
    for (const auto& [k, v] : self.as_dict().entries()) out.push_back(v);
    return Value::list(std::move(out));
}

Value m_items(Interpreter&, const Value& self, const CallArgs& a) {
    expect_no_args(a, "dict.items");
    std::vector<Value> out;
    for (const auto& [k, v] : self.as_dict().entries()) out.push_back(Value::tuple({Value(k), v}));
    return Value::list(std::move(out));
}

// ---- list / tuple ----

Value m_list_count(Interpreter&, const Value& self, const CallArgs& a) {
    const Value x = bind_args(a, {"value"}, "list.count")[0];
    return Value(int64(std::count_if(self.items().begin(), self.items().end(), [&](const Value& v) { return equals(v, x); })));
}

Value m_index(Interpreter&, const Value& self, const CallArgs& a) {
    const Value x = bind_args(a, {"value"}, "list.index")[0];
    for (size_t i = 0; i < self.items().size(); ++i)
        if (equals(self.items()[i], x)) return Value(int64(i));
    runtime_error("list.index(x): x not in list");
}

struct MethodEntry {
    Value::Kind kind;
    std::string_view name;
    MethodFn fn;
};

constexpr MethodEntry kMethods[] = {
    {Value::Kind::String, "strip", m_strip},
    {Value::Kind::String, "lstrip", m_lstrip},
    {Value::Kind::String, "rstrip", m_rstrip},
    {Value::Kind::String, "split", m_split},
    {Value::Kind::String, "rsplit", m_rsplit},
    {Value::Kind::String, "splitlines", m_splitlines},
    {Value::Kind::String, "startswith", m_startswith},
    {Value::Kind::String, "endswith", m_endswith},
    {Value::Kind::String, "replace", m_replace},
    {Value::Kind::String, "upper", m_upper},
    {Value::Kind::String, "lower", m_lower},
    {Value::Kind::String, "title", m_title},
    {Value::Kind::String, "capitalize", m_capitalize},
    {Value::Kind::String, "find", m_find},
    {Value::Kind::String, "rfind", m_rfind},
    {Value::Kind::String, "count", m_str_count},
    {Value::Kind::String, "join", m_join},
    {Value::Kind::String, "removeprefix", m_removeprefix},
    {Value::Kind::String, "removesuffix", m_removesuffix},
    {Value::Kind::String, "format", m_format},
    {Value::Kind::String, "isdigit", char_class<is_ascii_digit>},
    {Value::Kind::String, "isspace", char_class<utf8::is_space>},
    {Value::Kind::String, "isupper", m_isupper},
    {Value::Kind::String, "islower", m_islower},
    {Value::Kind::Dict, "get", m_get},
    {Value::Kind::Dict, "keys", m_keys},
    {Value::Kind::Dict, "values", m_values},
    {Value::Kind::Dict, "items", m_items},
    {Value::Kind::List, "count", m_list_count},
    {Value::Kind::List, "index", m_index},
};

}  // namespace

Value find_method(const Value& self, std::string_view name) {
    for (const MethodEntry& m : kMethods)
        if (m.kind == self.kind() && m.name == name)
            return Value(std::shared_ptr<const Callable>(std::make_shared<const BoundMethod>(self, std::string(name), m.fn)));
    return Value();
}

}  // namespace vk_symbiote::jinja
