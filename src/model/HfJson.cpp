#include "model/HfJson.h"

#include <fstream>
#include <sstream>

namespace vk_symbiote::hf_json {

std::string field(const std::string& where, const char* key) {
    if (!where.empty() && where.back() == ':') return where + " " + key;  // a top-level key: "<file>: key"
    return where + "." + key;
}
std::string item(const std::string& where, size_t index) { return where + "[" + std::to_string(index) + "]"; }

Expected<Json> parse_file(const Path& file, uint64 max_bytes) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) return make_error(ErrorCode::NotFound, file.string() + ": not a regular file");
    const uint64 size = std::filesystem::file_size(file, ec);
    if (ec) return make_error(ErrorCode::Io, file.string() + ": cannot read its size: " + ec.message());
    if (size > max_bytes)
        return make_error(ErrorCode::Format, file.string() + ": " + std::to_string(size) + " bytes is more than the limit of " +
                                                 std::to_string(max_bytes) + " for this file");
    std::ifstream in(file, std::ios::binary);
    if (!in) return make_error(ErrorCode::Io, file.string() + ": cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    if (!in && !in.eof()) return make_error(ErrorCode::Io, file.string() + ": read failed");
    try {
        return Json::parse(text.str());
    } catch (const Json::exception& e) {
        return make_error(ErrorCode::Format, file.string() + ": not valid JSON: " + e.what());
    }
}

Expected<std::string> type_of(const Json& j, const std::string& where) {
    if (!j.is_object()) return make_error(ErrorCode::Format, where + ": expected an object");
    auto it = j.find("type");
    if (it == j.end() || !it->is_string()) return make_error(ErrorCode::Format, where + ".type: expected a string");
    return it->get<std::string>();
}

Error unsupported_type(const std::string& where, const std::string& type, const char* supported) {
    return make_error(ErrorCode::Unsupported,
                      where + " type '" + type + "' is not supported (supported: " + supported + ")");
}

Expected<std::string> string_at(const Json& j, const char* key, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end()) return make_error(ErrorCode::Format, field(where, key) + ": required field missing");
    if (!it->is_string()) return make_error(ErrorCode::Format, field(where, key) + ": expected a string");
    return it->get<std::string>();
}

Expected<const Json*> object_at(const Json& j, const char* key, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end()) return make_error(ErrorCode::Format, field(where, key) + ": required field missing");
    if (!it->is_object()) return make_error(ErrorCode::Format, field(where, key) + ": expected an object");
    return &*it;
}

Expected<const Json*> array_at(const Json& j, const char* key, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end()) return make_error(ErrorCode::Format, field(where, key) + ": required field missing");
    if (!it->is_array()) return make_error(ErrorCode::Format, field(where, key) + ": expected an array");
    return &*it;
}

Expected<bool> bool_or(const Json& j, const char* key, bool fallback, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return make_error(ErrorCode::Format, field(where, key) + ": expected true or false");
    return it->get<bool>();
}

Expected<std::optional<std::string>> optional_string(const Json& j, const char* key, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::optional<std::string>();
    if (!it->is_string()) return make_error(ErrorCode::Format, field(where, key) + ": expected a string or null");
    return std::optional<std::string>(it->get<std::string>());
}

Expected<uint32> token_id(const Json& j, const std::string& where) {
    if (!j.is_number_integer()) return make_error(ErrorCode::Format, where + ": expected a token id (an integer)");
    const bool negative = !j.is_number_unsigned() && j.get<int64>() < 0;
    if (negative || j.get<uint64>() >= 0xFFFFFFFFull)
        return make_error(ErrorCode::Format, where + ": token id " + j.dump() + " is out of range");
    return static_cast<uint32>(j.get<uint64>());
}

ExpectedVoid for_each_item(const Json& j, const char* key, const std::string& where,
                           const std::function<ExpectedVoid(const Json&, const std::string&)>& f) {
    auto list = array_at(j, key, where);
    if (!list) return list.error();
    for (size_t i = 0; i < (*list)->size(); ++i) VKS_TRY(f((**list)[i], item(field(where, key), i)));
    return {};
}

Expected<std::string> string_pattern(const Json& j, const std::string& where) {
    auto pattern = object_at(j, "pattern", where);
    if (!pattern) return pattern.error();
    const std::string at = field(where, "pattern");
    if ((*pattern)->contains("Regex"))
        return make_error(ErrorCode::Unsupported, at + ": a Regex pattern is not supported (only String)");
    auto s = string_at(**pattern, "String", at);
    if (!s) return s.error();
    if (s->empty()) return make_error(ErrorCode::Format, field(at, "String") + ": empty pattern");
    return s;
}

std::string replace_all(std::string_view text, std::string_view pattern, std::string_view content) {
    std::string out;
    size_t pos = 0;
    for (size_t m; (m = text.find(pattern, pos)) != std::string_view::npos; pos = m + pattern.size())
        out.append(text.substr(pos, m - pos)).append(content);
    out.append(text.substr(pos));
    return out;
}

}  // namespace vk_symbiote::hf_json
