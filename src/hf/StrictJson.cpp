#include "hf/StrictJson.h"

#include <set>
#include <vector>

namespace vk_symbiote {

namespace {

// Deepest nesting of objects and arrays in `text`, brackets inside strings not counted.
// Stops counting once past `limit` (the caller refuses the text anyway).
uint32 nesting_depth(std::string_view text, uint32 limit) {
    uint32 depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            deepest = std::max(deepest, ++depth);
            if (deepest > limit) break;
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

// Remembers the keys of every open object; the first repeated key is kept as a message.
struct DuplicateKeys {
    std::vector<std::set<std::string>> open;  // one set per object being parsed
    std::vector<std::string> owner;           // the key each open object is the value of
    std::string last_key;
    std::string found;

    bool on_event(nlohmann::json::parse_event_t ev, const nlohmann::json& parsed) {
        using E = nlohmann::json::parse_event_t;
        if (ev == E::object_start) {
            open.emplace_back();
            owner.push_back(last_key);
        } else if (ev == E::object_end && !open.empty()) {
            open.pop_back();
            owner.pop_back();
        } else if (ev == E::key && !open.empty()) {
            last_key = parsed.get<std::string>();
            if (!open.back().insert(last_key).second && found.empty())
                found = "key '" + last_key + "' appears twice" + (owner.back().empty() ? std::string() : " in '" + owner.back() + "'");
        }
        return true;  // never discard: a discarded object gets no object_end event
    }
};

}  // namespace

Expected<nlohmann::json> parse_json_strict(std::string_view text, const std::string& where, uint32 max_depth) {
    if (nesting_depth(text, max_depth) > max_depth)
        return make_error(ErrorCode::Format, where + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
    DuplicateKeys dups;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text.begin(), text.end(), [&dups](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
            return dups.on_event(ev, parsed);
        });
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::Format, where + ": not valid JSON: " + e.what());
    }
    if (!dups.found.empty()) return make_error(ErrorCode::Format, where + ": " + dups.found);
    return j;
}

const char* json_kind(const nlohmann::json& v) {
    switch (v.type()) {
        case nlohmann::json::value_t::null: return "null";
        case nlohmann::json::value_t::object: return "an object";
        case nlohmann::json::value_t::array: return "an array";
        case nlohmann::json::value_t::string: return "a string";
        case nlohmann::json::value_t::boolean: return "a boolean";
        case nlohmann::json::value_t::number_integer: return v.get<int64>() < 0 ? "a negative integer" : "an integer";
        case nlohmann::json::value_t::number_unsigned: return "an integer";
        case nlohmann::json::value_t::number_float: return "a number";
        default: return "an unknown value";
    }
}

}  // namespace vk_symbiote
