// Helpers for the config tests: an injectable environment and INI files under tmp_dir().
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote::test {

using EnvMap = std::map<std::string, std::string>;

inline ConfigManager::EnvLookup env_of(EnvMap m) {
    return [m = std::move(m)](std::string_view name) -> std::optional<std::string> {
        auto it = m.find(std::string(name));
        if (it == m.end()) return std::nullopt;
        return it->second;
    };
}

// Writes `text` to tmp_dir()/name and returns the path.
inline Path write_ini(const std::string& name, const std::string& text) {
    Path p = tmp_dir() / name;
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << text;
    return p;
}

// Loads `args` (no program name) with `env`; returns the result.
inline ExpectedVoid load(ConfigManager& cfg, std::vector<std::string> args, EnvMap env = {}) {
    return cfg.load(args, env_of(std::move(env)));
}

// Asserts that loading fails with `code` and a message containing `needle`.
inline void expect_load_error(std::vector<std::string> args, ErrorCode code, const std::string& needle,
                              EnvMap env = {}) {
    ConfigManager cfg;
    ExpectedVoid r = load(cfg, args, std::move(env));
    ASSERT_FALSE(r.has_value()) << "expected an error containing: " << needle;
    EXPECT_EQ(r.error().code, code) << r.error().to_string();
    EXPECT_NE(r.error().message.find(needle), std::string::npos)
        << "message: " << r.error().message << "\nexpected to contain: " << needle;
}

}  // namespace vk_symbiote::test
