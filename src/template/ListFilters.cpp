// The sequence filters (Filters.h). They accept what a for loop accepts (lists, dict keys,
// string characters, undefined as empty) and charge the interpreter for the items they touch.
#include <algorithm>
#include <charconv>

#include "template/Access.h"
#include "template/Filters.h"
#include "template/Interpreter.h"
#include "template/Methods.h"
#include "template/Objects.h"
#include "template/Operators.h"
#include "template/TemplateError.h"
#include "template/Utf8.h"
#include "template/ValueFormat.h"

namespace vk_symbiote::jinja {

namespace {

std::vector<Value> items_of(Interpreter& in, const Value& v, std::string_view filter) {
    std::vector<Value> items = iterate(v, "filter '" + std::string(filter) + "'");
    in.charge(items.size());
    return items;
}

// Jinja2's attribute getter: "a.b.0" follows keys and attributes (digits index); a missing
// one is `fallback` when given.
Value lookup_path(const Value& item, const Value& path, const Value& fallback) {
    Value cur = item;
    if (path.is_integral()) {
        cur = get_item(cur, path);
    } else {
        const std::string& p = path.as_string();
        for (size_t b = 0; b <= p.size();) {
            size_t e = p.find('.', b);
            if (e == std::string::npos) e = p.size();
            const std::string part = p.substr(b, e - b);
            int64 index = 0;
            const auto r = std::from_chars(part.data(), part.data() + part.size(), index);
            const bool digits = !part.empty() && part[0] != '-' && r.ec == std::errc() && r.ptr == part.data() + part.size();
            cur = get_item(cur, digits ? Value(index) : Value(part));
            b = e + 1;
        }
    }
    return cur.is_undefined() && !fallback.is_undefined() ? fallback : cur;
}

void check_attribute(const Value& attr, std::string_view filter) {
    if (!attr.is_string() && !attr.is_integral()) runtime_error("filter '" + std::string(filter) + "': the attribute must be a string or an integer");
}

// The sort / min / max / unique key: the attribute(s), strings lowercased unless case-sensitive.
Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
    Value k = item;
    if (attribute.is_string() && attribute.as_string().find(',') != std::string::npos) {  // "a,b": sort by a, then b
        const std::string& s = attribute.as_string();
        std::vector<Value> parts;
        for (size_t b = 0; b <= s.size();) {
            size_t e = s.find(',', b);
            if (e == std::string::npos) e = s.size();
            parts.push_back(sort_key(item, Value(s.substr(b, e - b)), case_sensitive));
            b = e + 1;
        }
        return Value::list(std::move(parts));
    }
    if (!attribute.is_none()) k = lookup_path(item, attribute, Value());
    if (!case_sensitive && k.is_string()) return Value(utf8::lower(k.as_string()));
    return k;
}

Value f_attr(Interpreter&, const Value& v, const CallArgs& a) {
    const Value name = bind_args(a, {"name"}, "filter 'attr'")[0];
    if (!name.is_string()) runtime_error("filter 'attr': the name must be a string");
    if (v.is_object()) return v.as_object().attr(name.as_string());
    Value m = find_method(v, name.as_string());
    return m.is_undefined() ? Value::undefined(object_name(v) + " has no attribute '" + name.as_string() + "'") : m;
}

Value f_batch(Interpreter& in, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {"linecount", {"fill_with", Value::none()}}, "filter 'batch'");
    if (!args[0].is_integral() || args[0].as_int() <= 0) runtime_error("filter 'batch': linecount must be a positive integer");
    const size_t n = size_t(args[0].as_int());
    std::vector<Value> out, row;
    for (const Value& item : items_of(in, v, "batch")) {
        row.push_back(item);
        if (row.size() == n) out.push_back(Value::list(std::exchange(row, {})));
    }
    if (!row.empty()) {
        if (!args[1].is_none()) row.resize(n, args[1]);
        out.push_back(Value::list(std::move(row)));
    }
    return Value::list(std::move(out));
}

Value f_length(Interpreter&, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'length'");
    switch (v.kind()) {
        case Value::Kind::Undefined: return Value(int64(0));
        case Value::Kind::String: return Value(int64(utf8::length(v.as_string())));
        case Value::Kind::List: return Value(int64(v.items().size()));
        case Value::Kind::Dict: return Value(int64(v.as_dict().size()));
        default: runtime_error(std::string("object of type '") + v.type_name() + "' has no len()");
    }
}

Value f_dictsort(Interpreter& in, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {{"case_sensitive", Value(false)}, {"by", Value("key")}, {"reverse", Value(false)}}, "filter 'dictsort'");
    if (!v.is_dict()) runtime_error(std::string("filter 'dictsort' needs a dict, not ") + v.type_name());
    const bool by_value = args[1].is_string() && args[1].as_string() == "value";
    if (!by_value && !(args[1].is_string() && args[1].as_string() == "key")) runtime_error("filter 'dictsort': by must be 'key' or 'value'");
    std::vector<Value> pairs;
    for (const auto& [k, x] : v.as_dict().entries()) pairs.push_back(Value::tuple({Value(k), x}));
    in.charge(pairs.size() * 8);
    const Value index(int64(by_value ? 1 : 0));
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
        const Value kx = sort_key(x, index, args[0].truthy()), ky = sort_key(y, index, args[0].truthy());
        return args[2].truthy() ? less(ky, kx) : less(kx, ky);
    });
    return Value::list(std::move(pairs));
}

Value f_first(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'first'");
    if (v.is_list()) return v.items().empty() ? Value::undefined("no first item, the sequence was empty") : v.items().front();
    std::vector<Value> items = items_of(in, v, "first");
    return items.empty() ? Value::undefined("no first item, the sequence was empty") : items.front();
}

Value f_last(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'last'");
    if (v.is_list()) return v.items().empty() ? Value::undefined("no last item, the sequence was empty") : v.items().back();
    std::vector<Value> items = items_of(in, v, "last");
    return items.empty() ? Value::undefined("no last item, the sequence was empty") : items.back();
}

Value f_items(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'items'");
    if (v.is_undefined()) return Value::list({});
    if (!v.is_dict()) runtime_error("filter 'items': can only get item pairs from a mapping");
    return in.call(find_method(v, "items"), {});
}

Value f_join(Interpreter& in, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {{"d", Value("")}, {"attribute", Value::none()}}, "filter 'join'");
    const std::string sep = to_str(args[0], in.limit());
    std::string out;
    bool first = true;
    for (const Value& item : items_of(in, v, "join")) {
        if (!first) out += sep;
        first = false;
        out += to_str(args[1].is_none() ? item : lookup_path(item, args[1], Value()), in.limit());
        if (out.size() > in.limit()) throw TemplateError(TemplateErrorKind::Limit, "filter 'join': the result is over the output limit");
    }
    return Value(std::move(out));
}

Value f_list(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'list'");
    return Value::list(items_of(in, v, "list"));
}

// map(attribute='x', default=...) or map('filter', args...).
Value f_map(Interpreter& in, const Value& v, const CallArgs& a) {
    std::vector<Value> out;
    if (a.positional.empty()) {
        auto args = bind_args(a, {"attribute", {"default", Value()}}, "filter 'map'");
        check_attribute(args[0], "map");
        for (const Value& item : items_of(in, v, "map")) out.push_back(lookup_path(item, args[0], args[1]));
        return Value::list(std::move(out));
    }
    if (!a.positional[0].is_string()) runtime_error("filter 'map': the first argument must be a filter name");
    const std::string name = a.positional[0].as_string();
    CallArgs rest{{a.positional.begin() + 1, a.positional.end()}, a.keyword};
    for (const Value& item : items_of(in, v, "map")) out.push_back(in.apply_filter(name, item, rest));
    return Value::list(std::move(out));
}

// select / reject / selectattr / rejectattr.
Value select_impl(Interpreter& in, const Value& v, const CallArgs& a, bool keep, bool by_attr, std::string_view filter) {
    size_t off = 0;
    Value attribute;
    if (by_attr) {
        if (a.positional.empty()) runtime_error("filter '" + std::string(filter) + "': missing the attribute name");
        attribute = a.positional[0];
        check_attribute(attribute, filter);
        off = 1;
    }
    const bool has_test = a.positional.size() > off;
    if (has_test && !a.positional[off].is_string()) runtime_error("filter '" + std::string(filter) + "': the test name must be a string");
    CallArgs test_args{{a.positional.begin() + long(std::min(a.positional.size(), off + 1)), a.positional.end()}, a.keyword};
    std::vector<Value> out;
    for (const Value& item : items_of(in, v, filter)) {
        const Value x = by_attr ? lookup_path(item, attribute, Value()) : item;
        const bool pass = has_test ? in.apply_test(a.positional[off].as_string(), x, test_args) : x.truthy();
        if (pass == keep) out.push_back(item);
    }
    return Value::list(std::move(out));
}

Value f_select(Interpreter& in, const Value& v, const CallArgs& a) { return select_impl(in, v, a, true, false, "select"); }
Value f_reject(Interpreter& in, const Value& v, const CallArgs& a) { return select_impl(in, v, a, false, false, "reject"); }
Value f_selectattr(Interpreter& in, const Value& v, const CallArgs& a) { return select_impl(in, v, a, true, true, "selectattr"); }
Value f_rejectattr(Interpreter& in, const Value& v, const CallArgs& a) { return select_impl(in, v, a, false, true, "rejectattr"); }

Value extreme(Interpreter& in, const Value& v, const CallArgs& a, bool want_max) {
    const char* name = want_max ? "max" : "min";
    auto args = bind_args(a, {{"case_sensitive", Value(false)}, {"attribute", Value::none()}}, std::string("filter '") + name + "'");
    std::vector<Value> items = items_of(in, v, name);
    if (items.empty()) return Value::undefined("no aggregated item, the sequence was empty");
    const Value* best = &items[0];
    for (const Value& item : items) {
        const Value kb = sort_key(*best, args[1], args[0].truthy()), ki = sort_key(item, args[1], args[0].truthy());
        if (want_max ? less(kb, ki) : less(ki, kb)) best = &item;
    }
    return *best;
}

Value f_max(Interpreter& in, const Value& v, const CallArgs& a) { return extreme(in, v, a, true); }
Value f_min(Interpreter& in, const Value& v, const CallArgs& a) { return extreme(in, v, a, false); }

Value f_reverse(Interpreter& in, const Value& v, const CallArgs& a) {
    expect_no_args(a, "filter 'reverse'");
    if (v.is_string()) {
        std::vector<uint32> cps = utf8::decode(v.as_string());
        std::reverse(cps.begin(), cps.end());
        return Value(utf8::encode(cps));
    }
    std::vector<Value> items = items_of(in, v, "reverse");
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
}

Value f_sort(Interpreter& in, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {{"reverse", Value(false)}, {"case_sensitive", Value(false)}, {"attribute", Value::none()}}, "filter 'sort'");
    if (!args[2].is_none()) check_attribute(args[2], "sort");
    std::vector<Value> items = items_of(in, v, "sort");
    in.charge(items.size() * 8);
    std::vector<std::pair<Value, Value>> keyed;  // (key, item)
    for (const Value& item : items) keyed.emplace_back(sort_key(item, args[2], args[1].truthy()), item);
    const bool rev = args[0].truthy();
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) { return rev ? less(y.first, x.first) : less(x.first, y.first); });
    std::vector<Value> out;
    for (auto& [k, item] : keyed) out.push_back(std::move(item));
    return Value::list(std::move(out));
}

Value f_sum(Interpreter& in, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {{"attribute", Value::none()}, {"start", Value(0)}}, "filter 'sum'");
    Value total = args[1];
    for (const Value& item : items_of(in, v, "sum"))
        total = binary_op(BinaryOp::Add, total, args[0].is_none() ? item : lookup_path(item, args[0], Value()), in.limit());
    return total;
}

Value f_unique(Interpreter& in, const Value& v, const CallArgs& a) {
    auto args = bind_args(a, {{"case_sensitive", Value(false)}, {"attribute", Value::none()}}, "filter 'unique'");
    std::vector<Value> out, seen;
    for (const Value& item : items_of(in, v, "unique")) {
        const Value key = sort_key(item, args[1], args[0].truthy());
        in.charge(seen.size() / 16);
        if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) continue;
        seen.push_back(key);
        out.push_back(item);
    }
    return Value::list(std::move(out));
}

struct FilterEntry {
    std::string_view name;
    FilterFn fn;
};

constexpr FilterEntry kListFilters[] = {
    {"attr", f_attr},       {"batch", f_batch},   {"count", f_length},   {"length", f_length},         {"dictsort", f_dictsort},
    {"first", f_first},     {"items", f_items},   {"join", f_join},      {"last", f_last},             {"list", f_list},
    {"map", f_map},         {"max", f_max},       {"min", f_min},        {"reject", f_reject},         {"rejectattr", f_rejectattr},
    {"reverse", f_reverse}, {"select", f_select}, {"selectattr", f_selectattr}, {"sort", f_sort},      {"sum", f_sum},
    {"unique", f_unique},
};

}  // namespace

FilterFn find_list_filter(std::string_view name) {
    for (const FilterEntry& f : kListFilters)
        if (f.name == name) return f.fn;
    return nullptr;
}

}  // namespace vk_symbiote::jinja
