#include "vk_symbiote/ConfigManager.h"

#include <cstdlib>
#include <sstream>

#include "config/CommandLine.h"
#include "config/IniParser.h"
#include "config/OptionTable.h"

namespace vk_symbiote {

using config::OptionSpec;

std::string default_models_dir() {
#ifdef VKS_SHARED_DIR
    return (Path(VKS_SHARED_DIR) / "models").lexically_normal().string();
#else
    return "models";
#endif
}

namespace {

constexpr const char* kConfigEnv = "VK_SYMBIOTE_CONFIG";

// Applies a parsed INI document on top of `s`. Unknown sections / keys are errors that
// name the file and line.
ExpectedVoid apply_ini(const config::IniDocument& doc, Settings& s) {
    for (const auto& [name, line] : doc.sections)
        if (!config::is_known_section(name))
            return make_error(ErrorCode::Config,
                              doc.source + ":" + std::to_string(line) + ": unknown section [" + name + "]");
    for (const config::IniEntry& e : doc.entries) {
        const std::string at = doc.source + ":" + std::to_string(e.line);
        const OptionSpec* o = config::find_option(e.section, e.key);
        if (!o) return make_error(ErrorCode::Config, at + ": unknown key '" + e.key + "' in [" + e.section + "]");
        VKS_TRY(config::assign_option(*o, s, e.value, at + ": [" + e.section + "] " + e.key, ErrorCode::Config));
    }
    return {};
}

// Environment layer: every option with an env var. Empty values count as unset.
ExpectedVoid apply_env(const ConfigManager::EnvLookup& env, Settings& s) {
    for (const OptionSpec& o : config::option_table()) {
        if (!o.env) continue;
        std::optional<std::string> v = env(o.env);
        if (!v || v->empty()) continue;
        VKS_TRY(config::assign_option(o, s, config::env_value_text(o, *v), std::string("environment ") + o.env, ErrorCode::Config));
    }
    return {};
}

// 0: no help asked for; 1: --help / -h; 2: --help-all.
int wants_help(std::span<const std::string> args) {
    for (const std::string& a : args) {
        if (a == "--") return 0;
        if (a == "--help-all") return 2;
        if (a == "--help" || a == "-h") return 1;
    }
    return 0;
}

bool wants_version(std::span<const std::string> args) {
    for (const std::string& a : args) {
        if (a == "--") return false;
        if (a == "--version") return true;
    }
    return false;
}

// The subcommand a --help is about ("vk_symbiote chat --help"), "" when none can be told.
std::string help_subcommand(std::span<const std::string> args) {
    auto cli = config::parse_command_line(args);
    return cli ? cli->subcommand : "";
}

}  // namespace

ConfigManager::EnvLookup ConfigManager::process_env() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    };
}

ConfigManager& ConfigManager::instance() {
    static ConfigManager cm;
    return cm;
}

void ConfigManager::reset() { *this = ConfigManager(); }

void ConfigManager::sync_mirrors() {
    s_.performance.prefetch_lookahead = s_.memory.prefetch_lookahead;
    synced_prefetch_ = s_.memory.prefetch_lookahead;
}

uint32 ConfigManager::prefetch_lookahead() const {
    // The mirror differs from what we last wrote into it only if code assigned it.
    if (s_.performance.prefetch_lookahead != synced_prefetch_) return s_.performance.prefetch_lookahead;
    return s_.memory.prefetch_lookahead;
}

ExpectedVoid ConfigManager::load(int argc, const char* const* argv, const EnvLookup& env) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i] ? argv[i] : "");
    return load(args, env);
}

ExpectedVoid ConfigManager::load(std::span<const std::string> args, const EnvLookup& env) {
    ConfigManager next;  // built aside, committed only on success
    if (const int h = wants_help(args)) {
        next.help_ = true;
        next.help_all_ = h == 2;
        next.subcommand_ = help_subcommand(args);
        *this = std::move(next);
        return {};
    }
    if (wants_version(args)) {
        next.version_ = true;
        *this = std::move(next);
        return {};
    }
    Expected<config::ParsedCommandLine> cli = config::parse_command_line(args);
    if (!cli) return cli.error();

    // Layer 1: INI file (--config beats $VK_SYMBIOTE_CONFIG).
    std::string ini_path;
    if (cli->config_path) {
        ini_path = *cli->config_path;
    } else if (std::optional<std::string> e = env(kConfigEnv); e && !e->empty()) {
        ini_path = *e;
    }
    if (!ini_path.empty()) {
        Expected<config::IniDocument> doc = config::read_ini_file(ini_path);
        if (!doc) {
            Error e = doc.error();
            if (!cli->config_path) e.message += " (named by " + std::string(kConfigEnv) + ")";
            return e;
        }
        VKS_TRY(apply_ini(*doc, next.s_));
        next.config_path_ = ini_path;
    }
    // Layer 2: environment. Layer 3: command line, in argv order.
    VKS_TRY(apply_env(env, next.s_));
    for (const config::CliAssignment& a : cli->assignments)
        VKS_TRY(config::assign_option(*a.option, next.s_, a.value, a.flag, ErrorCode::InvalidArgument));

    next.subcommand_ = cli->subcommand;
    next.sync_mirrors();
    *this = std::move(next);
    return {};
}

ExpectedVoid ConfigManager::load_from_args(int argc, const char* const* argv) {
    return load(argc, argv, process_env());
}

ExpectedVoid ConfigManager::load_from_args(int argc, char** argv) {
    return load(argc, const_cast<const char* const*>(argv), process_env());
}

ExpectedVoid ConfigManager::apply_ini_file(const Path& path) {
    Expected<config::IniDocument> doc = config::read_ini_file(path);
    if (!doc) return doc.error();
    Settings next = s_;
    VKS_TRY(apply_ini(*doc, next));
    s_ = std::move(next);
    sync_mirrors();
    return {};
}

ExpectedVoid ConfigManager::set(std::string_view section_dot_key, std::string_view value) {
    const OptionSpec* o = config::find_option(section_dot_key);
    if (!o) return make_error(ErrorCode::InvalidArgument, "unknown option '" + std::string(section_dot_key) + "'");
    VKS_TRY(config::assign_option(*o, s_, value, "option " + o->dotted(), ErrorCode::InvalidArgument));
    sync_mirrors();
    return {};
}

ExpectedVoid ConfigManager::validate() const {
    for (const OptionSpec& o : config::option_table()) VKS_TRY(config::check_option(o, s_));
    return {};
}

Expected<Path> ConfigManager::resolve_model_path() const {
    const std::string& m = s_.model.model_path;
    if (m.empty()) return make_error(ErrorCode::InvalidArgument, "no model given: pass --model <path>");
    std::error_code ec;
    Path p(m);
    if (std::filesystem::exists(p, ec)) return p;
    if (p.is_relative() && !s_.model.models_dir.empty()) {
        Path q = Path(s_.model.models_dir) / p;
        if (std::filesystem::exists(q, ec)) return q;
        return make_error(ErrorCode::NotFound,
                          "model '" + m + "' not found (also tried " + q.string() + "; models_dir from [model] " +
                              "models_dir / VK_SYMBIOTE_MODELS_DIR)");
    }
    return make_error(ErrorCode::NotFound, "model '" + m + "' not found");
}

}  // namespace vk_symbiote
