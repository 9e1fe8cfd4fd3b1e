// The filters of `x | name(args)`: Jinja2's built-ins that chat templates use, plus Hugging
// Face's `tojson` (Python's json.dumps with ensure_ascii=False and its indent, separators
// and sort_keys arguments, instead of Jinja2's HTML-safe one).
//
// Text and numbers (Filters.cpp): abs capitalize center default / d escape / e / forceescape
// float format indent int lower replace round safe string title tojson trim upper wordcount.
// Sequences (ListFilters.cpp): attr batch count / length dictsort first items join last list
// map max min reject rejectattr reverse select selectattr sort sum unique.
// As in Jinja2, text filters print a non-string input first (str()), and map / select return
// lists rather than generators.
#pragma once

#include <string_view>

#include "template/CallArgs.h"

namespace vk_symbiote::jinja {

FilterFn find_filter(std::string_view name);       // nullptr when there is no such filter
FilterFn find_list_filter(std::string_view name);  // the sequence filters alone

}  // namespace vk_symbiote::jinja
