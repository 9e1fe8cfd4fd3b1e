// Reaching into values the way Jinja2's sandboxed environment does:
// - x.name: a method of x's type first ("text".strip, d.items), then a dict key; otherwise
//   an undefined value that remembers why (an error only once it is used);
// - x[key]: the element or key first, then (for a string key) the attribute;
//   negative indices count from the end;
// - x[a:b:c]: Python slicing of lists, tuples and strings (by code point);
// - iteration (for loops, filters): list items, dict keys, string characters; undefined
//   iterates as empty; anything else is a type error.
// Reaching into an undefined value is an error (Jinja2's default Undefined).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "template/Value.h"

namespace vk_symbiote::jinja {

Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
std::vector<Value> iterate(const Value& v, std::string_view what);
// `n` values out of a list, tuple or string of exactly n elements (for a, b in ...).
std::vector<Value> unpack(const Value& v, size_t n);
// Python's repr-style name of a value's type in messages: "'dict object'".
std::string object_name(const Value& v);

}  // namespace vk_symbiote::jinja
