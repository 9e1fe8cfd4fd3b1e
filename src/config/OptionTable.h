// OptionTable: the single declaration of every configuration option (gemma.cpp style).
// Each row names the field it controls, its INI section/key, its command-line flag(s), its
// environment variable, its numeric range or allowed choices and its help line. CLI, INI
// and env parsing, --help and dump() all iterate this table; nothing else knows option
// names. Types come from the field (FieldRef), defaults from Settings' member initializers.
//
// Thread-safety: the table is immutable static data; the free functions are pure.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote::config {

// A typed pointer to the Settings field an option controls.
using FieldRef = std::variant<bool*, int32*, uint32*, uint64*, float*, double*, std::string*>;

struct OptionSpec {
    const char* section = nullptr;    // INI section, e.g. "memory"
    const char* key = nullptr;        // INI key, e.g. "vram_budget_gb"
    const char* cli = nullptr;        // long flag, e.g. "--vram-gb"; nullptr = INI / env only
    const char* cli_short = nullptr;  // e.g. "-v"
    // Zero-argument flags store this text ("false" for --disable-gpu); nullptr = the flag
    // takes a value ("--vram-gb 2" or "--vram-gb=2").
    const char* cli_fixed = nullptr;
    // Two-value flags (--workgroup-size X Y): "section.key" receiving the second value.
    const char* cli_second = nullptr;
    // "section.key=value" applied right after this flag on the command line only (--log-file
    // implies log_to_file, --verbose implies log_level=DEBUG). Not applied for INI / env,
    // where both keys are written out explicitly.
    const char* cli_implies = nullptr;
    const char* env = nullptr;        // environment variable, e.g. "VK_SYMBIOTE_VRAM_GB"
    // Bool options whose variable names the opposite (VK_SYMBIOTE_NO_ZERO_COPY=1 sets
    // zero_copy = false): the parsed value is negated.
    bool env_negates = false;
    const char* metavar = nullptr;    // "<gb>" in --help
    FieldRef (*field)(Settings&) = nullptr;
    // Optional "was given" flag set whenever the option is assigned (prompt_set, seed_set).
    // Such options are left out of dump() while unset.
    bool* (*presence)(Settings&) = nullptr;
    // Per-device lists ("--vram-gb 4,8"): each comma-separated value is checked as the field's;
    // the field gets the first, this list all of them.
    std::vector<double>* (*list)(Settings&) = nullptr;
    double min = 0, max = 0;          // inclusive range for numeric fields (ignored if min == max == 0)
    // Sizes: bytes per unit (GB = 2^30). A value above 0 that is less than one byte is refused
    // (it would round to 0 bytes, which the budgets read as "no limit" or "nothing").
    double unit_bytes = 0;
    const char* choices = nullptr;    // "a|b|c": allowed values, matched case-insensitively
    const char* help = "";
    // What the command-line flag does, when that differs from what the key means (negative
    // flags: --disable-gpu runs on the CPU, while enable_gpu "uses the Vulkan GPU"). --help
    // shows it for the flag; the INI key keeps `help`.
    const char* flag_help = nullptr;

    std::string dotted() const { return std::string(section) + "." + key; }
};

std::span<const OptionSpec> option_table();
// Section names in table order ("memory", "performance", ...).
std::span<const char* const> option_sections();

const OptionSpec* find_option(std::string_view section, std::string_view key);
const OptionSpec* find_option(std::string_view dotted);  // "memory.vram_budget_gb"
// By "--long" or "-s" flag (without any "=value").
const OptionSpec* find_cli_option(std::string_view flag);
bool is_known_section(std::string_view section);

// The value `text` of the option's environment variable as the option's own text (negated
// for env_negates; an unparsable value is returned unchanged for assign_option to reject).
std::string env_value_text(const OptionSpec& opt, std::string_view text);

// Parses `text` for the option's type, checks range / choices, stores it in `s` (and sets
// the presence flag). On failure the error is `code` with message "<where>: <problem>",
// e.g. "--vram-gb: 'abc' is not a number"; `s` is unchanged.
ExpectedVoid assign_option(const OptionSpec& opt, Settings& s, std::string_view text,
                           std::string_view where, ErrorCode code);
// Range / choices check of the current value (for validate()).
ExpectedVoid check_option(const OptionSpec& opt, const Settings& s);
// The value as text that assign_option() parses back to the same value (floats use the
// shortest round-trip form).
std::string format_option(const OptionSpec& opt, const Settings& s);
// "bool", "integer", "number", "string" or the choices.
std::string option_type_name(const OptionSpec& opt);

}  // namespace vk_symbiote::config
