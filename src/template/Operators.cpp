#include "template/Operators.h"

#include <cmath>

#include "template/PercentFormat.h"
#include "template/TemplateError.h"

namespace vk_symbiote::jinja {

namespace {

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
    runtime_error(std::string("unsupported operand type(s) for ") + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

[[noreturn]] void overflow(const char* op) { runtime_error(std::string("integer overflow in '") + op + "' (integers here have 64 bits)"); }

void check_size(size_t bytes, size_t limit) {
    if (bytes > limit) throw TemplateError(TemplateErrorKind::Limit, "a result of " + std::to_string(bytes) + " bytes, over the output limit of " + std::to_string(limit));
}

Value add(const Value& a, const Value& b, size_t limit) {
    if (a.is_integral() && b.is_integral()) {
        int64 r;
        if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) overflow("+");
        return Value(r);
    }
    if (a.is_numeric() && b.is_numeric()) return Value(a.as_float() + b.as_float());
    if (a.is_string() && b.is_string()) {
        check_size(a.as_string().size() + b.as_string().size(), limit);
        return Value(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list() && a.as_array().tuple == b.as_array().tuple) {
        check_size((a.items().size() + b.items().size()) * sizeof(Value), limit);
        std::vector<Value> items = a.items();
        items.insert(items.end(), b.items().begin(), b.items().end());
        return a.as_array().tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
    }
    if (a.is_string() || a.is_list())
        runtime_error(std::string("can only concatenate ") + a.type_name() + " (not \"" + b.type_name() + "\") to " + a.type_name());
    unsupported("+", a, b);
}

Value repeat(const Value& seq, int64 n, size_t limit) {
    size_t count = size_t(std::max<int64>(n, 0));
    const size_t unit = seq.is_string() ? seq.as_string().size() : seq.items().size() * sizeof(Value);  // bytes per copy
    if (unit == 0) count = 0;  // "" * 10**18 is "" at once
    if (unit != 0 && count > limit / unit) check_size(limit + 1, limit);
    if (seq.is_string()) {
        std::string out;
        out.reserve(unit * count);
        for (size_t i = 0; i < count; ++i) out += seq.as_string();
        return Value(std::move(out));
    }
    std::vector<Value> items;
    items.reserve(seq.items().size() * count);
    for (size_t i = 0; i < count; ++i) items.insert(items.end(), seq.items().begin(), seq.items().end());
    return seq.as_array().tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

Value multiply(const Value& a, const Value& b, size_t limit) {
    if (a.is_integral() && b.is_integral()) {
        int64 r;
        if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) overflow("*");
        return Value(r);
    }
    if (a.is_numeric() && b.is_numeric()) return Value(a.as_float() * b.as_float());
    if ((a.is_string() || a.is_list()) && b.is_integral()) return repeat(a, b.as_int(), limit);
    if (a.is_integral() && (b.is_string() || b.is_list())) return repeat(b, a.as_int(), limit);
    unsupported("*", a, b);
}

int64 floor_div(int64 a, int64 b) {
    if (b == -1 && a == INT64_MIN) overflow("//");
    int64 q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

Value divide(BinaryOp op, const Value& a, const Value& b) {
    const char* text = binary_op_text(op);
    if (!a.is_numeric() || !b.is_numeric()) unsupported(text, a, b);
    if (b.as_float() == 0.0) runtime_error(op == BinaryOp::Div ? "division by zero" : "integer division or modulo by zero");
    if (op == BinaryOp::Div) return Value(a.as_float() / b.as_float());
    if (a.is_integral() && b.is_integral()) {
        const int64 q = floor_div(a.as_int(), b.as_int());
        return op == BinaryOp::FloorDiv ? Value(q) : Value(a.as_int() - q * b.as_int());
    }
    const double x = a.as_float(), y = b.as_float();
    if (op == BinaryOp::FloorDiv) return Value(std::floor(x / y));
    double m = std::fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;  // Python: the result takes the divisor's sign
    return Value(m);
}

Value power(const Value& a, const Value& b) {
    if (!a.is_numeric() || !b.is_numeric()) unsupported("**", a, b);
    if (a.is_integral() && b.is_integral() && b.as_int() >= 0) {
        int64 result = 1, base = a.as_int();
        for (int64 e = b.as_int(); e > 0; e >>= 1) {
            if ((e & 1) && __builtin_mul_overflow(result, base, &result)) overflow("**");
            if (e > 1 && __builtin_mul_overflow(base, base, &base)) overflow("**");
        }
        return Value(result);
    }
    if (a.as_float() == 0.0 && b.as_float() < 0) runtime_error("0.0 cannot be raised to a negative power");
    return Value(std::pow(a.as_float(), b.as_float()));
}

// -1, 0, 1, or 2 when unordered (NaN); a type error when the kinds cannot be ordered.
int order(const Value& a, const Value& b, const char* op) {
    if (a.is_undefined() || b.is_undefined()) runtime_error((a.is_undefined() ? a : b).undefined_message());
    if (a.is_integral() && b.is_integral()) return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
    if (a.is_numeric() && b.is_numeric()) {
        const double x = a.as_float(), y = b.as_float();
        return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
    }
    if (a.is_string() && b.is_string()) {
        const int c = a.as_string().compare(b.as_string());  // UTF-8 byte order is code point order
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a.is_list() && b.is_list() && a.as_array().tuple == b.as_array().tuple) {
        const auto &x = a.items(), &y = b.items();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i)
            if (!equals(x[i], y[i])) return order(x[i], y[i], op);
        return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    runtime_error(std::string("'") + op + "' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

}  // namespace

const char* binary_op_text(BinaryOp op) {
    switch (op) {
        case BinaryOp::Add: return "+";
        case BinaryOp::Sub: return "-";
        case BinaryOp::Mul: return "*";
        case BinaryOp::Div: return "/";
        case BinaryOp::FloorDiv: return "//";
        case BinaryOp::Mod: return "%";
        case BinaryOp::Pow: return "**";
    }
    return "?";
}

const char* compare_op_text(CompareOp op) {
    switch (op) {
        case CompareOp::Eq: return "==";
        case CompareOp::Ne: return "!=";
        case CompareOp::Lt: return "<";
        case CompareOp::Le: return "<=";
        case CompareOp::Gt: return ">";
        case CompareOp::Ge: return ">=";
        case CompareOp::In: return "in";
        case CompareOp::NotIn: return "not in";
    }
    return "?";
}

Value binary_op(BinaryOp op, const Value& a, const Value& b, size_t limit) {
    if (a.is_undefined() || b.is_undefined()) runtime_error((a.is_undefined() ? a : b).undefined_message());
    switch (op) {
        case BinaryOp::Add: return add(a, b, limit);
        case BinaryOp::Sub:
            if (a.is_integral() && b.is_integral()) {
                int64 r;
                if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) overflow("-");
                return Value(r);
            }
            if (a.is_numeric() && b.is_numeric()) return Value(a.as_float() - b.as_float());
            unsupported("-", a, b);
        case BinaryOp::Mul: return multiply(a, b, limit);
        case BinaryOp::Mod:
            if (a.is_string()) return Value(percent_format(a.as_string(), b.is_list() && b.as_array().tuple ? b.items() : std::vector<Value>{b}, limit));
            return divide(op, a, b);
        case BinaryOp::Div:
        case BinaryOp::FloorDiv: return divide(op, a, b);
        case BinaryOp::Pow: return power(a, b);
    }
    runtime_error("unknown operator");
}

Value negate(const Value& v) {
    if (v.is_undefined()) runtime_error(v.undefined_message());
    if (v.is_integral()) {
        if (v.as_int() == INT64_MIN) overflow("-");
        return Value(-v.as_int());
    }
    if (v.is_float()) return Value(-v.as_float());
    runtime_error(std::string("bad operand type for unary -: '") + v.type_name() + "'");
}

Value unary_plus(const Value& v) {
    if (v.is_undefined()) runtime_error(v.undefined_message());
    if (v.is_integral()) return Value(v.as_int());
    if (v.is_float()) return v;
    runtime_error(std::string("bad operand type for unary +: '") + v.type_name() + "'");
}

bool equals(const Value& a, const Value& b) {
    if (a.is_numeric() && b.is_numeric())
        return a.is_integral() && b.is_integral() ? a.as_int() == b.as_int() : a.as_float() == b.as_float();
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case Value::Kind::Undefined:
        case Value::Kind::None: return true;
        case Value::Kind::String: return a.as_string() == b.as_string();
        case Value::Kind::List: {
            if (a.as_array().tuple != b.as_array().tuple || a.items().size() != b.items().size()) return false;
            for (size_t i = 0; i < a.items().size(); ++i)
                if (!equals(a.items()[i], b.items()[i])) return false;
            return true;
        }
        case Value::Kind::Dict: {
            if (a.as_dict().size() != b.as_dict().size()) return false;
            for (const auto& [k, v] : a.as_dict().entries()) {
                const Value* other = b.as_dict().find(k);
                if (!other || !equals(v, *other)) return false;
            }
            return true;
        }
        default: return a.identity() == b.identity();
    }
}

bool less(const Value& a, const Value& b) { return order(a, b, "<") == -1; }

bool compare(CompareOp op, const Value& a, const Value& b) {
    switch (op) {
        case CompareOp::Eq: return equals(a, b);
        case CompareOp::Ne: return !equals(a, b);
        case CompareOp::Lt: return order(a, b, "<") == -1;
        case CompareOp::Le: { const int o = order(a, b, "<="); return o == -1 || o == 0; }
        case CompareOp::Gt: return order(a, b, ">") == 1;
        case CompareOp::Ge: { const int o = order(a, b, ">="); return o == 1 || o == 0; }
        case CompareOp::In: return contains(b, a);
        case CompareOp::NotIn: return !contains(b, a);
    }
    return false;
}

bool contains(const Value& container, const Value& item) {
    switch (container.kind()) {
        case Value::Kind::Undefined: return false;
        case Value::Kind::String:
            if (!item.is_string()) runtime_error(std::string("'in <string>' requires string as left operand, not ") + item.type_name());
            return container.as_string().find(item.as_string()) != std::string::npos;
        case Value::Kind::List:
            for (const Value& v : container.items())
                if (equals(v, item)) return true;
            return false;
        case Value::Kind::Dict: return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
        default: runtime_error(std::string("argument of type '") + container.type_name() + "' is not iterable");
    }
}

}  // namespace vk_symbiote::jinja
