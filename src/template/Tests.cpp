#include "template/Tests.h"

#include "template/Filters.h"
#include "template/Operators.h"
#include "template/TemplateError.h"
#include "template/Utf8.h"

namespace vk_symbiote::jinja {

namespace {

// The one argument of a comparison test (x is eq 3).
Value other(const CallArgs& a, std::string_view test) { return bind_args(a, {"other"}, std::string("test '") + std::string(test) + "'")[0]; }

void no_args(const CallArgs& a, std::string_view test) { expect_no_args(a, std::string("test '") + std::string(test) + "'"); }

int64 integer_of(const Value& v, std::string_view test) {
    if (!v.is_integral()) runtime_error(std::string("test '") + std::string(test) + "' needs an integer, not " + v.type_name());
    return v.as_int();
}

bool t_defined(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "defined"); return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "undefined"); return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "none"); return v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "boolean"); return v.is_bool(); }
bool t_true(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "true"); return v.is_bool() && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "false"); return v.is_bool() && !v.as_bool(); }
bool t_integer(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "integer"); return v.is_int(); }
bool t_float(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "float"); return v.is_float(); }
bool t_number(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "number"); return v.is_numeric(); }
bool t_string(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "string"); return v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "mapping"); return v.is_dict(); }
bool t_callable(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "callable"); return v.is_callable(); }
bool t_escaped(Interpreter&, const Value&, const CallArgs& a) { no_args(a, "escaped"); return false; }  // no autoescape: no markup values

bool t_iterable(Interpreter&, const Value& v, const CallArgs& a) {
    no_args(a, "iterable");
    return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}

bool t_sequence(Interpreter&, const Value& v, const CallArgs& a) {
    no_args(a, "sequence");
    return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}

bool t_odd(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "odd"); return integer_of(v, "odd") % 2 != 0; }
bool t_even(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "even"); return integer_of(v, "even") % 2 == 0; }

bool t_divisibleby(Interpreter&, const Value& v, const CallArgs& a) {
    const int64 n = integer_of(bind_args(a, {"num"}, "test 'divisibleby'")[0], "divisibleby");
    if (n == 0) runtime_error("test 'divisibleby': division by zero");
    return integer_of(v, "divisibleby") % n == 0;
}

bool t_eq(Interpreter&, const Value& v, const CallArgs& a) { return equals(v, other(a, "eq")); }
bool t_ne(Interpreter&, const Value& v, const CallArgs& a) { return !equals(v, other(a, "ne")); }
bool t_lt(Interpreter&, const Value& v, const CallArgs& a) { return compare(CompareOp::Lt, v, other(a, "lt")); }
bool t_le(Interpreter&, const Value& v, const CallArgs& a) { return compare(CompareOp::Le, v, other(a, "le")); }
bool t_gt(Interpreter&, const Value& v, const CallArgs& a) { return compare(CompareOp::Gt, v, other(a, "gt")); }
bool t_ge(Interpreter&, const Value& v, const CallArgs& a) { return compare(CompareOp::Ge, v, other(a, "ge")); }
bool t_in(Interpreter&, const Value& v, const CallArgs& a) { return contains(bind_args(a, {"seq"}, "test 'in'")[0], v); }

// Identity: the same container or object, or equal scalars of the same kind (Python's small
// ints, None, True and False are singletons).
bool t_sameas(Interpreter&, const Value& v, const CallArgs& a) {
    const Value o = other(a, "sameas");
    if (v.kind() != o.kind()) return false;
    if (v.identity() || o.identity()) return v.identity() == o.identity();
    return equals(v, o);
}

bool t_lower(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "lower"); return v.is_string() && utf8::is_all_case(v.as_string(), false); }
bool t_upper(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "upper"); return v.is_string() && utf8::is_all_case(v.as_string(), true); }

bool t_filter(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "filter"); return v.is_string() && find_filter(v.as_string()) != nullptr; }
bool t_test(Interpreter&, const Value& v, const CallArgs& a) { no_args(a, "test"); return v.is_string() && find_test(v.as_string()) != nullptr; }

struct TestEntry {
    std::string_view name;
    TestFn fn;
};

constexpr TestEntry kTests[] = {
    {"defined", t_defined},   {"undefined", t_undefined}, {"none", t_none},       {"boolean", t_boolean},
    {"true", t_true},         {"false", t_false},         {"integer", t_integer}, {"float", t_float},
    {"number", t_number},     {"string", t_string},       {"mapping", t_mapping}, {"iterable", t_iterable},
    {"sequence", t_sequence}, {"callable", t_callable},   {"odd", t_odd},         {"even", t_even},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},             {"equalto", t_eq},          {"==", t_eq},           {"ne", t_ne},
    {"!=", t_ne},             {"lt", t_lt},               {"lessthan", t_lt},     {"<", t_lt},
    {"le", t_le},             {"<=", t_le},               {"gt", t_gt},           {"greaterthan", t_gt},
    {">", t_gt},              {"ge", t_ge},               {">=", t_ge},           {"in", t_in},
    {"sameas", t_sameas},     {"lower", t_lower},         {"upper", t_upper},     {"escaped", t_escaped},
    {"filter", t_filter},     {"test", t_test},
};

}  // namespace

TestFn find_test(std::string_view name) {
    for (const TestEntry& t : kTests)
        if (t.name == name) return t.fn;
    return nullptr;
}

}  // namespace vk_symbiote::jinja
