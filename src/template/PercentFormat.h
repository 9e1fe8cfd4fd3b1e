// Python's printf-style string formatting ("%s" % x, and Jinja2's `format` filter): the
// conversions s r d i u f F e E g G x X o c and %%, with flags (- + space 0 #), width and
// precision (both may be *). Mapping keys ("%(name)s") are refused. Errors (a bad
// conversion, too few or too many arguments, a number expected) are Runtime TemplateErrors.
#pragma once

#include <string>
#include <vector>

#include "template/Value.h"

namespace vk_symbiote::jinja {

// `args`: the values to format in order (a tuple on the right of % gives several).
std::string percent_format(const std::string& format, const std::vector<Value>& args, size_t limit);

}  // namespace vk_symbiote::jinja
