// JsonFields: typed reads of the keys of one JSON object (config.json, its rope_scaling),
// where a key that is absent or null leaves the output untouched, so callers set defaults
// first and read over them. Every error names the file and the key (with a prefix for
// nested objects, e.g. 'rope_scaling.factor'); wrong types and out-of-range values are
// Format errors.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class JsonFields {
public:
    JsonFields(const nlohmann::json& j, std::string file, std::string prefix = "") : j_(j), file_(std::move(file)), prefix_(std::move(prefix)) {}

    bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
    const nlohmann::json& at(const char* key) const { return j_[key]; }
    const std::string& file() const { return file_; }
    // "<file>: '<prefix><key>': <what>"
    Error bad(const std::string& key, const std::string& what, ErrorCode code = ErrorCode::Format) const;
    ExpectedVoid required(const char* key) const;

    // An integer in [lo, hi].
    ExpectedVoid count(const char* key, uint64& out, uint64 lo, uint64 hi) const;
    ExpectedVoid count(const char* key, uint32& out, uint64 lo, uint64 hi) const;
    // A finite number.
    ExpectedVoid number(const char* key, double& out) const;
    ExpectedVoid flag(const char* key, bool& out) const;
    ExpectedVoid text(const char* key, std::string& out) const;
    // A list of integers in [lo, hi], or one integer (read as a list of one).
    ExpectedVoid counts(const char* key, std::vector<uint32>& out, uint64 lo, uint64 hi) const;

private:
    const nlohmann::json& j_;
    std::string file_;
    std::string prefix_;
};

}  // namespace vk_symbiote
