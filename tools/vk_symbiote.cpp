// vk_symbiote: the main command-line tool.
//   vk_symbiote [generate] --prompt TEXT | --prompt-file F   stream a continuation to stdout
//   vk_symbiote chat                                          interactive chat on a terminal
//   vk_symbiote tokenize --prompt TEXT [--raw]                print token ids
//   vk_symbiote perplexity --prompt-file F --ctx-size N       llama.cpp-compatible perplexity
// Every subcommand shares the engine options (see --help). Generated text goes to stdout,
// everything else (logs, progress, stats) to stderr.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "config/Logger.h"
#include "gguf/GGUFLoader.h"
#include "model/ChatTemplate.h"
#include "model/ModelConfig.h"
#include "model/Tokenizer.h"
#include "runtime/Perplexity.h"
#include "engine/CliSupport.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

namespace {

int cmd_tokenize(const ConfigManager& cfg, const Path& model) {
    auto g = GGUFLoader::open(model, GGUFOpenOptions{.allow_quantized = true});
    if (!g) return tool::fail(g.error());
    auto tok = Tokenizer::from_gguf(**g);
    if (!tok) return tool::fail(tok.error());
    auto text = tool::prompt_text(cfg);
    if (!text) return tool::fail(text.error());
    bool raw = cfg.sampling().raw;
    auto ids = (*tok)->encode(*text, !raw, !raw);
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%u", i ? " " : "", ids[i]);
    std::printf("\n");
    return 0;
}

int cmd_generate(const ConfigManager& cfg, VulkanSymbioteEngine& engine) {
    auto text = tool::prompt_text(cfg);
    if (!text) return tool::fail(text.error());
    GenerationOptions o = engine.default_generation_options();
    o.parse_special = !cfg.sampling().raw;
    auto r = engine.generate_stream(*text, o, [](const std::string& piece, uint32) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return true;
    });
    std::printf("\n");
    std::fflush(stdout);
    if (!r) return tool::fail(r.error());
    if (cfg.sampling().stats || cfg.logging().verbose) tool::print_stats(engine);
    return 0;
}

int cmd_perplexity(const ConfigManager& cfg, VulkanSymbioteEngine& engine) {
    if (cfg.sampling().prompt_file.empty()) return tool::fail(make_error(ErrorCode::InvalidArgument, "perplexity: --prompt-file is required"));
    auto text = tool::prompt_text(cfg);
    if (!text) return tool::fail(text.error());
    uint32 n_ctx = cfg.sampling().ctx_size ? cfg.sampling().ctx_size : 512;
    const Tokenizer& tok = engine.tokenizer();
    std::vector<uint32> toks = tok.encode(*text, /*add_special=*/true, /*parse_special=*/false);
    std::fprintf(stderr, "perplexity: %zu tokens, %zu chunks of %u\n", toks.size(), toks.size() / n_ctx, n_ctx);
    auto r = compute_perplexity(
        toks, tok.bos_id(), n_ctx, engine.model_config().n_vocab, [&](const std::vector<uint32>& chunk) { return engine.evaluate(chunk); },
        [](uint32 c, uint32 n, double ppl) {
            std::printf("[%u/%u] %.4f\n", c + 1, n, ppl);
            std::fflush(stdout);
        });
    if (!r) return tool::fail(r.error());
    std::printf("PPL: %.4f\n", r->ppl);
    return 0;
}

int cmd_chat(const ConfigManager& cfg, VulkanSymbioteEngine& engine) {
    ChatFormat fmt = detect_chat_format(engine.tokenizer().chat_template());
    if (fmt == ChatFormat::Plain) std::fprintf(stderr, "chat: the model has no known chat template; using a plain User:/Assistant: transcript\n");
    else std::fprintf(stderr, "chat: using the model's %s chat template\n", chat_format_name(fmt));
    std::vector<ChatMessage> history;
    if (!cfg.sampling().prompt.empty()) history.push_back({"system", cfg.sampling().prompt});
    GenerationOptions o = engine.default_generation_options();
    bool tty = ::isatty(STDIN_FILENO);
    std::string line;
    while (true) {
        if (tty) std::fprintf(stderr, "\n> ");
        if (!std::getline(std::cin, line)) break;
        if (line == "/exit" || line == "/quit") break;
        if (line.empty()) continue;
        history.push_back({"user", line});
        std::string prompt = format_chat(fmt, history);
        std::string reply;
        auto r = engine.generate_stream(prompt, o, [&](const std::string& piece, uint32) {
            reply += piece;
            std::fwrite(piece.data(), 1, piece.size(), stdout);
            std::fflush(stdout);
            // The plain transcript has no end-of-turn token: stop at the next "User:".
            return fmt != ChatFormat::Plain || reply.find("\nUser:") == std::string::npos;
        });
        std::printf("\n");
        std::fflush(stdout);
        if (!r) return tool::fail(r.error());
        if (auto cut = reply.find("\nUser:"); cut != std::string::npos) reply.resize(cut);
        history.push_back({"assistant", reply});
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    ConfigManager& cfg = ConfigManager::instance();
    if (int rc = tool::load_config(cfg, argc, argv, "vk_symbiote"); rc >= 0) return rc;
    std::string sub = cfg.subcommand().empty() ? "generate" : cfg.subcommand();
    auto model_or = tool::model_path(cfg);
    if (!model_or) return tool::fail(model_or.error());
    const Path model = *model_or;
    if (sub == "tokenize") return cmd_tokenize(cfg, model);
    if (sub != "generate" && sub != "chat" && sub != "perplexity")
        return tool::fail(make_error(ErrorCode::InvalidArgument, "unknown subcommand '" + sub + "' (generate, chat, tokenize, perplexity)"));
    auto engine = VulkanSymbioteEngine::create(model, cfg);
    if (!engine) return tool::fail(engine.error());
    if (sub == "generate") return cmd_generate(cfg, **engine);
    if (sub == "chat") return cmd_chat(cfg, **engine);
    return cmd_perplexity(cfg, **engine);
}
