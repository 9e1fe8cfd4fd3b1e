#include "template/ValueFormat.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "template/TemplateError.h"
#include "template/Utf8.h"

namespace vk_symbiote::jinja {

namespace {

// Appends text, refusing to grow past the limit.
class Writer {
public:
    explicit Writer(size_t limit) : limit_(limit) {}
    void add(std::string_view s) {
        if (out_.size() + s.size() > limit_)
            throw TemplateError(TemplateErrorKind::Limit, "a value's text is longer than the output limit of " + std::to_string(limit_) + " bytes");
        out_ += s;
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
    size_t limit_;
};

void write(Writer& w, const Value& v, bool repr);

void write_sequence(Writer& w, const Array& a) {
    w.add(a.tuple ? "(" : "[");
    for (size_t i = 0; i < a.items.size(); ++i) {
        if (i) w.add(", ");
        write(w, a.items[i], true);
    }
    if (a.tuple && a.items.size() == 1) w.add(",");
    w.add(a.tuple ? ")" : "]");
}

void write_dict(Writer& w, const Dict& d) {
    w.add("{");
    bool first = true;
    for (const auto& [k, v] : d.entries()) {
        if (!first) w.add(", ");
        first = false;
        w.add(string_repr(k));
        w.add(": ");
        write(w, v, true);
    }
    w.add("}");
}

void write(Writer& w, const Value& v, bool repr) {
    switch (v.kind()) {
        case Value::Kind::Undefined: w.add(repr ? "Undefined" : ""); return;
        case Value::Kind::None: w.add("None"); return;
        case Value::Kind::Bool: w.add(v.as_bool() ? "True" : "False"); return;
        case Value::Kind::Int: w.add(std::to_string(v.as_int())); return;
        case Value::Kind::Float: w.add(float_repr(v.as_float())); return;
        case Value::Kind::String: w.add(repr ? string_repr(v.as_string()) : std::string_view(v.as_string())); return;
        case Value::Kind::List: write_sequence(w, v.as_array()); return;
        case Value::Kind::Dict: write_dict(w, v.as_dict()); return;
        case Value::Kind::Object: w.add(v.as_object().repr()); return;
        case Value::Kind::Callable: w.add("<function " + v.as_callable().name() + ">"); return;
    }
}

// Python's str.isprintable() is false for these (controls, format characters, separators
// other than the space); repr() writes them as escapes.
bool repr_escapes(uint32 cp) {
    return cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD || (cp >= 0x2000 && cp <= 0x200F) ||
           (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF ||
           (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0xFFF9 && cp <= 0xFFFB);
}

std::string hex_escape(uint32 cp) {
    char buf[16];
    if (cp < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", cp);
    else if (cp < 0x10000) std::snprintf(buf, sizeof buf, "\\u%04x", cp);
    else std::snprintf(buf, sizeof buf, "\\U%08x", cp);
    return buf;
}

// ---- JSON (Python's json.dumps) ----

void json_string(Writer& w, std::string_view s, bool ensure_ascii) {
    std::string out = "\"";
    for (uint32 cp : utf8::decode(s)) {
        switch (cp) {
            case '"': out += "\\\""; continue;
            case '\\': out += "\\\\"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\t': out += "\\t"; continue;
            case '\b': out += "\\b"; continue;
            case '\f': out += "\\f"; continue;
            default: break;
        }
        char buf[16];
        if (cp < 0x20 || (ensure_ascii && cp >= 0x80 && cp < 0x10000)) {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
            out += buf;
        } else if (ensure_ascii && cp >= 0x10000 && cp < utf8::kRawByteBase) {
            const uint32 c = cp - 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF));
            out += buf;
        } else {
            utf8::append(out, cp);
        }
    }
    out += '"';
    w.add(out);
}

std::string json_number(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return float_repr(d);
}

void json_value(Writer& w, const Value& v, const JsonStyle& st, uint32 level);

void json_newline(Writer& w, const JsonStyle& st, uint32 level) {
    w.add("\n");
    for (uint32 i = 0; i < level; ++i) w.add(*st.indent);
}

void json_array(Writer& w, const std::vector<Value>& items, const JsonStyle& st, uint32 level) {
    if (items.empty()) return w.add("[]");
    w.add("[");
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) w.add(st.item_separator);
        if (st.indent) json_newline(w, st, level + 1);
        json_value(w, items[i], st, level + 1);
    }
    if (st.indent) json_newline(w, st, level);
    w.add("]");
}

void json_object(Writer& w, const Dict& d, const JsonStyle& st, uint32 level) {
    if (d.size() == 0) return w.add("{}");
    std::vector<const std::pair<std::string, Value>*> order;
    for (const auto& e : d.entries()) order.push_back(&e);
    if (st.sort_keys) std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
    w.add("{");
    for (size_t i = 0; i < order.size(); ++i) {
        if (i) w.add(st.item_separator);
        if (st.indent) json_newline(w, st, level + 1);
        json_string(w, order[i]->first, st.ensure_ascii);
        w.add(st.key_separator);
        json_value(w, order[i]->second, st, level + 1);
    }
    if (st.indent) json_newline(w, st, level);
    w.add("}");
}

void json_value(Writer& w, const Value& v, const JsonStyle& st, uint32 level) {
    switch (v.kind()) {
        case Value::Kind::None: return w.add("null");
        case Value::Kind::Bool: return w.add(v.as_bool() ? "true" : "false");
        case Value::Kind::Int: return w.add(std::to_string(v.as_int()));
        case Value::Kind::Float: return w.add(json_number(v.as_float()));
        case Value::Kind::String: return json_string(w, v.as_string(), st.ensure_ascii);
        case Value::Kind::List: return json_array(w, v.items(), st, level);
        case Value::Kind::Dict: return json_object(w, v.as_dict(), st, level);
        default: runtime_error(std::string("tojson: an object of type '") + v.type_name() + "' is not JSON serializable");
    }
}

Value from_json_at(const nlohmann::ordered_json& j, uint32 depth) {
    if (depth > kMaxValueDepth)
        throw TemplateError(TemplateErrorKind::Limit, "template variables nested deeper than " + std::to_string(kMaxValueDepth) + " levels");
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null: return Value::none();
        case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64>());
        case nlohmann::ordered_json::value_t::number_unsigned:
            if (j.get<uint64>() > uint64(INT64_MAX)) return Value(j.get<double>());  // Python would keep it exact; we have 64 bits
            return Value(int64(j.get<uint64>()));
        case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
        case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            std::vector<Value> items;
            items.reserve(j.size());
            for (const auto& e : j) items.push_back(from_json_at(e, depth + 1));
            return Value::list(std::move(items));
        }
        case nlohmann::ordered_json::value_t::object: {
            Dict d;
            for (const auto& [k, e] : j.items()) d.set(k, from_json_at(e, depth + 1));
            return Value(std::move(d));
        }
        default: runtime_error("template variables: binary JSON values are not supported");
    }
}

}  // namespace

std::string to_str(const Value& v, size_t limit) {
    if (v.is_string()) {
        if (v.as_string().size() > limit) Writer(limit).add(v.as_string());  // throws
        return v.as_string();
    }
    Writer w(limit);
    write(w, v, false);
    return w.take();
}

std::string to_repr(const Value& v, size_t limit) {
    Writer w(limit);
    write(w, v, true);
    return w.take();
}

std::string float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);  // shortest round-trip: "-1.2345e+20"
    std::string_view s(buf, size_t(r.ptr - buf));
    std::string sign = s.front() == '-' ? "-" : "";
    if (!sign.empty()) s.remove_prefix(1);
    const size_t e = s.find('e');
    std::string digits(s.substr(0, e));
    digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
    const int exp = std::stoi(std::string(s.substr(e + 1)));
    if (exp >= -4 && exp < 16) {  // Python's repr switches to exponent notation outside this range
        if (exp < 0) return sign + "0." + std::string(size_t(-exp - 1), '0') + digits;
        if (digits.size() <= size_t(exp) + 1) return sign + digits + std::string(size_t(exp) + 1 - digits.size(), '0') + ".0";
        return sign + digits.substr(0, size_t(exp) + 1) + "." + digits.substr(size_t(exp) + 1);
    }
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    std::string mantissa = digits.size() == 1 ? digits : digits.substr(0, 1) + "." + digits.substr(1);
    return sign + mantissa + ebuf;
}

std::string string_repr(std::string_view s) {
    const bool dq = s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos;
    const char quote = dq ? '"' : '\'';
    std::string out(1, quote);
    for (uint32 cp : utf8::decode(s)) {
        if (cp == uint32(quote) || cp == '\\') {
            out += '\\';
            out += char(cp);
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp >= utf8::kRawByteBase) {
            out += hex_escape(cp - utf8::kRawByteBase);
        } else if (repr_escapes(cp)) {
            out += hex_escape(cp);
        } else {
            utf8::append(out, cp);
        }
    }
    out += quote;
    return out;
}

std::string to_json(const Value& v, const JsonStyle& style, size_t limit) {
    Writer w(limit);
    json_value(w, v, style, 0);
    return w.take();
}

Value from_json(const nlohmann::ordered_json& j) { return from_json_at(j, 1); }

}  // namespace vk_symbiote::jinja
