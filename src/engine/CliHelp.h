// CliHelp: what `vk_symbiote --help`, `vk_symbiote SUBCOMMAND --help` and `--version` print:
// per subcommand what it does, its usage and examples (a table), then the options from the
// option table (ConfigManager::help_text).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace vk_symbiote {
class ConfigManager;

namespace tool {

struct SubcommandHelp {
    const char* name;      // "generate"
    const char* summary;   // one line for the overview
    const char* usage;     // after the program name
    const char* details;   // a few lines: inputs, outputs, exit status
    const char* examples;  // one command per line, after the program name
};

// Every subcommand of vk_symbiote, in the order the overview lists them.
std::span<const SubcommandHelp> subcommands();
const SubcommandHelp* find_subcommand(std::string_view name);

// The help for `sub` ("" = the overview: every subcommand's summary and the common
// examples), followed by the options (`all`: with the [tuning] section).
std::string help_text(const ConfigManager& cfg, std::string_view program, std::string_view sub, bool all);
// "vk_symbiote 0.1.0" and the build's Vulkan / shared-data facts, one per line.
std::string version_text(std::string_view program);

}  // namespace tool
}  // namespace vk_symbiote
