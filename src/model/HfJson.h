// Reading fields of Hugging Face JSON files (tokenizer.json, tokenizer_config.json, ...) with
// errors that name the file and the field: "<file>: <where>.<key>: expected a string".
// `where` is the path of `j` inside its file, e.g. "tokenizer.json: pre_tokenizer.pretokenizers[1]".
#pragma once

#include <nlohmann/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::hf_json {

using Json = nlohmann::json;

std::string field(const std::string& where, const char* key);  // "<where>.<key>"; "<file>: <key>" for where = "<file>:"
std::string item(const std::string& where, size_t index);      // "<where>[<index>]"

// Parses a whole file: a clear error for a missing, unreadable, oversized or malformed file.
Expected<Json> parse_file(const Path& file, uint64 max_bytes);

// The "type" of a component object; an error unless `j` is an object with a string "type".
Expected<std::string> type_of(const Json& j, const std::string& where);
// An unsupported component or option, named: "<where> type 'X' is not supported (supported: ...)".
Error unsupported_type(const std::string& where, const std::string& type, const char* supported);

// Required fields: missing or of another type is an error.
Expected<std::string> string_at(const Json& j, const char* key, const std::string& where);
Expected<const Json*> object_at(const Json& j, const char* key, const std::string& where);
Expected<const Json*> array_at(const Json& j, const char* key, const std::string& where);
// Optional fields: missing or null gives `fallback`; another type is an error.
Expected<bool> bool_or(const Json& j, const char* key, bool fallback, const std::string& where);
Expected<std::optional<std::string>> optional_string(const Json& j, const char* key, const std::string& where);
// A token id: an integer in [0, 2^32 - 1).
Expected<uint32> token_id(const Json& j, const std::string& where);

// A "Sequence" component's steps: `f` on each item of the required array `key`, in order,
// with its path ("<where>.<key>[i]"); the first error stops the walk.
ExpectedVoid for_each_item(const Json& j, const char* key, const std::string& where,
                           const std::function<ExpectedVoid(const Json&, const std::string&)>& f);

// A Replace step's (normalizers and decoders) "pattern": {"String": "..."}, not empty; a
// {"Regex": "..."} pattern is not supported.
Expected<std::string> string_pattern(const Json& j, const std::string& where);
// Every occurrence of `pattern` in `text` replaced by `content`, left to right, without
// overlaps: Replace's action, and Metaspace's (pre-tokenizer and decoder).
std::string replace_all(std::string_view text, std::string_view pattern, std::string_view content);

}  // namespace vk_symbiote::hf_json
