#include "hf/JsonFields.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "hf/StrictJson.h"

namespace vk_symbiote {

namespace {

bool is_non_negative_integer(const nlohmann::json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64>() >= 0); }

}  // namespace

Error JsonFields::bad(const std::string& key, const std::string& what, ErrorCode code) const {
    return make_error(code, file_ + ": '" + prefix_ + key + "': " + what);
}

ExpectedVoid JsonFields::required(const char* key) const {
    if (!has(key)) return bad(key, "missing");
    return {};
}

ExpectedVoid JsonFields::count(const char* key, uint64& out, uint64 lo, uint64 hi) const {
    if (!has(key)) return {};
    const nlohmann::json& v = j_[key];
    if (!is_non_negative_integer(v)) return bad(key, std::string("is ") + json_kind(v) + ", expected a non-negative integer");
    const uint64 n = v.get<uint64>();
    if (n < lo || n > hi) return bad(key, std::to_string(n) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
    out = n;
    return {};
}

ExpectedVoid JsonFields::count(const char* key, uint32& out, uint64 lo, uint64 hi) const {
    uint64 v = out;
    VKS_TRY(count(key, v, lo, std::min<uint64>(hi, UINT32_MAX)));
    out = uint32(v);
    return {};
}

ExpectedVoid JsonFields::number(const char* key, double& out) const {
    if (!has(key)) return {};
    const nlohmann::json& v = j_[key];
    if (!v.is_number() || !std::isfinite(v.get<double>())) return bad(key, std::string("is ") + json_kind(v) + ", expected a finite number");
    out = v.get<double>();
    return {};
}

ExpectedVoid JsonFields::flag(const char* key, bool& out) const {
    if (!has(key)) return {};
    if (!j_[key].is_boolean()) return bad(key, std::string("is ") + json_kind(j_[key]) + ", expected true or false");
    out = j_[key].get<bool>();
    return {};
}

ExpectedVoid JsonFields::text(const char* key, std::string& out) const {
    if (!has(key)) return {};
    if (!j_[key].is_string()) return bad(key, std::string("is ") + json_kind(j_[key]) + ", expected a string");
    out = j_[key].get<std::string>();
    return {};
}

ExpectedVoid JsonFields::counts(const char* key, std::vector<uint32>& out, uint64 lo, uint64 hi) const {
    if (!has(key)) return {};
    const nlohmann::json& v = j_[key];
    const nlohmann::json list = v.is_array() ? v : nlohmann::json::array({v});
    std::vector<uint32> r;
    for (const auto& e : list) {
        if (!is_non_negative_integer(e) || e.get<uint64>() < lo || e.get<uint64>() > hi)
            return bad(key, "expected integers in " + std::to_string(lo) + ".." + std::to_string(hi) + " (an integer or a list)");
        r.push_back(uint32(e.get<uint64>()));
    }
    out = std::move(r);
    return {};
}

}  // namespace vk_symbiote
