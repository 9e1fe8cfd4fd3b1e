// CommandLine: splits argv into option assignments (validated later, after the INI file
// and environment, so the command line has the last word), the --config path, --help and
// the subcommand. Syntax errors are found here: unknown options, missing values, values
// given to flags that take none, unexpected positional arguments.
//
// Forms: "--flag value", "--flag=value", "-v", two-value "--workgroup-size X Y", and "--"
// (everything after it is positional). A value that itself starts with "--" must use the
// "--flag=--value" form, so that "--vram-gb --ram-gb 8" reports the missing value.
//
// Thread-safety: pure function.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/OptionTable.h"

namespace vk_symbiote::config {

struct CliAssignment {
    const OptionSpec* option = nullptr;
    std::string value;
    std::string flag;  // as written ("--vram-gb"), for error messages
};

struct ParsedCommandLine {
    std::vector<CliAssignment> assignments;  // in argv order, implications right after their flag
    std::optional<std::string> config_path;  // --config
    bool help = false;                       // --help / -h
    std::string subcommand;                  // first positional, empty if none
};

// `args` excludes the program name. Errors are ErrorCode::InvalidArgument.
Expected<ParsedCommandLine> parse_command_line(std::span<const std::string> args);

}  // namespace vk_symbiote::config
