#include "template/PercentFormat.h"

#include <cmath>
#include <cstdio>

#include "template/TemplateError.h"
#include "template/Utf8.h"
#include "template/ValueFormat.h"

namespace vk_symbiote::jinja {

namespace {

struct Spec {
    std::string flags;
    int64 width = -1;
    int64 precision = -1;
    char conversion = 0;
};

class Formatter {
public:
    Formatter(const std::string& fmt, const std::vector<Value>& args, size_t limit) : fmt_(fmt), args_(args), limit_(limit) {}
    std::string run();

private:
    const Value& next_arg();
    int64 number_field();
    Spec parse_spec();
    std::string convert(const Spec& s, const Value& v);
    std::string pad(const Spec& s, std::string text) const;

    const std::string& fmt_;
    const std::vector<Value>& args_;
    size_t limit_;
    size_t i_ = 0;    // position in fmt_
    size_t arg_ = 0;  // next argument
};

const Value& Formatter::next_arg() {
    if (arg_ >= args_.size()) runtime_error("not enough arguments for format string");
    return args_[arg_++];
}

int64 Formatter::number_field() {
    if (i_ < fmt_.size() && fmt_[i_] == '*') {
        ++i_;
        const Value& v = next_arg();
        if (!v.is_integral()) runtime_error("* wants int");
        return v.as_int();
    }
    int64 n = -1;
    while (i_ < fmt_.size() && fmt_[i_] >= '0' && fmt_[i_] <= '9') {
        n = (n < 0 ? 0 : n) * 10 + (fmt_[i_++] - '0');
        if (n > int64(limit_)) throw TemplateError(TemplateErrorKind::Limit, "a format width or precision over the output limit");
    }
    return n;
}

Spec Formatter::parse_spec() {
    Spec s;
    if (i_ < fmt_.size() && fmt_[i_] == '(') runtime_error("format: mapping keys ('%(name)s') are not supported");
    while (i_ < fmt_.size() && std::string_view("-+ 0#").find(fmt_[i_]) != std::string_view::npos) s.flags += fmt_[i_++];
    s.width = number_field();
    if (i_ < fmt_.size() && fmt_[i_] == '.') {
        ++i_;
        s.precision = std::max<int64>(number_field(), 0);
    }
    while (i_ < fmt_.size() && std::string_view("hlL").find(fmt_[i_]) != std::string_view::npos) ++i_;
    if (i_ >= fmt_.size()) runtime_error("incomplete format");
    s.conversion = fmt_[i_++];
    return s;
}

std::string Formatter::pad(const Spec& s, std::string text) const {
    const size_t len = utf8::length(text);
    if (s.width <= int64(len)) return text;
    std::string fill(size_t(s.width) - len, ' ');
    return s.flags.find('-') != std::string::npos ? text + fill : fill + text;
}

std::string Formatter::convert(const Spec& s, const Value& v) {
    const char c = s.conversion;
    if (c == 's' || c == 'r') {
        std::string text = c == 's' ? to_str(v, limit_) : to_repr(v, limit_);
        if (s.precision >= 0) {
            std::vector<uint32> cps = utf8::decode(text);
            if (cps.size() > size_t(s.precision)) text = utf8::encode(cps.data(), size_t(s.precision));
        }
        return pad(s, text);
    }
    if (c == 'c') {
        if (v.is_string() && utf8::length(v.as_string()) == 1) return pad(s, v.as_string());
        if (!v.is_integral() || v.as_int() < 0 || v.as_int() > 0x10FFFF) runtime_error("%c requires an int or a single character");
        std::string out;
        utf8::append(out, uint32(v.as_int()));
        return pad(s, out);
    }
    if (std::string_view("diuxXofFeEgG").find(c) == std::string_view::npos)
        runtime_error(std::string("unsupported format character '") + c + "'");
    if (!v.is_numeric()) runtime_error(std::string("%") + c + " format: a real number is required, not " + v.type_name());
    std::string f = "%" + s.flags;
    const bool wide = s.width > 400;  // padded below instead of by snprintf into buf
    if (s.width >= 0 && !wide) f += std::to_string(s.width);
    if (s.precision > 400) runtime_error("format: a precision over 400 digits");
    if (s.precision >= 0) f += "." + std::to_string(s.precision);
    char buf[1024];  // 309 integer digits, a point and 400 decimals at most
    if (std::string_view("diu").find(c) != std::string_view::npos) {
        const double d = v.as_float();
        if (v.is_float() && !std::isfinite(d)) runtime_error("cannot convert float infinity or NaN to integer");
        std::snprintf(buf, sizeof buf, (f + "lld").c_str(), v.is_float() ? (long long)std::trunc(d) : (long long)v.as_int());
    } else if (std::string_view("xXo").find(c) != std::string_view::npos) {
        if (!v.is_integral()) runtime_error(std::string("%") + c + " format: an integer is required, not float");
        const int64 n = v.as_int();
        std::snprintf(buf, sizeof buf, (f + "ll" + c).c_str(), (unsigned long long)(n < 0 ? -n : n));
        if (n < 0) return "-" + std::string(buf);
    } else {
        std::snprintf(buf, sizeof buf, (f + c).c_str(), v.as_float());
    }
    return wide ? pad(s, buf) : std::string(buf);
}

std::string Formatter::run() {
    std::string out;
    while (i_ < fmt_.size()) {
        const size_t pct = fmt_.find('%', i_);
        out.append(fmt_, i_, pct == std::string::npos ? std::string::npos : pct - i_);
        if (pct == std::string::npos) break;
        i_ = pct + 1;
        if (i_ < fmt_.size() && fmt_[i_] == '%') {
            out += '%';
            ++i_;
            continue;
        }
        Spec s = parse_spec();
        out += convert(s, next_arg());
        if (out.size() > limit_) throw TemplateError(TemplateErrorKind::Limit, "formatted text over the output limit");
    }
    if (arg_ < args_.size()) runtime_error("not all arguments converted during string formatting");
    return out;
}

}  // namespace

std::string percent_format(const std::string& format, const std::vector<Value>& args, size_t limit) {
    return Formatter(format, args, limit).run();
}

}  // namespace vk_symbiote::jinja
