// Methods templates call on values (Python's, as the sandbox allows them):
// - str: strip lstrip rstrip split rsplit splitlines startswith endswith replace upper lower
//   title capitalize find rfind count join removeprefix removesuffix format isdigit isspace
//   isupper islower;
// - dict: get keys values items;
// - list / tuple: count index.
// Methods that would change a value (list.append, dict.update, ...) do not exist here: the
// sandbox Hugging Face renders with is immutable.
#pragma once

#include <string_view>

#include "template/Value.h"

namespace vk_symbiote::jinja {

// The method `name` of `self` bound to it, or undefined when `self` has none by that name.
Value find_method(const Value& self, std::string_view name);

}  // namespace vk_symbiote::jinja
