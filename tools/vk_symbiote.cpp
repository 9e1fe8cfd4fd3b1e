// vk_symbiote: the main command-line tool.
//   vk_symbiote [generate] --prompt TEXT | --prompt-file F   stream a continuation to stdout
//   vk_symbiote chat                                          interactive chat on a terminal
//   vk_symbiote tokenize --prompt TEXT [--raw]                print token ids (--model: a GGUF file or a
//                                                             Hugging Face folder with tokenizer files)
//   vk_symbiote perplexity --prompt-file F --ctx-size N       llama.cpp-compatible perplexity
//   vk_symbiote pack [--cache-dir D] [--max-pack-mb N] [--compression-algorithm A]
//                                                             write the compressed pack cache
// Every subcommand shares the engine options (see --help). Generated text goes to stdout,
// everything else (logs, progress, stats) to stderr.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "packs/PackCache.h"
#include "packs/PackCacheSetup.h"
#include "config/Logger.h"
#include "gguf/GGUFLoader.h"
#include "model/ChatTemplate.h"
#include "model/HfTokenizerFolder.h"
#include "packs/PackPlanner.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "model/Tokenizer.h"
#include "runtime/Perplexity.h"
#include "engine/CliSupport.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

namespace {

// The tokenizer of a GGUF file (vocabulary-only files too) or of a Hugging Face folder.
Expected<std::unique_ptr<Tokenizer>> open_tokenizer(const Path& model) {
    std::error_code ec;
    if (std::filesystem::is_directory(model, ec)) return load_hf_tokenizer(model);
    auto g = GGUFLoader::open(model, GGUFOpenOptions{.allow_quantized = true});
    if (!g) return g.error();
    return Tokenizer::from_gguf(**g);
}

int cmd_tokenize(const ConfigManager& cfg, const Path& model) {
    auto tok = open_tokenizer(model);
    if (!tok) return tool::fail(tok.error());
    auto text = tool::prompt_text(cfg);
    if (!text) return tool::fail(text.error());
    bool raw = cfg.sampling().raw;
    auto ids = (*tok)->encode(*text, !raw, !raw);
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%u", i ? " " : "", ids[i]);
    std::printf("\n");
    return 0;
}

int cmd_generate(const ConfigManager& cfg, VulkanSymbioteEngine& engine, const Path& model) {
    auto text = tool::prompt_text(cfg);
    if (!text) return tool::fail(text.error());
    GenerationOptions o = engine.default_generation_options();
    o.parse_special = !cfg.sampling().raw;
    auto r = engine.generate_stream(*text, o, [](const std::string& piece, uint32) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return !std::ferror(stdout);  // output lost: stop; main() reports it (finish_stdout)
    });
    std::printf("\n");
    std::fflush(stdout);
    if (!r) return tool::fail(r.error());
    if (cfg.sampling().stats || cfg.logging().verbose) tool::print_stats(engine);
    if (cfg.logging().verbose) tool::print_oracle_line(engine, cfg, model);
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
            if (std::ferror(stdout)) return false;  // output lost: main() reports it
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


// Writes the compressed pack cache of `model` (plan from --max-pack-mb, file in
// --cache-dir or next to the model): a progress line per ~5% and a per-codec summary
// on stderr.
int cmd_pack(const ConfigManager& cfg, const Path& model) {
    auto g = GGUFLoader::open(model);
    if (!g) return tool::fail(g.error());
    auto mc = ModelConfig::from_gguf(**g);
    if (!mc) return tool::fail(mc.error());
    auto reg = TensorRegistry::bind(*mc, **g);
    if (!reg) return tool::fail(reg.error());
    auto plan = plan_packs(*reg, {cfg.memory().max_pack_bytes()});
    if (!plan) return tool::fail(plan.error());
    PackCacheOptions opts;
    opts.cache_dir = cfg.memory().cache_dir;
    opts.threads = cfg.performance().threads;
    auto cand = pack_cache_candidates(cfg.memory().compression_algorithm);
    if (!cand) return tool::fail(cand.error());
    opts.candidates = *cand;
    std::fprintf(stderr, "pack: %s: %zu packs, %.1f MiB, max pack %.2f MiB -> %s\n", model.string().c_str(), plan->packs.size(),
                 double(plan->total_bytes) / 1048576.0, double(plan->max_pack_bytes) / 1048576.0,
                 pack_cache_path(model, opts.cache_dir).string().c_str());
    uint64 next_report = 0;  // raw bytes at which the next progress line is due
    auto cache = build_pack_cache(**g, *plan, opts, [&](uint64 done, uint64 total, uint64 bytes) -> ExpectedVoid {
        if (bytes >= next_report || done == total) {
            std::fprintf(stderr, "pack: %3.0f%% (%llu/%llu packs)\n", 100.0 * double(bytes) / double(std::max<uint64>(plan->total_bytes, 1)),
                         (unsigned long long)done, (unsigned long long)total);
            next_report = bytes + plan->total_bytes / 20;
        }
        return {};
    });
    if (!cache) return tool::fail(cache.error());
    auto reader = PackCacheReader::open(*cache, **g, *plan);
    if (!reader) return tool::fail(reader.error());
    struct Sum { uint64 packs = 0, raw = 0, stored = 0; };
    std::map<std::string, Sum> per_codec;
    Sum all;
    for (uint64 i = 0; i < (*reader)->pack_count(); ++i) {
        for (Sum* s : {&per_codec[(*reader)->codec_name(i)], &all}) {
            s->packs++;
            s->raw += (*reader)->raw_bytes(i);
            s->stored += (*reader)->stored_bytes(i);
        }
    }
    auto line = [](const std::string& what, const Sum& s) {
        std::printf("%-12s %6llu packs %14llu raw bytes %14llu stored bytes  ratio %.4f\n", what.c_str(), (unsigned long long)s.packs,
                    (unsigned long long)s.raw, (unsigned long long)s.stored, s.raw ? double(s.stored) / double(s.raw) : 1.0);
    };
    std::printf("pack cache: %s\n", cache->string().c_str());
    for (const auto& [name, s] : per_codec) line(name, s);
    line("total", all);
    return 0;
}

int run_command(int argc, char** argv) {
    ConfigManager& cfg = ConfigManager::instance();
    if (int rc = tool::load_config(cfg, argc, argv, "vk_symbiote"); rc >= 0) return rc;
    std::string sub = cfg.subcommand().empty() ? "generate" : cfg.subcommand();
    auto model_or = tool::model_path(cfg);
    if (!model_or) return tool::fail(model_or.error());
    const Path model = *model_or;
    if (sub == "tokenize") return cmd_tokenize(cfg, model);
    if (sub == "pack") return cmd_pack(cfg, model);
    if (sub != "generate" && sub != "chat" && sub != "perplexity")
        return tool::fail(make_error(ErrorCode::InvalidArgument, "unknown subcommand '" + sub + "' (generate, chat, tokenize, perplexity)"));
    auto engine = VulkanSymbioteEngine::create(model, cfg);
    if (!engine) return tool::fail(engine.error());
    if (sub == "generate") return cmd_generate(cfg, **engine, model);
    if (sub == "chat") return cmd_chat(cfg, **engine);
    return cmd_perplexity(cfg, **engine);
}

}  // namespace

int main(int argc, char** argv) {
    if (auto open = tool::check_stdout_open(); !open) return tool::fail(open.error());
    return tool::finish_stdout(run_command(argc, argv));
}
