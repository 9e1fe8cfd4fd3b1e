// OptionValues: the text of an option (command line, INI or environment) parsed for its field's
// type, checked against its range or choices, stored, checked again as a whole setting, and
// formatted back (dump, --help defaults). The table itself is OptionTable.cpp.
#include "config/OptionTable.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>

namespace vk_symbiote::config {

namespace {

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string squote(std::string_view v) { return "'" + std::string(v) + "'"; }

std::optional<bool> parse_bool(std::string_view t) {
    for (const char* y : {"true", "1", "yes", "on"})
        if (iequal(t, y)) return true;
    for (const char* n : {"false", "0", "no", "off"})
        if (iequal(t, n)) return false;
    return std::nullopt;
}

// Whole-string integer parse; nullopt on junk or overflow of int64 / uint64.
template <class I>
std::optional<I> parse_int(std::string_view t) {
    I v{};
    if (t.empty()) return std::nullopt;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
    return v;
}

std::optional<double> parse_double(std::string_view t) {
    double v = 0;
    if (t.empty()) return std::nullopt;
    if (t.front() == '+') t.remove_prefix(1);
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

std::string fmt_number(double v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

std::string range_text(const OptionSpec& o) { return "[" + fmt_number(o.min) + ", " + fmt_number(o.max) + "]"; }

bool has_range(const OptionSpec& o) { return !(o.min == 0 && o.max == 0); }

// Range check shared by assign and validate. `v` is the parsed value as a double
// (exact for every integer the ranges allow).
ExpectedVoid check_range(const OptionSpec& o, double v, std::string_view text, std::string_view where,
                         ErrorCode code) {
    if (has_range(o) && (v < o.min || v > o.max))
        return make_error(code, std::string(where) + ": " + squote(text) + " is out of range " + range_text(o));
    if (o.unit_bytes > 0 && v > 0 && v * o.unit_bytes < 1)
        return make_error(code, std::string(where) + ": " + squote(text) + " is less than one byte (0 or at least " +
                                    fmt_number(1 / o.unit_bytes) + ")");
    return {};
}

// Returns the canonical spelling of `t` among o.choices, or nullopt.
std::optional<std::string> match_choice(const OptionSpec& o, std::string_view t) {
    std::string_view rest = o.choices;
    while (!rest.empty()) {
        size_t bar = rest.find('|');
        std::string_view c = rest.substr(0, bar);
        if (iequal(c, t)) return std::string(c);
        if (bar == std::string_view::npos) break;
        rest.remove_prefix(bar + 1);
    }
    return std::nullopt;
}

std::string choices_text(const OptionSpec& o) {
    std::string c = o.choices;
    std::replace(c.begin(), c.end(), '|', ',');
    return c;
}

}  // namespace

std::string env_value_text(const OptionSpec& o, std::string_view text) {
    if (!o.env_negates) return std::string(text);
    const std::optional<bool> b = parse_bool(text);
    return b ? (*b ? "false" : "true") : std::string(text);
}

namespace {

// A per-device list: every value through the scalar path (its checks and messages).
ExpectedVoid assign_list(const OptionSpec& o, Settings& s, std::string_view text, std::string_view where, ErrorCode code) {
    OptionSpec one = o;
    one.list = nullptr;
    std::vector<double> values;
    Settings tmp = s;
    for (size_t at = 0;;) {
        const size_t comma = std::min(text.find(',', at), text.size());
        VKS_TRY(assign_option(one, tmp, text.substr(at, comma - at), where, code));
        values.push_back(*std::get<double*>(one.field(tmp)));
        if (comma == text.size()) break;
        at = comma + 1;
    }
    VKS_TRY(assign_option(one, s, text.substr(0, std::min(text.find(','), text.size())), where, code));
    *o.list(s) = std::move(values);
    return {};
}

}  // namespace

ExpectedVoid assign_option(const OptionSpec& o, Settings& s, std::string_view text, std::string_view where,
                           ErrorCode code) {
    if (o.list) return assign_list(o, s, text, where, code);
    const std::string w(where);
    auto fail = [&](const std::string& why) -> ExpectedVoid { return make_error(code, w + ": " + why); };
    FieldRef f = o.field(s);
    ExpectedVoid r = std::visit(
        [&](auto* p) -> ExpectedVoid {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, bool>) {
                auto b = parse_bool(text);
                if (!b) return fail(squote(text) + " is not a boolean (true/false/1/0/yes/no/on/off)");
                *p = *b;
            } else if constexpr (std::is_same_v<T, std::string>) {
                if (!o.choices) {
                    *p = std::string(text);
                } else {
                    auto c = match_choice(o, text);
                    if (!c) return fail(squote(text) + " is not one of " + choices_text(o));
                    *p = *c;
                }
            } else if constexpr (std::is_integral_v<T>) {
                using Wide = std::conditional_t<std::is_signed_v<T>, int64, uint64>;
                auto v = parse_int<Wide>(text);
                if (!v) {
                    if (parse_double(text) || parse_int<int64>(text))  // "1.5", "-3" for unsigned
                        return fail(squote(text) + " is not a " +
                                    (std::is_signed_v<T> ? "whole number" : "non-negative whole number"));
                    return fail(squote(text) + " is not a number");
                }
                if (*v < static_cast<Wide>(std::numeric_limits<T>::min()) ||
                    *v > static_cast<Wide>(std::numeric_limits<T>::max()))
                    return fail(squote(text) + " is out of range");
                VKS_TRY(check_range(o, static_cast<double>(*v), text, where, code));
                *p = static_cast<T>(*v);
            } else {
                auto v = parse_double(text);
                if (!v) return fail(squote(text) + " is not a number");
                VKS_TRY(check_range(o, *v, text, where, code));
                *p = static_cast<T>(*v);
            }
            return {};
        },
        f);
    if (r && o.presence) *o.presence(s) = true;
    return r;
}

ExpectedVoid check_option(const OptionSpec& o, const Settings& s) {
    // The accessor needs a mutable Settings; it only forms a pointer, nothing is written.
    FieldRef f = o.field(const_cast<Settings&>(s));
    const std::string where = "option " + o.dotted();
    return std::visit(
        [&](auto* p) -> ExpectedVoid {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, std::string>) {
                if (o.choices && match_choice(o, *p) != *p)
                    return make_error(ErrorCode::InvalidArgument,
                                      where + ": " + squote(*p) + " is not one of " + choices_text(o));
            } else if constexpr (!std::is_same_v<T, bool>) {
                const double v = static_cast<double>(*p);
                if (std::is_floating_point_v<T> && !std::isfinite(v))
                    return make_error(ErrorCode::InvalidArgument, where + ": value is not finite");
                return check_range(o, v, format_option(o, s), where, ErrorCode::InvalidArgument);
            }
            return {};
        },
        f);
}

std::string format_option(const OptionSpec& o, const Settings& s) {
    if (o.list && o.list(const_cast<Settings&>(s))->size() > 1) {  // "4,8": parses back to the same list
        std::string out;
        for (double v : *o.list(const_cast<Settings&>(s))) {
            char buf[64];
            auto r = std::to_chars(buf, buf + sizeof buf, v);
            out += (out.empty() ? "" : ",") + std::string(buf, r.ptr);
        }
        return out;
    }
    FieldRef f = o.field(const_cast<Settings&>(s));  // read only, see check_option
    return std::visit(
        [](auto* p) -> std::string {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, bool>) {
                return *p ? "true" : "false";
            } else if constexpr (std::is_same_v<T, std::string>) {
                return *p;
            } else {
                char buf[64];
                auto r = std::to_chars(buf, buf + sizeof buf, *p);  // shortest round-trip for floats
                return std::string(buf, r.ptr);
            }
        },
        f);
}

std::string option_type_name(const OptionSpec& o) {
    if (o.choices) return choices_text(o);
    Settings tmp;
    return std::visit(
        [](auto* p) -> std::string {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, bool>) return "bool";
            else if constexpr (std::is_same_v<T, std::string>) return "string";
            else if constexpr (std::is_integral_v<T>) return "integer";
            else return "number";
        },
        o.field(tmp));
}

}  // namespace vk_symbiote::config
