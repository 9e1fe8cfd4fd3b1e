#include "template/Access.h"

#include "template/Methods.h"
#include "template/TemplateError.h"
#include "template/Utf8.h"

namespace vk_symbiote::jinja {

namespace {

// One code point of s as a string, Python-style index (negative from the end).
Value string_index(const std::string& s, int64 i) {
    if (utf8::is_ascii(s)) {
        const int64 n = int64(s.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value::undefined("string index out of range");
        return Value(std::string(1, s[size_t(i)]));
    }
    std::vector<uint32> cps = utf8::decode(s);
    const int64 n = int64(cps.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined("string index out of range");
    return Value(utf8::encode(&cps[size_t(i)], 1));
}

int64 slice_bound(const Value& v, int64 n, int64 lower, int64 upper, int64 fallback) {
    if (v.is_none()) return fallback;
    if (!v.is_integral()) runtime_error("slice indices must be integers or none");
    int64 i = v.as_int();
    if (i < 0) i += n;
    return i < lower ? lower : i > upper ? upper : i;
}

// The positions a Python slice selects out of n elements.
std::vector<size_t> slice_positions(int64 n, const Value& start, const Value& stop, const Value& step) {
    if (!step.is_none() && !step.is_integral()) runtime_error("slice indices must be integers or none");
    const int64 st = step.is_none() ? 1 : step.as_int();
    if (st == 0) runtime_error("slice step cannot be zero");
    const int64 lower = st > 0 ? 0 : -1, upper = st > 0 ? n : n - 1;
    const int64 b = slice_bound(start, n, lower, upper, st > 0 ? lower : upper);
    const int64 e = slice_bound(stop, n, lower, upper, st > 0 ? upper : lower);
    std::vector<size_t> out;
    for (int64 i = b; st > 0 ? i < e : i > e; i += st) out.push_back(size_t(i));
    return out;
}

}  // namespace

std::string object_name(const Value& v) { return v.is_none() ? "'None'" : std::string("'") + v.type_name() + " object'"; }

Value get_attr(const Value& obj, const std::string& name) {
    if (obj.is_undefined()) runtime_error(obj.undefined_message());
    if (obj.is_object()) return obj.as_object().attr(name);
    if (Value m = find_method(obj, name); !m.is_undefined()) return m;
    if (obj.is_dict())
        if (const Value* v = obj.as_dict().find(name)) return *v;
    return Value::undefined(object_name(obj) + " has no attribute '" + name + "'");
}

Value get_item(const Value& obj, const Value& key) {
    if (obj.is_undefined()) runtime_error(obj.undefined_message());
    if (obj.is_dict() && key.is_string())
        if (const Value* v = obj.as_dict().find(key.as_string())) return *v;
    if (obj.is_list() && key.is_integral()) {
        const auto& items = obj.items();
        int64 i = key.as_int();
        if (i < 0) i += int64(items.size());
        if (i >= 0 && i < int64(items.size())) return items[size_t(i)];
        return Value::undefined(object_name(obj) + " has no element " + std::to_string(key.as_int()));
    }
    if (obj.is_string() && key.is_integral()) return string_index(obj.as_string(), key.as_int());
    if (key.is_string()) return get_attr(obj, key.as_string());
    return Value::undefined(object_name(obj) + " has no element " + (key.is_integral() ? std::to_string(key.as_int()) : std::string("of that key")));
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
    if (obj.is_undefined()) runtime_error(obj.undefined_message());
    if (obj.is_list()) {
        std::vector<Value> out;
        for (size_t i : slice_positions(int64(obj.items().size()), start, stop, step)) out.push_back(obj.items()[i]);
        return obj.as_array().tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
    }
    if (obj.is_string()) {
        std::vector<uint32> cps = utf8::decode(obj.as_string());
        std::string out;
        for (size_t i : slice_positions(int64(cps.size()), start, stop, step)) utf8::append(out, cps[i]);
        return Value(std::move(out));
    }
    runtime_error(object_name(obj) + " cannot be sliced");
}

std::vector<Value> iterate(const Value& v, std::string_view what) {
    switch (v.kind()) {
        case Value::Kind::Undefined: return {};
        case Value::Kind::List: return v.items();
        case Value::Kind::Dict: {
            std::vector<Value> keys;
            keys.reserve(v.as_dict().size());
            for (const auto& [k, x] : v.as_dict().entries()) keys.emplace_back(k);
            return keys;
        }
        case Value::Kind::String: {
            std::vector<Value> chars;
            for (uint32 cp : utf8::decode(v.as_string())) chars.emplace_back(utf8::encode(&cp, 1));
            return chars;
        }
        default: runtime_error(std::string(what) + ": '" + v.type_name() + "' object is not iterable");
    }
}

std::vector<Value> unpack(const Value& v, size_t n) {
    if (!v.is_list() && !v.is_string()) runtime_error(std::string("cannot unpack a non-iterable '") + v.type_name() + "' object");
    std::vector<Value> parts = iterate(v, "unpacking");
    if (parts.size() < n) runtime_error("not enough values to unpack (expected " + std::to_string(n) + ", got " + std::to_string(parts.size()) + ")");
    if (parts.size() > n) runtime_error("too many values to unpack (expected " + std::to_string(n) + ")");
    return parts;
}

}  // namespace vk_symbiote::jinja
