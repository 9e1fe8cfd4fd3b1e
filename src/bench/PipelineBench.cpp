#include "bench/PipelineBench.h"

#include <chrono>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/CliSupport.h"
#include "pipeline/PipelineReport.h"
#include "pipeline/PipelineStage.h"
#include "runtime/Sampler.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote::bench {

namespace {

struct PipelineTimes {
    double prompt_s = 0;
    double gen_s = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(); }

// Rank 0: a prompt of n_prompt token ids spread over the vocabulary (as llama-bench's random
// prompt: the speed does not depend on the text), then n_gen greedy tokens.
Expected<PipelineTimes> drive(pipeline::PipelineStage& stage, uint32 n_prompt, uint32 n_gen) {
    const uint32 V = stage.model().config().n_vocab;
    if (uint64(n_prompt) + n_gen > stage.n_ctx())
        return make_error(ErrorCode::InvalidArgument, "-p " + std::to_string(n_prompt) + " + -n " + std::to_string(n_gen) + " exceed the context of " +
                                                          std::to_string(stage.n_ctx()) + " (--ctx-size)");
    std::vector<uint32> prompt(std::max<uint32>(n_prompt, 1));
    for (uint32 i = 0; i < prompt.size(); ++i) prompt[i] = uint32((uint64(i) * 7919 + 1) % V);
    std::vector<float> logits(V);  // (n_vocab) the last position's
    PipelineTimes t;
    auto t0 = std::chrono::steady_clock::now();
    VKS_TRY(stage.forward(prompt.data(), uint32(prompt.size()), 0, false, logits.data()));
    t.prompt_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    for (uint32 i = 0; i < n_gen; ++i) {
        const uint32 next = Sampler::argmax(logits.data(), V);
        VKS_TRY(stage.forward(&next, 1, uint32(prompt.size() + i), false, logits.data()));
    }
    t.gen_s = seconds_since(t0);
    return t;
}

ExpectedVoid lead(pipeline::PipelineStage& stage, const ConfigManager& cfg, uint32 n_prompt, uint32 n_gen) {
    auto t = drive(stage, n_prompt, n_gen);
    if (!t) return t.error();
    VKS_TRY(stage.finish());
    auto reports = pipeline::gather_reports(stage);
    if (!reports) return reports.error();
    const double pp = t->prompt_s > 0 ? n_prompt / t->prompt_s : 0, tg = t->gen_s > 0 ? n_gen / t->gen_s : 0;
    if (cfg.sampling().json) {
        const nlohmann::json doc = {{"ranks", stage.link().size()}, {"n_prompt", n_prompt}, {"n_gen", n_gen},
                                    {"prompt_tokens_per_s", pp},    {"gen_tokens_per_s", tg}, {"per_rank", pipeline::reports_json(*reports)}};
        std::printf("%s\n", doc.dump(2).c_str());
        return {};
    }
    std::printf("pipeline of %u ranks: pp%u %.2f tokens/s, tg%u %.2f tokens/s\n%s", stage.link().size(), n_prompt, pp, n_gen, tg,
                pipeline::reports_text(*reports).c_str());
    return {};
}

}  // namespace

int run_pipeline_bench(const ConfigManager& cfg, const Path& model, uint32 n_prompt, uint32 n_gen) {
    auto link = pipeline::open_mpi_link(cfg.pipeline().timeout_s);
    if (!link) return tool::fail(link.error());
    pipeline::PipelineLink& l = **link;
    auto stage = pipeline::PipelineStage::open(l, cfg, model);
    if (!stage) {
        tool::fail(stage.error());
        l.abort(1);
    }
    auto r = l.rank() == 0 ? lead(**stage, cfg, n_prompt, n_gen) : (*stage)->serve();
    if (!r) {
        tool::fail(r.error());
        l.abort(1);
    }
    return 0;
}

}  // namespace vk_symbiote::bench
