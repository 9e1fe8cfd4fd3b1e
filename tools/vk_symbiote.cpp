// vk_symbiote: the main command-line tool.
//   vk_symbiote [generate] --prompt TEXT | --prompt-file F   stream a continuation to stdout
//   vk_symbiote chat [--chat-template-file T.jinja]           interactive chat on a terminal, in the
//                                                             model's chat template (or T.jinja)
//   vk_symbiote tokenize --prompt TEXT [--raw]                print token ids (--model: a GGUF file or a
//                                                             Hugging Face folder with tokenizer files)
//   vk_symbiote perplexity --prompt-file F --ctx-size N       llama.cpp-compatible perplexity
//   vk_symbiote pack [--cache-dir D] [--max-pack-mb N] [--compression-algorithm A]
//                                                             write the compressed pack cache
//   vk_symbiote bench [benchmark options]                     the benchmark (src/bench)
//   vk_symbiote serve [--host H] [--port P] [--parallel N] [--api-key K]
//                                                             OpenAI-compatible HTTP server (src/server)
//   vk_symbiote template --template-file T.jinja --vars-file V.json [--date YYYY-MM-DD]
//                                                             print a chat template's rendering exactly
// Every subcommand shares the engine options (see --help). Generated text goes to stdout,
// everything else (logs, progress, stats) to stderr.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "bench/BenchCommand.h"
#include "common/Progress.h"
#include "common/Units.h"
#include "common/TempFiles.h"
#include "packs/PackCache.h"
#include "packs/PackCacheSetup.h"
#include "config/Logger.h"
#include "model/LoadedModel.h"
#include "model/ChatTemplate.h"
#include "packs/PackPlanner.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "model/Tokenizer.h"
#include "runtime/ChatConversation.h"
#include "runtime/Perplexity.h"
#include "pipeline/PipelineCommand.h"
#include "runtime/Session.h"
#include "server/OpenAiServer.h"
#include "server/PipelineServe.h"
#include "server/StopOnSignal.h"
#include "template/Template.h"
#include "engine/BudgetCheck.h"
#include "engine/CliSupport.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

namespace {

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

// --json: one JSON document on stdout once the generation is done: the prompt, the text,
// the generated token ids and the stats (nothing streamed).
int generate_json(VulkanSymbioteEngine& engine, const std::string& prompt, const GenerationOptions& o) {
    std::vector<uint32> prompt_tokens = engine.tokenizer().encode(prompt, o.add_bos, o.parse_special);
    if (prompt_tokens.empty()) prompt_tokens.push_back(engine.tokenizer().bos_id());
    std::vector<uint32> tokens;
    auto r = engine.generate_tokens(prompt_tokens, o, {}, &tokens);
    if (!r) return tool::fail(r.error());
    const nlohmann::json doc = {{"prompt", prompt},        {"prompt_tokens", prompt_tokens}, {"text", *r},
                                {"tokens", tokens},        {"stats", tool::stats_json(engine.get_performance_metrics())}};
    std::printf("%s\n", doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
}

int cmd_generate(const ConfigManager& cfg, VulkanSymbioteEngine& engine, const Path& model) {
    auto text = tool::prompt_text(cfg);
    if (!text) return tool::fail(text.error());
    GenerationOptions o = engine.default_generation_options();
    o.parse_special = !cfg.sampling().raw;
    if (cfg.sampling().json) return generate_json(engine, *text, o);
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

int cmd_perplexity(const ConfigManager& cfg, VulkanSymbioteEngine& engine, const Path& model) {
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
    if (!r) return tool::fail(r.error().code == ErrorCode::Format ? tool::explain_non_finite(model, r.error()) : r.error());
    std::printf("PPL: %.4f\n", r->ppl);
    return 0;
}

// The prompt format of `chat`: --chat-template-file, else the model's own template, else
// the fallback its vocabulary suggests.
Expected<ChatTemplate> chat_template_for(const ConfigManager& cfg, const Tokenizer& tok, const Path& model) {
    const std::string& file = cfg.model().chat_template_file;
    if (file.empty()) return ChatTemplate::for_model(tok, model.filename().string());
    auto source = tool::read_prompt_file(file, jinja::kMaxTemplateBytes, "--chat-template-file");
    if (!source) return source.error();
    return ChatTemplate::from_jinja(*source, file, special_token_variables(tok));
}

// One reply to the conversation so far, streamed to stdout; recorded in `chat`.
ExpectedVoid chat_turn(VulkanSymbioteEngine& engine, ChatConversation& chat, const std::vector<uint32>& prompt, const GenerationOptions& o, bool plain) {
    VKS_LOG_DEBUG("chat: prompt of " << prompt.size() << " tokens, " << chat.reused_tokens() << " of them kept from the last turn");
    std::string reply;
    std::vector<uint32> reply_tokens;
    auto r = engine.generate_tokens(prompt, o, [&](const std::string& piece, uint32) {
        reply += piece;
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        if (std::ferror(stdout)) return false;  // output lost: main() reports it
        // The plain transcript has no end-of-turn token: stop at the next "User:".
        return !plain || reply.find("\nUser:") == std::string::npos;
    }, &reply_tokens);
    std::printf("\n");
    std::fflush(stdout);
    if (!r) return r.error();
    const size_t cut = plain ? reply.find("\nUser:") : std::string::npos;
    if (cut != std::string::npos) reply.resize(cut);
    chat.add_reply(reply, cut == std::string::npos ? reply_tokens : std::vector<uint32>{});  // cut: ids no longer match
    return {};
}

int cmd_chat(const ConfigManager& cfg, VulkanSymbioteEngine& engine, const Path& model) {
    auto tmpl = chat_template_for(cfg, engine.tokenizer(), model);
    if (!tmpl) return tool::fail(tmpl.error());
    std::fprintf(stderr, "chat: using %s\n", tmpl->describe().c_str());
    const bool plain = !tmpl->is_jinja() && tmpl->fallback_format() == ChatFormat::Plain;
    ChatConversation chat(*tmpl, engine.tokenizer());
    if (!cfg.sampling().prompt.empty()) chat.add_message("system", cfg.sampling().prompt);
    const GenerationOptions o = engine.default_generation_options();
    const uint32 n_ctx = engine.context_size();
    const size_t prompt_room = n_ctx - std::min(o.max_tokens, n_ctx / 2);  // room kept for each reply
    const bool tty = ::isatty(STDIN_FILENO);
    std::string line;
    while (true) {
        if (tty) std::fprintf(stderr, "\n> ");
        if (!std::getline(std::cin, line)) break;
        if (line == "/exit" || line == "/quit") break;
        if (line.empty()) continue;
        chat.add_message("user", line);
        size_t dropped = 0;
        auto prompt = chat.next_prompt_within(prompt_room, dropped);
        if (!prompt && prompt.error().code == ErrorCode::BudgetTooSmall) {  // too long alone: say so, go on
            std::fprintf(stderr, "chat: %s; message not sent\n", prompt.error().message.c_str());
            chat.drop_last_message();
            continue;
        }
        if (!prompt) return tool::fail(prompt.error());
        if (dropped > 0)
            std::fprintf(stderr, "chat: the conversation outgrew the context of %u tokens: dropped the %zu oldest messages\n", n_ctx, dropped);
        if (auto turn = chat_turn(engine, chat, *prompt, o, plain); !turn) return tool::fail(turn.error());
    }
    return 0;
}


// The cache `pack` writes: --cache-dir (created when missing, as generate does) or next to
// the model; --no-compression or compression_algorithm none: every pack stored raw.
Expected<PackCacheOptions> pack_options(const ConfigManager& cfg) {
    PackCacheOptions opts;
    opts.cache_dir = cfg.memory().cache_dir;
    opts.threads = thread_count(cfg.performance());
    opts.uncompressed = !cfg.memory().enable_compression || cfg.memory().compression_algorithm == "none";
    if (!opts.uncompressed) {
        auto cand = pack_cache_candidates(cfg.memory().compression_algorithm);
        if (!cand) return cand.error();
        opts.candidates = *cand;
    }
    if (!opts.cache_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(opts.cache_dir, ec);
        if (ec) return make_error(ErrorCode::Io, opts.cache_dir.string() + ": cannot create --cache-dir: " + ec.message());
    }
    return opts;
}

// Each codec's share and ratio of the cache, on stdout.
void print_pack_summary(const PackCacheReader& reader) {
    struct Sum { uint64 packs = 0, raw = 0, stored = 0; };
    std::map<std::string, Sum> per_codec;
    Sum all;
    for (uint64 i = 0; i < reader.pack_count(); ++i) {
        for (Sum* s : {&per_codec[reader.codec_name(i)], &all}) {
            s->packs++;
            s->raw += reader.raw_bytes(i);
            s->stored += reader.stored_bytes(i);
        }
    }
    auto line = [](const std::string& what, const Sum& s) {
        std::printf("%-12s %6llu packs %14llu raw bytes %14llu stored bytes  ratio %.4f\n", what.c_str(), (unsigned long long)s.packs,
                    (unsigned long long)s.raw, (unsigned long long)s.stored, s.raw ? double(s.stored) / double(s.raw) : 1.0);
    };
    std::printf("pack cache: %s\n", reader.path().string().c_str());
    for (const auto& [name, s] : per_codec) line(name, s);
    line("total", all);
}

// Writes the pack cache of `model` (plan from --max-pack-mb): progress with an ETA on
// stderr, then each codec's share on stdout.
int cmd_pack(const ConfigManager& cfg, const Path& model) {
    auto g = open_model_source(model);
    if (!g) return tool::fail(g.error());
    auto mc = ModelConfig::from_source(**g);
    if (!mc) return tool::fail(mc.error());
    auto reg = TensorRegistry::bind(*mc, **g);
    if (!reg) return tool::fail(reg.error());
    auto plan = plan_packs(*reg, {cfg.memory().max_pack_bytes()});
    if (!plan) return tool::fail(plan.error());
    auto opts = pack_options(cfg);
    if (!opts) return tool::fail(opts.error());
    const Path out = pack_cache_path((*g)->path(), opts->cache_dir);
    std::fprintf(stderr, "pack: %s: %zu packs, %s, max pack %s%s -> %s\n", model.string().c_str(), plan->packs.size(), format_gib(plan->total_bytes).c_str(),
                 format_gib(plan->max_pack_bytes).c_str(), opts->uncompressed ? ", uncompressed" : "", out.string().c_str());
    ProgressReporter progress("pack " + out.string());
    auto cache = build_pack_cache(**g, *plan, *opts, [&](uint64, uint64, uint64 bytes) -> ExpectedVoid {
        progress.update(bytes, plan->total_bytes);
        return {};
    });
    if (!cache) return tool::fail(cache.error());
    progress.finish();
    auto reader = PackCacheReader::open(*cache, **g, *plan);
    if (!reader) return tool::fail(reader.error());
    print_pack_summary(**reader);
    return 0;
}

// Serves until SIGINT / SIGTERM; the line with the URL goes to stderr once it listens.
int cmd_serve(const ConfigManager& cfg, VulkanSymbioteEngine& engine, const Path& model) {
    auto server = server::OpenAiServer::create(engine, cfg, model);
    if (!server) return tool::fail(server.error());
    auto port = (*server)->bind();
    if (!port) return tool::fail(port.error());
    server::StopOnSignal on_signal([&] { (*server)->stop(); });
    std::fprintf(stderr, "serve: %s\nserve: listening on http://%s:%d\n", engine.describe().c_str(), cfg.server().host.c_str(), *port);
    std::fflush(stderr);
    if (auto r = (*server)->listen(); !r) return tool::fail(r.error());
    std::fprintf(stderr, "serve: stopped\n");
    return 0;
}

// --date YYYY-MM-DD as the time strftime_now() formats (midnight).
Expected<std::tm> parse_date(const std::string& text) {
    int y = 0, m = 0, d = 0;
    char tail = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
        return make_error(ErrorCode::InvalidArgument, "--date: '" + text + "' is not a date YYYY-MM-DD");
    return jinja::civil_time(y, m, d);
}

// Renders --template-file with the variables of --vars-file (a JSON object) to stdout,
// exactly (no newline added).
int cmd_template(const ConfigManager& cfg) {
    const ServerConfig& s = cfg.server();
    if (s.template_file.empty() || s.vars_file.empty())
        return tool::fail(make_error(ErrorCode::InvalidArgument, "template: --template-file T.jinja and --vars-file V.json are required"));
    auto source = tool::read_prompt_file(s.template_file, jinja::kMaxTemplateBytes, "--template-file");
    if (!source) return tool::fail(source.error());
    auto vars_text = tool::read_prompt_file(s.vars_file, tool::kMaxPromptFileBytes, "--vars-file");
    if (!vars_text) return tool::fail(vars_text.error());
    const auto vars = nlohmann::ordered_json::parse(*vars_text, nullptr, /*allow_exceptions=*/false);
    if (vars.is_discarded() || !vars.is_object())
        return tool::fail(make_error(ErrorCode::InvalidArgument, s.vars_file + " (--vars-file): not a JSON object of template variables"));
    jinja::RenderOptions options;
    if (!s.date.empty()) {
        auto date = parse_date(s.date);
        if (!date) return tool::fail(date.error());
        options.now = *date;
    }
    auto tmpl = jinja::Template::parse(*source, s.template_file);
    if (!tmpl) return tool::fail(tmpl.error());
    auto text = tmpl->render(vars, options);
    if (!text) return tool::fail(text.error());
    std::fwrite(text->data(), 1, text->size(), stdout);
    return 0;
}

int run_command(int argc, char** argv) {
    ConfigManager& cfg = ConfigManager::instance();
    if (int rc = tool::load_config(cfg, argc, argv, "vk_symbiote"); rc >= 0) return rc;
    std::string sub = cfg.subcommand().empty() ? "generate" : cfg.subcommand();
    if (sub == "template") return cmd_template(cfg);  // no model
    auto model_or = tool::model_path(cfg);
    if (!model_or) return tool::fail(model_or.error());
    const Path model = *model_or;
    if (sub == "bench")  // its own options come first: `vk_symbiote bench ...` is handled in main()
        return tool::fail(make_error(ErrorCode::InvalidArgument, "bench takes its options after it: vk_symbiote bench [options]"));
    if (cfg.sampling().json && sub != "generate")
        return tool::fail(make_error(ErrorCode::InvalidArgument, "--json is for generate (and bench), not " + sub));
    if (sub == "tokenize") return cmd_tokenize(cfg, model);
    if (sub == "pack") return cmd_pack(cfg, model);
    if (cfg.pipeline().enabled) return sub == "serve" ? server::run_pipeline_serve(cfg, model) : pipeline::run_pipeline_command(cfg, model, sub);
    auto engine = VulkanSymbioteEngine::create(model, cfg);
    if (!engine) return tool::fail(engine.error());
    if (sub == "generate") return cmd_generate(cfg, **engine, model);
    if (sub == "chat") return cmd_chat(cfg, **engine, model);
    if (sub == "serve") return cmd_serve(cfg, **engine, model);
    return cmd_perplexity(cfg, **engine, model);
}

}  // namespace

int main(int argc, char** argv) {
    install_temp_file_cleanup();  // Ctrl-C during a pack cache build leaves no .tmp
    if (auto open = tool::check_stdout_open(); !open) return tool::fail(open.error());
    if (argc > 1 && std::string_view(argv[1]) == "bench") return tool::finish_stdout(bench::run_bench_command(argc - 1, argv + 1, "vk_symbiote bench"));
    return tool::finish_stdout(run_command(argc, argv));
}
