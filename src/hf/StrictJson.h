// StrictJson: the JSON files of a Hugging Face folder (safetensors headers, the shard index,
// config.json) parsed as hostile input. Beyond nlohmann's syntax check it refuses what a
// lenient parser would silently accept: a key repeated in one object (nlohmann keeps the
// last one, so a second "data_offsets" or a tensor named twice would go unnoticed) and
// nesting deeper than the caller allows (checked on the raw bytes before anything is built).
// Errors are Format and start with `where` (the file, or the file and field).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

Expected<nlohmann::json> parse_json_strict(std::string_view text, const std::string& where, uint32 max_depth);

// Readable JSON type of a value for error messages: "a string", "an array", "null", ...
const char* json_kind(const nlohmann::json& v);

}  // namespace vk_symbiote
