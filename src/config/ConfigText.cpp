// ConfigManager's text outputs, both generated from the option table: --help and dump().
#include <algorithm>
#include <sstream>

#include "config/IniParser.h"
#include "config/OptionTable.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote {

using config::OptionSpec;

namespace {

constexpr size_t kFlagColumn = 34;  // help text starts at this column

std::string flag_column(const OptionSpec& o) {
    std::string f;
    if (o.cli) {
        f = o.cli;
        if (o.cli_short) f += ", " + std::string(o.cli_short);
        if (!o.cli_fixed && o.metavar) f += " " + std::string(o.metavar);
    } else {
        f = "[" + std::string(o.section) + "] " + o.key;
        f += " = " + std::string(o.metavar ? o.metavar : "<" + config::option_type_name(o) + ">");
    }
    return f;
}

void help_line(std::ostringstream& os, const std::string& left, const std::string& text) {
    os << "  " << left;
    if (left.size() + 2 < kFlagColumn) {
        os << std::string(kFlagColumn - 2 - left.size(), ' ');
    } else {
        os << "\n" << std::string(kFlagColumn, ' ');
    }
    os << text << "\n";
}

std::string details(const OptionSpec& o, const Settings& defaults) {
    std::string d = " (";
    if (o.cli) {
        d += "ini [" + std::string(o.section) + "] " + o.key;
        if (o.cli_fixed) d += " = " + std::string(o.cli_fixed);
        d += "; ";
    }
    std::string def = config::format_option(o, defaults);
    if (o.presence && !*o.presence(const_cast<Settings&>(defaults))) def = "unset";
    d += "default: " + (def.empty() ? std::string("\"\"") : def);
    if (o.choices && !o.cli_fixed) d += "; one of " + config::option_type_name(o);
    if (o.env) d += "; env " + std::string(o.env) + (o.env_negates ? "=1" : "");
    return d + ")";
}

std::string title(std::string_view section) {
    std::string t(section);
    if (!t.empty()) t[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(t[0])));
    return t;
}

}  // namespace

std::string ConfigManager::help_text(std::string_view program, bool all) const {
    std::ostringstream os;
    os << "Usage: " << program << " [SUBCOMMAND] [OPTIONS]\n";
    os << "Subcommands:";
    for (std::string_view c : kSubcommands) os << " " << c;
    os << "\n" << options_help_text(all);
    return os.str();
}

std::string ConfigManager::options_help_text(bool all) const {
    std::ostringstream os;
    os << "Options take '--opt value' or '--opt=value'. Precedence: defaults < INI file (--config or "
          "VK_SYMBIOTE_CONFIG) < environment < command line.\n\nGeneral:\n";
    help_line(os, "--help, -h", "show this help and exit (after a subcommand: its usage and examples)");
    help_line(os, "--help-all", "also show the [tuning] section (A/B knobs for measurements)");
    help_line(os, "--version", "print the version and exit");
    help_line(os, "--config <path>", "INI configuration file (env VK_SYMBIOTE_CONFIG)");

    const Settings defaults;
    for (const char* section : config::option_sections()) {
        if (!all && std::string_view(section) == "tuning") continue;
        os << "\n" << title(section) << ":\n";
        for (const OptionSpec& o : config::option_table()) {
            if (std::string_view(o.section) != section) continue;
            help_line(os, flag_column(o), std::string(o.cli && o.flag_help ? o.flag_help : o.help) + details(o, defaults));
        }
    }
    return os.str();
}

std::string ConfigManager::dump() const {
    std::ostringstream os;
    os << "# vk_symbiote effective configuration (defaults < INI file < environment < command line)\n";
    if (!config_path_.empty()) os << "# loaded from: " << config_path_ << "\n";
    for (const char* section : config::option_sections()) {
        os << "\n[" << section << "]\n";
        for (const OptionSpec& o : config::option_table()) {
            if (std::string_view(o.section) != section) continue;
            if (o.presence && !*o.presence(const_cast<Settings&>(s_))) continue;  // unset: leave to defaults
            os << o.key << " = " << config::ini_format_value(config::format_option(o, s_)) << "\n";
        }
    }
    return os.str();
}

}  // namespace vk_symbiote
