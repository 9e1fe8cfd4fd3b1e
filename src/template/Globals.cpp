#include "template/Globals.h"

#include <ctime>

#include "template/Interpreter.h"
#include "template/Objects.h"
#include "template/RenderOptions.h"
#include "template/TemplateError.h"
#include "template/ValueFormat.h"

namespace vk_symbiote::jinja {

namespace {

int64 int_arg(const Value& v, const char* what) {
    if (!v.is_integral()) runtime_error(std::string("range: ") + what + " must be an integer, not " + v.type_name());
    return v.as_int();
}

// range(stop) / range(start, stop[, step]) as a list.
Value g_range(Interpreter& in, const CallArgs& a) {
    if (!a.keyword.empty() || a.positional.empty() || a.positional.size() > 3) runtime_error("range expects 1 to 3 positional arguments");
    const bool one = a.positional.size() == 1;
    const int64 start = one ? 0 : int_arg(a.positional[0], "start");
    const int64 stop = int_arg(a.positional[one ? 0 : 1], "stop");
    const int64 step = a.positional.size() == 3 ? int_arg(a.positional[2], "step") : 1;
    if (step == 0) runtime_error("range: step must not be zero");
    const __int128 span = (__int128)stop - start;  // Python: max(0, ceil(span / step))
    const __int128 count = step > 0 ? (span > 0 ? (span + step - 1) / step : 0) : (span < 0 ? (-span - step - 1) / -(__int128)step : 0);
    if (count * sizeof(Value) > (__int128)in.limit())
        throw TemplateError(TemplateErrorKind::Limit, "a range of more numbers than the output limit allows");
    in.charge(uint64(count));
    std::vector<Value> out;
    out.reserve(size_t(count));
    for (int64 i = 0; i < int64(count); ++i) out.emplace_back(start + i * step);
    return Value::list(std::move(out));
}

// dict(**kwargs) / dict(mapping, **kwargs): a copy with the keywords added.
Dict dict_of(const CallArgs& a, const char* what) {
    if (a.positional.size() > 1 || (a.positional.size() == 1 && !a.positional[0].is_dict()))
        runtime_error(std::string(what) + " takes at most one positional argument, a dict");
    Dict d = a.positional.empty() ? Dict() : a.positional[0].as_dict();
    for (const auto& [k, v] : a.keyword) d.set(k, v);
    return d;
}

Value g_dict(Interpreter&, const CallArgs& a) { return Value(dict_of(a, "dict")); }

Value g_namespace(Interpreter& in, const CallArgs& a) {
    std::shared_ptr<Namespace> ns = in.make_namespace();
    const Dict attrs = dict_of(a, "namespace");
    for (const auto& [k, v] : attrs.entries()) ns->set_attr(k, v);
    return Value(std::shared_ptr<Object>(std::move(ns)));
}

Value g_raise_exception(Interpreter& in, const CallArgs& a) {
    const Value msg = bind_args(a, {"message"}, "raise_exception")[0];
    throw TemplateError(TemplateErrorKind::Raised, msg.is_string() ? msg.as_string() : to_str(msg, in.limit()));
}

Value g_strftime_now(Interpreter& in, const CallArgs& a) {
    const Value fmt = bind_args(a, {"format"}, "strftime_now")[0];
    if (!fmt.is_string()) runtime_error("strftime_now: the format must be a string");
    std::tm t{};
    if (in.options().now) {
        t = *in.options().now;
    } else {
        const std::time_t now = std::time(nullptr);
        localtime_r(&now, &t);
    }
    const std::string f = fmt.as_string() + "\x01";  // a non-empty result tells "too small" from "empty"
    if (f.size() > 4096) runtime_error("strftime_now: the format is longer than 4096 bytes");
    std::string buf(f.size() * 64 + 64, '\0');
    const size_t n = std::strftime(buf.data(), buf.size(), f.c_str(), &t);
    if (n == 0) runtime_error("strftime_now: the formatted date is too long");
    buf.resize(n - 1);
    return Value(std::move(buf));
}

void define(Scope& s, const char* name, BuiltinFn fn) { s.set(name, Value(std::shared_ptr<const Callable>(std::make_shared<const Builtin>(name, fn)))); }

}  // namespace

void define_globals(Scope& scope) {
    define(scope, "range", g_range);
    define(scope, "dict", g_dict);
    define(scope, "namespace", g_namespace);
    define(scope, "raise_exception", g_raise_exception);
    define(scope, "strftime_now", g_strftime_now);
}

std::tm civil_time(int year, int month, int day, int hour, int minute, int second) {
    std::tm t{};
    t.tm_year = year - 1900;
    t.tm_mon = month - 1;
    t.tm_mday = day;
    t.tm_hour = hour;
    t.tm_min = minute;
    t.tm_sec = second;
    const std::time_t utc = timegm(&t);  // normalizes and fills tm_wday / tm_yday
    gmtime_r(&utc, &t);
    return t;
}

}  // namespace vk_symbiote::jinja
