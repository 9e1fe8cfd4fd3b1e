#include "engine/CliHelp.h"

#include <sstream>

#include "vk_symbiote/ConfigManager.h"

#ifndef VKS_VERSION
#define VKS_VERSION "unknown"
#endif

namespace vk_symbiote::tool {

namespace {

const SubcommandHelp kSubcommands[] = {
    {"generate", "continue a prompt (the default subcommand)", "[generate] --prompt TEXT | --prompt-file F [OPTIONS]",
     "Streams the continuation of the prompt to stdout; logs, progress and --stats go to stderr.\n"
     "--json prints one JSON document instead (text, tokens, stats).",
     "generate --prompt \"Once upon a time\" --max-tokens 100 --stats\n"
     "generate --model llama2-7b-f16.gguf --vram-gb 4 --ram-gb 16 --prompt \"The capital of France is\"\n"
     "generate --prompt-file story.txt --temperature 0 --json"},
    {"chat", "an interactive conversation with the model's chat template", "chat [--prompt SYSTEM_PROMPT] [OPTIONS]",
     "Reads one message per line from stdin, streams each reply to stdout; /exit quits. --prompt is the\n"
     "system prompt. A conversation that outgrows --ctx-size loses its oldest turns (said on stderr).",
     "chat --model tinyllama-1.1b-chat-f16.gguf\n"
     "chat --prompt \"You are a terse assistant.\" --ctx-size 4096"},
    {"tokenize", "print the token ids of a prompt", "tokenize --prompt TEXT | --prompt-file F [--raw]",
     "One line of space-separated ids on stdout. --raw: no BOS / EOS and no special tokens.\n"
     "Works on vocabulary-only GGUF files and on folders of Hugging Face tokenizer files.",
     "tokenize --prompt \"Hello world\"\n"
     "tokenize --raw --prompt-file text.txt"},
    {"perplexity", "llama.cpp's perplexity of a text file", "perplexity --prompt-file F [--ctx-size N]",
     "Cuts the text into chunks of --ctx-size tokens (default 512) and scores the second half of each;\n"
     "a line per chunk, the last line is \"PPL: <value>\". Non-finite logits are an error naming the\n"
     "first non-finite weight.",
     "perplexity --model llama2-7b-f16.gguf --prompt-file wiki.test.raw --ctx-size 512"},
    {"pack", "build the compressed pack cache ahead of a run", "pack [--cache-dir DIR] [--max-pack-mb MB] [--compression-algorithm A]",
     "Writes <cache dir or the model's directory>/<model>.vkspack (creating --cache-dir when missing),\n"
     "with progress and an ETA on stderr, then each codec's share and ratio on stdout.\n"
     "--no-compression stores every pack raw.",
     "pack --model llama2-7b-f16.gguf --cache-dir /fast/cache\n"
     "pack --model llama2-7b-bf16.gguf --compression-algorithm exponent"},
    {"bench", "prompt / generation speed against this machine's probed ceilings",
     "bench [--model PATH | --shape NAME [--dtype f16] [--layers N]] [-p N] [-n N] [--parallel S,...] [-r N] [--json] [OPTIONS]",
     "The vk_symbiote_benchmark workload (docs/benchmarks.md): probes the disk, RAM and bus once per\n"
     "machine, then times prompt processing (-p) and generation (-n). bench --help lists its options.",
     "bench --model llama2-7b-f16.gguf --vram-gb 4\n"
     "bench --shape llama2-7b --dtype f16 -p 512 -n 128 --json"},
};

void indented(std::ostringstream& os, std::string_view text, std::string_view prefix) {
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);) os << "  " << prefix << line << "\n";
}

void overview(std::ostringstream& os, std::string_view program) {
    os << "Usage: " << program << " [SUBCOMMAND] [OPTIONS]   (" << program << " SUBCOMMAND --help: its usage and examples)\n\n";
    os << "Subcommands:\n";
    for (const SubcommandHelp& s : kSubcommands) {
        std::string name = s.name;
        os << "  " << name << std::string(name.size() < 12 ? 12 - name.size() : 1, ' ') << s.summary << "\n";
    }
    os << "\nExamples:\n";
    indented(os, "--prompt \"Once upon a time\" --max-tokens 100 --stats", std::string(program) + " ");
    indented(os, "chat --model tinyllama-1.1b-chat-f16.gguf", std::string(program) + " ");
    indented(os, "generate --model llama2-7b-f16.gguf --vram-gb 4 --ram-gb 16 --prompt \"Hi\"", std::string(program) + " ");
}

}  // namespace

std::span<const SubcommandHelp> subcommands() { return kSubcommands; }

const SubcommandHelp* find_subcommand(std::string_view name) {
    for (const SubcommandHelp& s : kSubcommands)
        if (name == s.name) return &s;
    return nullptr;
}

std::string help_text(const ConfigManager& cfg, std::string_view program, std::string_view sub, bool all) {
    std::ostringstream os;
    if (const SubcommandHelp* s = find_subcommand(sub)) {
        os << "Usage: " << program << " " << s->usage << "\n\n" << s->summary << ".\n";
        indented(os, s->details, "");
        os << "\nExamples:\n";
        indented(os, s->examples, std::string(program) + " ");
    } else {
        overview(os, program);
    }
    os << "\n" << cfg.options_help_text(all);
    return os.str();
}

std::string version_text(std::string_view program) {
    std::string v = std::string(program) + " " + VKS_VERSION + "\n";
#ifdef VKS_HAS_VULKAN
    v += "Vulkan backend: built in\n";
#else
    v += "Vulkan backend: not built (CPU path only)\n";
#endif
    v += "default models directory: " + default_models_dir() + "\n";
    return v;
}

}  // namespace vk_symbiote::tool
