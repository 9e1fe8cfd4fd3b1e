// Values as text, the way Python prints them (Jinja2 prints with str()): str(), repr(), the
// float repr (shortest round-trip digits, "1.0", "1e+16"), and the JSON that Hugging Face's
// `tojson` filter writes (Python's json.dumps with ensure_ascii off by default).
//
// Every function takes the most bytes it may produce and throws a Limit TemplateError past
// it, so printing a list that holds one big string a million times fails early instead of
// allocating the product.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "template/Value.h"

namespace vk_symbiote::jinja {

std::string to_str(const Value& v, size_t limit);   // Python str(); undefined prints as ""
std::string to_repr(const Value& v, size_t limit);  // Python repr()
std::string float_repr(double d);
std::string string_repr(std::string_view s);

// Python json.dumps(value, ensure_ascii, indent, separators, sort_keys).
struct JsonStyle {
    std::optional<std::string> indent;  // none: one line; else the text of one indent level
    std::string item_separator = ", ";  // ", " on one line, "," with an indent (Python's defaults)
    std::string key_separator = ": ";
    bool sort_keys = false;
    bool ensure_ascii = false;
};
std::string to_json(const Value& v, const JsonStyle& style, size_t limit);

// Template variables from JSON (objects keep their key order). Throws a Limit TemplateError
// for JSON nested deeper than kMaxValueDepth.
Value from_json(const nlohmann::ordered_json& j);

}  // namespace vk_symbiote::jinja
