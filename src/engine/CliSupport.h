// CliSupport: what every command-line program shares: loading the configuration
// (with --help and error reporting), the default model path, reading the prompt, the
// stats line and error exit.
#pragma once

#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {
class ConfigManager;
class VulkanSymbioteEngine;

namespace tool {

// Loads args/env/INI into cfg and configures logging. Returns -1 to continue, or the
// process exit code (0 after --help, 2 after a configuration error).
int load_config(ConfigManager& cfg, int argc, char** argv, const char* program);
// --model (a path, or a file name looked up in the models directory), else the default
// model stories260K.gguf in the models directory ($VK_SYMBIOTE_MODELS_DIR, else the
// build's ../shared/models next to the checkout).
Expected<Path> model_path(const ConfigManager& cfg);
// --prompt TEXT or the exact bytes of --prompt-file F (nothing trimmed); "" if neither.
Expected<std::string> prompt_text(const ConfigManager& cfg);
// Prints "error: ..." to stderr and returns the exit code 1.
int fail(const Error& e);
// One stats line to stderr (tokens/s, time to first token, backend, memory).
void print_stats(const VulkanSymbioteEngine& engine);
// The oracle line (engine/OracleLine.h) to stderr, with the machine's peaks (probe cache
// under --cache-dir / the default cache dir, else quick probes).
void print_oracle_line(const VulkanSymbioteEngine& engine, const ConfigManager& cfg, const Path& model);

}  // namespace tool
}  // namespace vk_symbiote
