#include "config/CommandLine.h"

#include <algorithm>
#include <vector>

namespace vk_symbiote::config {

namespace {

Error cli_error(const std::string& msg) { return make_error(ErrorCode::InvalidArgument, msg); }

std::string subcommand_list() {
    std::string s;
    for (std::string_view c : ConfigManager::kSubcommands) s += (s.empty() ? "" : ", ") + std::string(c);
    return s;
}

bool is_subcommand(std::string_view a) {
    return std::find(std::begin(ConfigManager::kSubcommands), std::end(ConfigManager::kSubcommands), a) !=
           std::end(ConfigManager::kSubcommands);
}

// Other tools' spellings (llama.cpp's mostly) and what to write here instead.
struct Habit {
    const char* flag;
    const char* ours;
};
constexpr Habit kHabits[] = {
    {"-m", "--model"},          {"-p", "--prompt"},          {"-f", "--prompt-file"},   {"--file", "--prompt-file"},
    {"-n", "--max-tokens"},     {"--n-predict", "--max-tokens"}, {"-c", "--ctx-size"},  {"-t", "--threads"},
    {"--temp", "--temperature"}, {"-s", "--seed"},           {"--top_k", "--top-k"},    {"--top_p", "--top-p"},
    {"--min_p", "--min-p"},     {"--repeat_penalty", "--repeat-penalty"},
    {"-ngl", "--vram-gb GIB (layers are placed on the GPU under a VRAM budget, not counted)"},
    {"--n-gpu-layers", "--vram-gb GIB (layers are placed on the GPU under a VRAM budget, not counted)"},
};

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

// " (did you mean --model?)" for a habit or a near miss of a known flag; "" when none.
std::string suggestion(std::string_view flag) {
    for (const Habit& h : kHabits)
        if (flag == h.flag) return " (did you mean " + std::string(h.ours) + "?)";
    const OptionSpec* best = nullptr;
    size_t best_d = 3;  // at most two edits away
    for (const OptionSpec& o : option_table())
        if (o.cli && edit_distance(flag, o.cli) < best_d) best_d = edit_distance(flag, o.cli), best = &o;
    return best ? " (did you mean " + std::string(best->cli) + "?)" : "";
}

// The error for a positional argument that is not a subcommand: a near miss of one, or
// text meant as the prompt (`vk_symbiote "Once upon a time"`).
Error positional_error(const std::string& arg) {
    for (std::string_view c : ConfigManager::kSubcommands)
        if (edit_distance(arg, c) <= 2)
            return cli_error("unknown subcommand '" + arg + "' (did you mean " + std::string(c) + "?)");
    return cli_error("unknown subcommand '" + arg + "' (expected one of: " + subcommand_list() + "; a prompt is given with --prompt '" + arg + "')");
}

// A following argument usable as a value: present and not another long option.
bool usable_value(std::span<const std::string> args, size_t i) {
    return i < args.size() && args[i].rfind("--", 0) != 0;
}

// Appends the CLI-only implication of `o` ("section.key=value"), if any.
void add_implication(const OptionSpec& o, const std::string& flag, ParsedCommandLine& out) {
    if (!o.cli_implies) return;
    std::string_view imp = o.cli_implies;
    size_t eq = imp.find('=');
    const OptionSpec* target = find_option(imp.substr(0, eq));
    VKS_CHECK(target != nullptr && eq != std::string_view::npos, "bad cli_implies in option table");
    out.assignments.push_back({target, std::string(imp.substr(eq + 1)), flag});
}

// Handles one option argument args[i] (already known to start with '-'); advances i past
// the values it consumes.
ExpectedVoid parse_option(std::span<const std::string> args, size_t& i, ParsedCommandLine& out) {
    const std::string& arg = args[i];
    std::string flag = arg;
    std::optional<std::string> inline_value;
    if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
        flag = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
    }
    ++i;

    if (flag == "--help" || flag == "-h" || flag == "--help-all") {
        if (inline_value) return cli_error(flag + ": takes no value");
        out.help = true;
        return {};
    }
    if (flag == "--config") {
        if (inline_value) {
            out.config_path = *inline_value;
        } else {
            if (!usable_value(args, i)) return cli_error("--config: missing value <path>");
            out.config_path = args[i++];
        }
        if (out.config_path->empty()) return cli_error("--config: empty path");
        return {};
    }

    const OptionSpec* o = find_cli_option(flag);
    if (!o) {
        const std::string hint = suggestion(flag);
        return cli_error("unknown option '" + flag + "'" + (hint.empty() ? " (see --help)" : hint));
    }

    if (o->cli_fixed) {
        if (inline_value) return cli_error(flag + ": takes no value");
        out.assignments.push_back({o, o->cli_fixed, flag});
    } else if (o->cli_second) {
        const OptionSpec* second = find_option(o->cli_second);
        VKS_CHECK(second != nullptr, "bad cli_second in option table");
        if (inline_value) return cli_error(flag + ": takes two values; write " + flag + " " + o->metavar);
        if (!usable_value(args, i) || !usable_value(args, i + 1))
            return cli_error(flag + ": missing value(s), expected " + flag + " " + o->metavar);
        out.assignments.push_back({o, args[i], flag});
        out.assignments.push_back({second, args[i + 1], flag});
        i += 2;
    } else if (inline_value) {
        out.assignments.push_back({o, *inline_value, flag});
    } else {
        if (!usable_value(args, i)) return cli_error(flag + ": missing value " + o->metavar);
        out.assignments.push_back({o, args[i++], flag});
    }
    add_implication(*o, flag, out);
    return {};
}

}  // namespace

Expected<ParsedCommandLine> parse_command_line(std::span<const std::string> args) {
    ParsedCommandLine out;
    std::vector<std::string> positionals;
    bool only_positionals = false;
    for (size_t i = 0; i < args.size();) {
        const std::string& a = args[i];
        if (only_positionals || a.size() < 2 || a[0] != '-') {
            positionals.push_back(a);
            ++i;
        } else if (a == "--") {
            only_positionals = true;
            ++i;
        } else {
            VKS_TRY(parse_option(args, i, out));
        }
    }
    if (!positionals.empty()) {
        if (!is_subcommand(positionals[0])) return positional_error(positionals[0]);
        out.subcommand = positionals[0];
    }
    if (positionals.size() > 1)
        return cli_error("unexpected extra argument '" + positionals[1] + "' (a prompt is given with --prompt '" + positionals[1] + "')");
    return out;
}

}  // namespace vk_symbiote::config
