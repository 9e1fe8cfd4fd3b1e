// Python's operators on template values, as Jinja2 evaluates them: arithmetic (int stays int,
// "/" is true division, "//" and "%" floor toward minus infinity, bool counts as int), "+" and
// "*" on strings and lists, comparisons (numbers with numbers, strings by code point, lists
// element by element; other mixes are type errors for ordering and simply unequal for ==),
// and "in" (substring, element, dict key).
//
// Errors are Runtime TemplateErrors with Python's wording. `limit` is the most bytes a string
// or list built here may take (a list counts sizeof(Value) per element); past it a Limit error
// is thrown before anything is allocated. 64-bit integer overflow is an error (Python would grow the integer).
#pragma once

#include "template/Value.h"

namespace vk_symbiote::jinja {

enum class BinaryOp : uint8 { Add, Sub, Mul, Div, FloorDiv, Mod, Pow };
enum class CompareOp : uint8 { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

const char* binary_op_text(BinaryOp op);
const char* compare_op_text(CompareOp op);

Value binary_op(BinaryOp op, const Value& a, const Value& b, size_t limit);
Value negate(const Value& v);
Value unary_plus(const Value& v);

bool equals(const Value& a, const Value& b);
bool less(const Value& a, const Value& b);  // a < b, or a type error
bool compare(CompareOp op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);  // item in container

}  // namespace vk_symbiote::jinja
