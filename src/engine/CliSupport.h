// CliSupport: what every command-line program shares: loading the configuration
// (with --help and error reporting), the default model path, reading the prompt, the
// stats line and error exit.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {
class ConfigManager;
class VulkanSymbioteEngine;
struct PerformanceMetrics;
struct PackReadStats;

namespace tool {

// Loads args/env/INI into cfg and configures logging. Returns -1 to continue, or the
// process exit code (0 after --help or --version, 2 after a configuration error).
int load_config(ConfigManager& cfg, int argc, char** argv, const char* program);
// --model (a path, or a file name looked up in the models directory), else the default
// model stories260K.gguf in the models directory ($VK_SYMBIOTE_MODELS_DIR, else the
// build's ../shared/models next to the checkout).
Expected<Path> model_path(const ConfigManager& cfg);
// Largest --prompt-file read, in bytes. Fixed rather than derived from --ctx-size because
// perplexity reads a whole corpus (wikitext-2's test split is about 1.3 MB) in context-sized
// chunks; 64 MiB is far above any real prompt and stops `--prompt-file /dev/zero` early.
inline constexpr uint64 kMaxPromptFileBytes = 64ull << 20;
// The exact bytes of `path` (nothing trimmed). InvalidArgument naming the file for a
// directory or for more than `max_bytes` bytes (read in chunks, so /dev/zero or a pipe
// never grows past the limit); Io if it cannot be opened or read. `option` names the
// option the path came from in those messages.
Expected<std::string> read_prompt_file(const std::string& path, uint64 max_bytes = kMaxPromptFileBytes, const std::string& option = "--prompt-file");
// --prompt TEXT or the bytes of --prompt-file F (read_prompt_file); "" if neither;
// InvalidArgument when both are given.
Expected<std::string> prompt_text(const ConfigManager& cfg);
// Error when stdout (fd 1) is closed; checked first, so no file the program opens later
// takes fd 1 and receives its output.
ExpectedVoid check_stdout_open();
// The exit status after a command returned `rc`: `rc`, or 1 with "error: ... stdout" on
// stderr when anything written to stdout was lost (`> /dev/full`, a closed stdout).
int finish_stdout(int rc);
// `e` (values that went non-finite) with the first non-finite weight of `model` appended,
// or with "every weight is finite" when the values overflowed on the way.
Error explain_non_finite(const Path& model, Error e);
// Prints "error: ..." to stderr and returns the exit code 1.
int fail(const Error& e);
// One stats line to stderr (tokens/s and the GB/s the decode read the weights at, time to
// first token, backend, memory in GiB).
void print_stats(const VulkanSymbioteEngine& engine);
// The same figures as a JSON object (generate --json's "stats").
nlohmann::json stats_json(const PerformanceMetrics& m);
// The pack-read figures as JSON keys (pack_io_busy_seconds, ...), shared by stats_json and
// the benchmark report's samples.
nlohmann::json pack_reads_json(const PackReadStats& s);
// The oracle line (engine/OracleLine.h) to stderr, with the machine's peaks (probe cache
// under --cache-dir / the default cache dir, else quick probes).
void print_oracle_line(const VulkanSymbioteEngine& engine, const ConfigManager& cfg, const Path& model);

}  // namespace tool
}  // namespace vk_symbiote
