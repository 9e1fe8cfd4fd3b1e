#include "pipeline/PipelineCommand.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "engine/CliSupport.h"
#include "pipeline/PipelineGenerate.h"
#include "pipeline/PipelinePerplexity.h"
#include "pipeline/PipelineReport.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote::pipeline {

namespace {

// Rank 0's part: the generation, then the stop message; output on stdout, each rank's
// placement on stderr (with --json also in the document).
ExpectedVoid lead(PipelineStage& stage, const ConfigManager& cfg) {
    auto text = tool::prompt_text(cfg);
    if (!text) return text.error();
    const bool json = cfg.sampling().json;
    auto g = pipeline_generate(stage, cfg.sampling(), *text, [json](const std::string& piece) {
        if (json) return true;
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return !std::ferror(stdout);
    });
    if (!g) return g.error();
    VKS_TRY(stage.finish());
    auto reports = gather_reports(stage);
    if (!reports) return reports.error();
    if (!json) std::printf("\n");
    std::fflush(stdout);
    if (cfg.sampling().stats || cfg.logging().verbose) std::fprintf(stderr, "%s", reports_text(*reports).c_str());
    if (!json) return {};
    const double tps = g->decode_s > 0 ? double(g->tokens.size()) / g->decode_s : 0;
    const nlohmann::json doc = {{"prompt", *text},  {"prompt_tokens", g->prompt_tokens},
                                {"text", g->text},  {"tokens", g->tokens},
                                {"ranks", stage.link().size()}, {"per_rank", reports_json(*reports)}, {"stats", {{"prompt_s", g->prompt_s}, {"decode_s", g->decode_s}, {"tokens_per_s", tps}}}};
    std::printf("%s\n", doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return {};
}

// Rank 0's part of `perplexity --pipeline`: the chunks through the stages, then the stop
// message and the reports (--stats).
ExpectedVoid lead_perplexity(PipelineStage& stage, const ConfigManager& cfg) {
    if (cfg.sampling().prompt_file.empty()) return make_error(ErrorCode::InvalidArgument, "perplexity: --prompt-file is required");
    auto text = tool::prompt_text(cfg);
    if (!text) return text.error();
    auto r = pipeline_perplexity(stage, *text, cfg.sampling().ctx_size);
    if (!r) return r.error();
    VKS_TRY(stage.finish());
    auto reports = gather_reports(stage);
    if (!reports) return reports.error();
    std::printf("PPL: %.4f\n", r->ppl);
    std::fflush(stdout);
    if (cfg.sampling().stats || cfg.logging().verbose) std::fprintf(stderr, "%s", reports_text(*reports).c_str());
    return {};
}

}  // namespace

int run_pipeline_command(const ConfigManager& cfg, const Path& model, const std::string& subcommand) {
    if (subcommand != "generate" && subcommand != "perplexity")
        return tool::fail(make_error(ErrorCode::InvalidArgument, "--pipeline runs generate, perplexity and serve (and the benchmark), not " + subcommand));
    auto link = open_mpi_link(cfg.pipeline().timeout_s);
    if (!link) return tool::fail(link.error());
    PipelineLink& l = **link;
    auto stage = PipelineStage::open(l, cfg, model);
    if (!stage) {
        tool::fail(stage.error());
        l.abort(1);
    }
    std::fprintf(stderr, "pipeline: %s\n", (*stage)->describe().c_str());
    auto r = l.rank() != 0 ? (*stage)->serve() : subcommand == "perplexity" ? lead_perplexity(**stage, cfg) : lead(**stage, cfg);
    if (!r) {
        tool::fail(r.error());
        l.abort(1);
    }
    return 0;
}

}  // namespace vk_symbiote::pipeline
