// Arguments of a call (a filter, a test, a method, a global function, a macro) and their
// binding to named parameters the way Python binds them: positional arguments first, then
// keywords by name; too many, unknown, repeated or missing ones are errors that name the
// callee. Also the signatures of the filter and test functions.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "template/Value.h"

namespace vk_symbiote::jinja {

struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;
};

struct Param {
    Param(const char* n) : name(n), required(true) {}  // NOLINT: a required parameter, {"name"}
    Param(const char* n, Value v) : name(n), fallback(std::move(v)) {}
    std::string_view name;
    Value fallback;
    bool required = false;
};

// The arguments in the order of `params`; an absent optional one takes its fallback.
// `what` names the callee in errors, e.g. "filter 'join'".
std::vector<Value> bind_args(const CallArgs& args, std::initializer_list<Param> params, std::string_view what);

// Refuses any argument (for callees that take none).
void expect_no_args(const CallArgs& args, std::string_view what);

using FilterFn = Value (*)(Interpreter& in, const Value& input, const CallArgs& args);
using TestFn = bool (*)(Interpreter& in, const Value& input, const CallArgs& args);

}  // namespace vk_symbiote::jinja
