// The tests of `x is name` (Jinja2's built-in tests): defined undefined none boolean true
// false integer float number string mapping iterable sequence callable odd even divisibleby
// eq / equalto / == ne / != lt / lessthan / < le / <= gt / greaterthan / > ge / >= in sameas
// lower upper escaped filter test. Python's types decide, as in Jinja2: a bool is a number,
// an undefined value is iterable (as empty), a string is a sequence.
#pragma once

#include <string_view>

#include "template/CallArgs.h"

namespace vk_symbiote::jinja {

TestFn find_test(std::string_view name);  // nullptr when there is no such test

}  // namespace vk_symbiote::jinja
