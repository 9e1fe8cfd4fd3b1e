#include "pipeline/PipelinePerplexity.h"

#include <cstdio>
#include <vector>

#include "model/Tokenizer.h"

namespace vk_symbiote::pipeline {

Expected<PerplexityResult> pipeline_perplexity(PipelineStage& stage, const std::string& text, uint32 ctx_size) {
    const Tokenizer& tok = stage.model().tokenizer();
    const uint32 V = stage.model().config().n_vocab;
    const uint32 n_ctx = ctx_size ? ctx_size : 512;  // as cmd_perplexity
    const std::vector<uint32> toks = tok.encode(text, /*add_special=*/true, /*parse_special=*/false);
    std::fprintf(stderr, "perplexity: %zu tokens, %zu chunks of %u, through %u ranks\n", toks.size(), toks.size() / n_ctx, n_ctx, stage.link().size());
    // Each chunk from position 0 (the stages' caches start over: PipelineStage::step).
    auto eval = [&](const std::vector<uint32>& chunk) -> Expected<std::vector<float>> {
        std::vector<float> logits(chunk.size() * V);  // (chunk, n_vocab) every position's
        VKS_TRY(stage.forward(chunk.data(), uint32(chunk.size()), 0, true, logits.data()));
        return logits;
    };
    return compute_perplexity(toks, tok.bos_id(), n_ctx, V, eval, [](uint32 c, uint32 n, double ppl) {
        std::printf("[%u/%u] %.4f\n", c + 1, n, ppl);
        std::fflush(stdout);
    });
}

}  // namespace vk_symbiote::pipeline
