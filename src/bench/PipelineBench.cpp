#include "bench/PipelineBench.h"

#include <chrono>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/CliSupport.h"
#include "pipeline/PipelineBatch.h"
#include "pipeline/PipelineReport.h"
#include "pipeline/PipelineStage.h"
#include "runtime/Sampler.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote::bench {

namespace {

struct PipelineTimes {
    double prompt_s = 0;
    double gen_s = 0;
    std::vector<std::vector<uint32>> sequences;  // (sequences) each one's generated tokens
};

double seconds_since(std::chrono::steady_clock::time_point t) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(); }

// Sequence s's prompt: n_prompt token ids spread over the vocabulary (as llama-bench's random
// prompt: the speed does not depend on the text), a different one per sequence.
std::vector<uint32> bench_prompt(uint32 n_prompt, uint32 s, uint32 V) {
    std::vector<uint32> prompt(std::max<uint32>(n_prompt, 1));
    for (uint32 i = 0; i < prompt.size(); ++i) prompt[i] = uint32((uint64(i) * 7919 + 1 + uint64(s) * 104729) % V);
    return prompt;
}

// Rank 0, one sequence: the prompt in one step, then n_gen greedy tokens one step each.
Expected<PipelineTimes> drive(pipeline::PipelineStage& stage, uint32 n_prompt, uint32 n_gen) {
    const uint32 V = stage.model().config().n_vocab;
    if (uint64(n_prompt) + n_gen > stage.n_ctx())
        return make_error(ErrorCode::InvalidArgument, "-p " + std::to_string(n_prompt) + " + -n " + std::to_string(n_gen) + " exceed the context of " +
                                                          std::to_string(stage.n_ctx()) + " (--ctx-size)");
    const std::vector<uint32> prompt = bench_prompt(n_prompt, 0, V);
    std::vector<float> logits(V);  // (n_vocab) the last position's
    PipelineTimes t;
    t.sequences.resize(1);
    auto t0 = std::chrono::steady_clock::now();
    VKS_TRY(stage.forward(prompt.data(), uint32(prompt.size()), 0, false, logits.data()));
    t.prompt_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    for (uint32 i = 0; i < n_gen; ++i) {
        const uint32 next = Sampler::argmax(logits.data(), V);
        t.sequences[0].push_back(next);
        VKS_TRY(stage.forward(&next, 1, uint32(prompt.size() + i), false, logits.data()));
    }
    t.gen_s = seconds_since(t0);
    return t;
}

// Rank 0, `n_seq` sequences as micro-batches: the whole run (prompts and tokens) in gen_s.
Expected<PipelineTimes> drive_batch(pipeline::PipelineStage& stage, uint32 n_prompt, uint32 n_gen, uint32 n_seq) {
    std::vector<pipeline::BatchSequence> seqs(n_seq);
    for (uint32 s = 0; s < n_seq; ++s) seqs[s].prompt = bench_prompt(n_prompt, s, stage.model().config().n_vocab);
    const auto t0 = std::chrono::steady_clock::now();
    VKS_TRY(pipeline::pipeline_generate_batch(stage, seqs, n_gen));
    PipelineTimes t;
    t.gen_s = seconds_since(t0);
    for (auto& q : seqs) t.sequences.push_back(std::move(q.tokens));
    return t;
}

// With several sequences, prompt_tokens_per_s is 0 and gen_tokens_per_s counts every
// sequence's tokens over the whole run (prompts included).
ExpectedVoid lead(pipeline::PipelineStage& stage, const ConfigManager& cfg, uint32 n_prompt, uint32 n_gen) {
    const uint32 n_seq = stage.n_slots();
    auto t = n_seq > 1 ? drive_batch(stage, n_prompt, n_gen, n_seq) : drive(stage, n_prompt, n_gen);
    if (!t) return t.error();
    VKS_TRY(stage.finish());
    auto reports = pipeline::gather_reports(stage);
    if (!reports) return reports.error();
    const double pp = t->prompt_s > 0 ? n_prompt / t->prompt_s : 0, tg = t->gen_s > 0 ? double(n_gen) * n_seq / t->gen_s : 0;
    if (cfg.sampling().json) {
        const nlohmann::json doc = {{"ranks", stage.link().size()}, {"n_prompt", n_prompt}, {"n_gen", n_gen}, {"parallel", n_seq},
                                    {"prompt_tokens_per_s", pp},    {"gen_tokens_per_s", tg}, {"sequences", t->sequences},
                                    {"per_rank", pipeline::reports_json(*reports)}};
        std::printf("%s\n", doc.dump(2).c_str());
        return {};
    }
    std::printf("pipeline of %u ranks, %u sequences: pp%u %.2f tokens/s, tg%u %.2f tokens/s\n%s", stage.link().size(), n_seq, n_prompt, pp, n_gen, tg,
                pipeline::reports_text(*reports).c_str());
    return {};
}

}  // namespace

int run_pipeline_bench(const ConfigManager& given, const Path& model, uint32 n_prompt, uint32 n_gen, const std::vector<uint32>& parallel) {
    if (parallel.size() > 1) return tool::fail(make_error(ErrorCode::InvalidArgument, "--pipeline: one --parallel value (the sequences of the run)"));
    ConfigManager cfg = given;
    if (!parallel.empty()) cfg.performance().parallel = parallel.front();  // every rank's sequence slots
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
