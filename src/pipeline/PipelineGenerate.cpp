#include "pipeline/PipelineGenerate.h"

#include <chrono>

#include "engine/SequenceRequests.h"
#include "model/Tokenizer.h"
#include "runtime/Sampler.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote::pipeline {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(); }

}  // namespace

Expected<PipelineGeneration> pipeline_generate(PipelineStage& stage, const SamplingConfig& s, const std::string& prompt,
                                               const std::function<bool(const std::string&)>& on_piece) {
    const Tokenizer& tok = stage.model().tokenizer();
    const uint32 V = stage.model().config().n_vocab;
    PipelineGeneration g;
    g.prompt_tokens = tok.encode(prompt, !s.raw, !s.raw);
    if (g.prompt_tokens.empty()) g.prompt_tokens.push_back(tok.bos_id());  // an empty prompt starts from BOS alone
    std::vector<float> logits(V);  // (n_vocab) the last position's
    auto t0 = std::chrono::steady_clock::now();
    VKS_TRY(stage.forward(g.prompt_tokens.data(), uint32(g.prompt_tokens.size()), 0, false, logits.data()));
    g.prompt_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    Sampler sampler(sampler_params(generation_options(s)));  // the engine's mapping: unset seed, a random one
    TokenStreamDecoder decoder(tok);
    std::vector<uint32> history = g.prompt_tokens;
    for (uint32 i = 0; i < s.max_tokens; ++i) {
        const uint32 next = sampler.sample(logits.data(), V, history);
        if (tok.is_eog(next)) break;
        g.tokens.push_back(next);
        history.push_back(next);
        const std::string piece = decoder.push(next);
        g.text += piece;
        if (on_piece && !piece.empty() && !on_piece(piece)) break;
        if (i + 1 == s.max_tokens || history.size() >= stage.n_ctx()) break;
        VKS_TRY(stage.forward(&next, 1, uint32(history.size() - 1), false, logits.data()));
    }
    const std::string tail = decoder.flush();
    g.text += tail;
    if (on_piece && !tail.empty()) on_piece(tail);
    g.decode_s = seconds_since(t0);
    return g;
}

}  // namespace vk_symbiote::pipeline
